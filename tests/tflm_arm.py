"""TFLM built from source for Cortex-M4 and run under QEMU (mps2-an386, semihosting).

Opt-in, because TFLM's sources are not on a package registry: set
``JSQAT_TFLM_SRC`` to a tflite-micro checkout and ``JSQAT_TFLM_INCLUDES`` to its
third-party include directories (flatbuffers' ``include``, gemmlowp, ruy;
``os.pathsep``-separated), e.g. those TFLM's Makefile downloads into
``tensorflow/lite/micro/tools/make/downloads``. The library is compiled the way
jsqat-embed's firmware builds TFLM (reference kernels, ``TF_LITE_STATIC_MEMORY``,
no ``USE_TFLM_COMPRESSION``), once, into ``.cache/tflm-arm``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QEMU_DIR = Path(__file__).resolve().parent / "firmware" / "qemu"
ARM_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
TFLM_FLAGS = ["-O2", "-std=c++17", "-DTF_LITE_STATIC_MEMORY", "-fno-rtti", "-fno-exceptions",
              "-fno-threadsafe-statics", "-ffunction-sections", "-fdata-sections"]
# TFLM's runtime and reference kernels; tests and test-support files are left out.
SOURCE_DIRS = ["tensorflow/lite/micro", "tensorflow/lite/micro/kernels", "tensorflow/lite/micro/arena_allocator",
               "tensorflow/lite/micro/memory_planner", "tensorflow/lite/micro/tflite_bridge",
               "tensorflow/compiler/mlir/lite/core/api", "tensorflow/compiler/mlir/lite/schema",
               "tensorflow/lite/core/api", "tensorflow/lite/core/c", "tensorflow/lite/kernels",
               "tensorflow/lite/kernels/internal", "tensorflow/lite/kernels/internal/reference"]
TEST_SUPPORT = {"fake_micro_context.cc", "kernel_runner.cc", "conv_test_common.cc", "mock_micro_graph.cc",
                "test_helper_custom_ops.cc", "test_helpers.cc"}


def include_flags(tflm: Path) -> list[str]:
    extra = [p for p in os.environ.get("JSQAT_TFLM_INCLUDES", "").split(os.pathsep) if p]
    return [f"-I{tflm}", *(f"-I{p}" for p in extra)]


def build_library(tflm: Path, cache: Path) -> Path:
    sources = sorted(
        path for directory in SOURCE_DIRS for path in (tflm / directory).glob("*.cc")
        if not path.name.endswith("_test.cc") and path.name not in TEST_SUPPORT)
    assert sources, f"no TFLM sources under {tflm}"
    objects = [cache / "obj" / (path.relative_to(tflm).as_posix().replace("/", "__") + ".o") for path in sources]
    (cache / "obj").mkdir(parents=True, exist_ok=True)

    def compile_one(pair):
        source, obj = pair
        if obj.exists():
            return
        result = subprocess.run(["arm-none-eabi-g++", *ARM_FLAGS, *TFLM_FLAGS, *include_flags(tflm), "-w", "-c",
                                 str(source), "-o", str(obj)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{source}: {result.stderr[-1500:]}")

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(compile_one, zip(sources, objects)))
    library = cache / "libtflm.a"
    subprocess.run(["arm-none-eabi-ar", "rcs", str(library), *map(str, objects)], check=True)
    return library



def tflm_library_or_skip() -> tuple[Path, Path]:
    """(TFLM source tree, libtflm.a for Cortex-M4), or skip with the reason."""
    tflm = os.environ.get("JSQAT_TFLM_SRC")
    if not tflm:
        pytest.skip("JSQAT_TFLM_SRC is not set: TFLM's sources are needed to build it for Cortex-M4 "
                    "(see tests/tflm_arm.py)")
    missing = [t for t in ("arm-none-eabi-g++", "qemu-system-arm") if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make toolchains installs them)")
    tflm_path = Path(tflm).resolve()
    key = hashlib.sha256(f"{tflm_path}|{os.environ.get('JSQAT_TFLM_INCLUDES', '')}|{TFLM_FLAGS}".encode())
    return tflm_path, build_library(tflm_path, REPO / ".cache" / "tflm-arm" / key.hexdigest()[:16])


def link_for_qemu(tflm: Path, library: Path, sources: list[Path], out: Path, *, include: list[Path] = ()) -> Path:
    """An mps2-an386 executable of ``sources`` + TFLM (data, heap and stack in the 16 MiB PSRAM)."""
    startup = out.with_suffix(".startup.o")
    subprocess.run(["arm-none-eabi-gcc", *ARM_FLAGS, "-c", str(QEMU_DIR / "startup.c"), "-o", str(startup)],
                   check=True)
    linked = subprocess.run(
        ["arm-none-eabi-g++", *ARM_FLAGS, *TFLM_FLAGS, "-Wall", *include_flags(tflm), *(f"-I{p}" for p in include),
         *map(str, sources), str(startup), str(library), "--specs=rdimon.specs", f"-L{QEMU_DIR}",
         "-T", str(QEMU_DIR / "mps2_an386_psram.ld"), "-Wl,--gc-sections", "-o", str(out)],
        capture_output=True, text=True)
    assert linked.returncode == 0, linked.stderr[-3000:]
    return out


def run_qemu(elf: Path, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
                           "enable=on,target=native", "-kernel", str(elf)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)
