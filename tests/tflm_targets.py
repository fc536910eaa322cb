"""TFLM built from source for a 32-bit target and run under QEMU with semihosting.

Two targets, one per struct-layout ABI of jsqat_embed.memory.tflm_structs:

- ``cortex-m4`` (ABI ``arm32``): arm-none-eabi-g++ with newlib, QEMU ``mps2-an386``.
- ``rv32`` (ABI ``ilp32``, the ESP32-C3's RISC-V; Xtensa ESP32s share the layout):
  Debian's riscv64-unknown-elf-g++ for rv32imac/ilp32 with picolibc, QEMU
  ``virt``. Debian ships no C++ library headers for it, so newlib's (the same
  libstdc++ version) are borrowed; TFLM uses only header-only parts.

Opt-in, because TFLM's sources are not on a package registry: set
``JSQAT_TFLM_SRC`` to a tflite-micro checkout and ``JSQAT_TFLM_INCLUDES`` to its
third-party include directories (flatbuffers' ``include``, gemmlowp, ruy;
``os.pathsep``-separated), e.g. those TFLM's Makefile downloads into
``tensorflow/lite/micro/tools/make/downloads``. TFLM is compiled the way
jsqat-embed's firmware builds it (reference kernels, ``TF_LITE_STATIC_MEMORY``,
no ``USE_TFLM_COMPRESSION``), once per target, into ``.cache/tflm-<target>``.
``make toolchains`` installs the Arm tools; the RISC-V ones are
``gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QEMU_DIR = Path(__file__).resolve().parent / "firmware" / "qemu"
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
NEWLIB_CXX = Path("/usr/include/newlib/c++/12.2.1")


@dataclass(frozen=True)
class Target:
    name: str
    abi: str  # the table of jsqat_embed.memory.tflm_structs it checks
    cxx: list[str]  # compiler and target flags
    linker: list[str]  # driver and target flags for the final link
    ar: str
    tools: tuple[str, ...]
    link: list[str]  # after the objects and libraries
    qemu: list[str]
    ram_bytes: int  # what data, heap and stack may use

    def compile(self, tflm: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.cxx, *TFLM_FLAGS, *include_flags(tflm), *args], capture_output=True, text=True)


CORTEX_M4 = Target(
    name="cortex-m4", abi="arm32",
    cxx=["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    linker=["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    ar="arm-none-eabi-ar", tools=("arm-none-eabi-g++", "qemu-system-arm"),
    # Code in the 4 MiB SSRAM at 0; data, heap and stack in the 16 MiB PSRAM (mps2_an386_psram.ld).
    link=["--specs=rdimon.specs", f"-L{QEMU_DIR}", "-T", str(QEMU_DIR / "mps2_an386_psram.ld"), "-Wl,--gc-sections"],
    qemu=["qemu-system-arm", "-M", "mps2-an386"], ram_bytes=16 << 20)
RV32 = Target(
    name="rv32", abi="ilp32",
    cxx=["riscv64-unknown-elf-g++", "-march=rv32imac", "-mabi=ilp32", "--specs=picolibc.specs",
         "-isystem", str(NEWLIB_CXX), "-isystem", str(NEWLIB_CXX / "arm-none-eabi")],
    # The C driver: g++ would add -lstdc++, which Debian does not ship for this target.
    linker=["riscv64-unknown-elf-gcc", "-march=rv32imac", "-mabi=ilp32", "--specs=picolibc.specs"],
    ar="riscv64-unknown-elf-ar", tools=("riscv64-unknown-elf-g++", "qemu-system-riscv32"),
    # QEMU virt: 256 MiB of RAM at 0x80000000; code in the first 8 MiB.
    link=["--oslib=semihost", "--crt0=semihost", "-lm", "-Wl,--gc-sections", "-Wl,--defsym=__flash=0x80000000",
          "-Wl,--defsym=__flash_size=0x00800000", "-Wl,--defsym=__ram=0x80800000",
          "-Wl,--defsym=__ram_size=0x07800000", "-Wl,--defsym=__stack_size=0x10000"],
    qemu=["qemu-system-riscv32", "-M", "virt", "-m", "256M", "-bios", "none"], ram_bytes=120 << 20)
TARGETS = {target.name: target for target in (CORTEX_M4, RV32)}


def include_flags(tflm: Path) -> list[str]:
    extra = [p for p in os.environ.get("JSQAT_TFLM_INCLUDES", "").split(os.pathsep) if p]
    return [f"-I{tflm}", *(f"-I{p}" for p in extra)]


def build_library(target: Target, tflm: Path, cache: Path) -> Path:
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
        result = target.compile(tflm, "-w", "-c", str(source), "-o", str(obj))
        if result.returncode != 0:
            raise RuntimeError(f"{source}: {result.stderr[-1500:]}")

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(compile_one, zip(sources, objects)))
    library = cache / "libtflm.a"
    subprocess.run([target.ar, "rcs", str(library), *map(str, objects)], check=True)
    return library


def tflm_library_or_skip(target: Target) -> tuple[Path, Path]:
    """(TFLM source tree, libtflm.a for ``target``), or skip with the reason."""
    tflm = os.environ.get("JSQAT_TFLM_SRC")
    if not tflm:
        pytest.skip(f"JSQAT_TFLM_SRC is not set: TFLM's sources are needed to build it for {target.name} "
                    "(see tests/tflm_targets.py)")
    missing = [t for t in target.tools if not shutil.which(t)]
    if target is RV32 and not NEWLIB_CXX.is_dir():
        missing.append(f"C++ headers in {NEWLIB_CXX} (libnewlib-arm-none-eabi)")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (see tests/tflm_targets.py)")
    tflm_path = Path(tflm).resolve()
    key = hashlib.sha256(f"{tflm_path}|{os.environ.get('JSQAT_TFLM_INCLUDES', '')}|{TFLM_FLAGS}|{target}".encode())
    return tflm_path, build_library(target, tflm_path, REPO / ".cache" / f"tflm-{target.name}" / key.hexdigest()[:16])


def link_for_qemu(target: Target, tflm: Path, library: Path, sources: list[Path], out: Path, *,
                  include: list[Path] = ()) -> Path:
    """A QEMU executable of ``sources`` + TFLM."""
    objects = []
    for index, source in enumerate(sources):
        obj = out.with_name(f"{out.stem}.{index}.{source.stem}.o")
        compiled = target.compile(tflm, "-Wall", *(f"-I{p}" for p in include), "-c", str(source), "-o", str(obj))
        assert compiled.returncode == 0, compiled.stderr[-3000:]
        objects.append(str(obj))
    if target is CORTEX_M4:
        startup = out.with_suffix(".startup.o")
        subprocess.run(["arm-none-eabi-gcc", *CORTEX_M4.cxx[1:], "-c", str(QEMU_DIR / "startup.c"), "-o",
                        str(startup)], check=True)
        objects.append(str(startup))
    linked = subprocess.run([*target.linker, *objects, str(library), *target.link, "-o", str(out)],
                            capture_output=True, text=True)
    assert linked.returncode == 0, linked.stderr[-3000:]
    return out


def run_qemu(target: Target, elf: Path, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*target.qemu, "-nographic", "-semihosting-config", "enable=on,target=native",
                           "-kernel", str(elf)], cwd=cwd, capture_output=True, text=True, timeout=timeout)
