"""TFLM built from the pinned sources beside the project, for emulated 32-bit targets.

Where the sources come from: ``../shared/third_party`` (as CI lays the project out), or the
directory named by ``JSQAT_THIRD_PARTY``: ``tflite-micro`` (90b983c), ``flatbuffers``,
``gemmlowp``, ``ruy``, ``cmsis-nn`` (the commit TFLM pins), ``esp-nn`` and
``esp-tflite-micro`` (1.4.0, the ESP-IDF component: its own TFLM snapshot, its
``kernels/esp_nn`` wrappers, its third_party). A clone without them skips these tests
with the reason. ``make toolchains`` installs the compilers and QEMU.

Four builds, each one kernel library on one target, as that library's own build does it:

==========  ==========  =====================================================================
target      library     how
==========  ==========  =====================================================================
cortex-m4   reference   the generated CMake project (``firmware_templates/cmake``) for a
                        Cortex-M4F board, over a tree laid out as TFLM's
                        ``create_tflm_tree.py`` lays it out (the sources TFLM's Makefile
                        lists); its ``tflm`` library target
cortex-m4   cmsis-nn    the same with ``OPTIMIZED_KERNEL_DIR=cmsis_nn``: TFLM's
                        ``kernels/cmsis_nn`` in place of the reference files of the same
                        name, CMSIS-NN's sources as ``cmsis_nn.inc`` selects them, ``-DCMSIS_NN``
rv32        reference   TFLM's Makefile sources, riscv64-unknown-elf-g++ rv32imac/ilp32, -O2
rv32        esp-nn      esp-tflite-micro as its CMakeLists.txt compiles it (its snapshot,
                        ``kernels/esp_nn`` in place of add, conv, depthwise_conv,
                        fully_connected, mul, pooling and softmax, ``-DESP_NN``, -O3) with
                        esp-nn's portable C/``_opt`` sources as on the ESP32-C3 (esp-nn's
                        CMakeLists.txt without the S3/P4 assembly; an ``sdkconfig.h`` for the
                        ESP32-C3 with ``CONFIG_NN_OPTIMIZED`` and without
                        ``CONFIG_NN_SKIP_NUDGE``; a stub ``esp_timer.h``)
==========  ==========  =====================================================================

Cortex-M4 runs under QEMU ``mps2-an386`` (ABI ``arm32``: arm-none-eabi-g++, newlib);
RV32 under QEMU ``virt`` (ABI ``ilp32``, the ESP32-C3's instruction set; the Xtensa ESP32s
share the layout): Debian's riscv64-unknown-elf-g++ with picolibc, borrowing newlib's C++
headers (the same libstdc++ version; TFLM uses only header-only parts).

TFLM's Makefile takes kissfft v130 with its own patch; esp-tflite-micro carries that
patched copy (``third_party/kissfft``), which the upstream builds use too.

Every build is cached in ``.cache/tflm/``, keyed by the content of every file it
compiles or includes, the flags (for Cortex-M4: the compile commands cmake writes for
TFLM's sources, so template edits that do not change them reuse the library) and the
compiler's version; a file lock keeps two test sessions from building the same one at once.
On two idle cores the four builds take about 4 + 4 + 3.5 + 3 minutes of CPU each.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QEMU_DIR = Path(__file__).resolve().parent / "firmware" / "qemu"
CACHE = REPO / ".cache" / "tflm"
NEWLIB_CXX = Path("/usr/include/newlib/c++/12.2.1")
JOBS = os.cpu_count() or 2
#: the Cortex-M4F board whose generated CMake project builds the Cortex-M4 libraries
CMAKE_BOARD = "arduino-nano-33-ble-sense"

#: pinned source trees and a file each must hold
PINNED = {
    "tflite-micro": "tensorflow/lite/micro/micro_interpreter.h",
    "flatbuffers": "include/flatbuffers/flatbuffers.h",
    "gemmlowp": "fixedpoint/fixedpoint.h",
    "ruy": "ruy/profiler/instrumentation.h",
    "cmsis-nn": "Include/arm_nnfunctions.h",
    "esp-nn": "include/esp_nn.h",
    "esp-tflite-micro": "tensorflow/lite/micro/kernels/esp_nn/conv.cc",
}
NEEDS = {
    "reference": ("tflite-micro", "flatbuffers", "gemmlowp", "ruy", "esp-tflite-micro"),
    "cmsis-nn": ("tflite-micro", "flatbuffers", "gemmlowp", "ruy", "esp-tflite-micro", "cmsis-nn"),
    "esp-nn": ("esp-tflite-micro", "esp-nn"),
}


def third_party() -> Path:
    return Path(os.environ.get("JSQAT_THIRD_PARTY") or REPO.parent / "shared" / "third_party").resolve()


@dataclass(frozen=True)
class Target:
    name: str
    abi: str  # the table of jsqat_embed.memory.tflm_structs it checks
    libraries: tuple[str, ...]  # kernel libraries built for it
    tools: tuple[str, ...]
    qemu: tuple[str, ...]
    ram_bytes: int  # what data, heap and stack may use


CORTEX_M4 = Target("cortex-m4", "arm32", ("reference", "cmsis-nn"),
                   ("arm-none-eabi-g++", "arm-none-eabi-gcc", "qemu-system-arm", "cmake"),
                   ("qemu-system-arm", "-M", "mps2-an386"), 16 << 20)
RV32 = Target("rv32", "ilp32", ("reference", "esp-nn"),
              ("riscv64-unknown-elf-g++", "riscv64-unknown-elf-gcc", "qemu-system-riscv32"),
              ("qemu-system-riscv32", "-M", "virt", "-m", "256M", "-bios", "none"), 120 << 20)
TARGETS = {target.name: target for target in (CORTEX_M4, RV32)}
#: every (target, kernel library) pair built
BUILDS = [(target, library) for target in TARGETS.values() for library in target.libraries]

RV32_ARCH = ["-march=rv32imac", "-mabi=ilp32", "--specs=picolibc.specs"]
RV32_CXX_HEADERS = ["-isystem", str(NEWLIB_CXX), "-isystem", str(NEWLIB_CXX / "arm-none-eabi")]
RV32_LINK = ["--oslib=semihost", "--crt0=semihost", "-lm", "-Wl,--gc-sections", "-Wl,--defsym=__flash=0x80000000",
             "-Wl,--defsym=__flash_size=0x00800000", "-Wl,--defsym=__ram=0x80800000",
             "-Wl,--defsym=__ram_size=0x07800000", "-Wl,--defsym=__stack_size=0x10000"]
#: upstream TFLM for RV32: how the earlier reference-kernel checks built it
RV32_REFERENCE_FLAGS = ["-O2", "-DTF_LITE_STATIC_MEMORY", "-ffunction-sections", "-fdata-sections"]
RV32_CXX_ONLY = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"]
#: esp-tflite-micro's CMakeLists.txt (common_flags and the C++ options; its warnings left out)
ESP_TFLM_FLAGS = ["-DESP_NN", "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-O3", "-ffunction-sections",
                  "-fdata-sections", "-fno-unwind-tables"]
ESP_TFLM_CXX_ONLY = ["-std=gnu++14", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"]
#: esp-nn's CMakeLists.txt for targets other than the S3 and P4
ESP_NN_FLAGS = ["-O2", "-ffunction-sections", "-fdata-sections"]


# -- which sources: TFLM's Makefile, esp-tflite-micro's and esp-nn's CMakeLists.txt -------------

def _make_list(makefile: Path, variable: str) -> list[str]:
    """Paths assigned (``:=``/``+=``) to ``variable`` in one of TFLM's make includes, relative to its root."""
    text = makefile.read_text().replace("\\\n", " ")
    paths: list[str] = []
    for line in text.splitlines():
        found = re.match(rf"\s*{re.escape(variable)}\s*(:=|\+=|=)(.*)", line)
        if found:
            paths += [word.removeprefix("$(TENSORFLOW_ROOT)") for word in found.group(2).split()
                      if word.startswith("$(TENSORFLOW_ROOT)")]
    return paths


def upstream_sources(tflm: Path, optimized_dir: str | None = None) -> list[str]:
    """TFLM's library sources as its Makefile lists them (sources.inc, additional_kernels.inc),
    the kernels specialized by ``OPTIMIZED_KERNEL_DIR`` as specialize_files.py does."""
    make = tflm / "tensorflow/lite/micro/tools/make"
    base = [p.relative_to(tflm).as_posix() for directory in ("", "arena_allocator", "memory_planner", "tflite_bridge")
            for p in sorted((tflm / "tensorflow/lite/micro" / directory).glob("*.cc"))]
    # TFL_CC_SRCS: the shared TfLite sources, everything under tensorflow/ but lite/micro and lite/experimental
    for path in sorted((tflm / "tensorflow").rglob("*")):
        relative = path.relative_to(tflm).as_posix()
        if (path.suffix in (".cc", ".c") and not relative.startswith(("tensorflow/lite/micro/", "tensorflow/lite/experimental/"))
                and relative != "tensorflow/lite/array.cc"):  # excluded with TF_LITE_STATIC_MEMORY
            base.append(relative)
    tests = set(_make_list(make / "sources.inc", "MICROLITE_TEST_SRCS"))
    base = [p for p in base if p not in tests and not p.endswith("benchmark.cc")]
    kernels = _make_list(make / "sources.inc", "MICROLITE_CC_KERNEL_SRCS") + \
        _make_list(make / "additional_kernels.inc", "MICROLITE_CC_KERNEL_SRCS")
    if optimized_dir:
        directory = tflm / "tensorflow/lite/micro/kernels" / optimized_dir
        specialized = {p.name for p in directory.iterdir()}
        kernels = [f"tensorflow/lite/micro/kernels/{optimized_dir}/{Path(p).name}" if Path(p).name in specialized else p
                   for p in kernels]
    signal = _make_list(make / "sources.inc", "MICROLITE_CC_SIGNAL_KERNEL_SRCS")
    return list(dict.fromkeys(base + kernels + signal))


def cmsis_nn_sources(cmsis_nn: Path) -> list[str]:
    """cmsis_nn.inc: every C file under Source/, without the float16/float32 ones (ARM_NN_ENABLE_F16/F32=0)."""
    return sorted(p.relative_to(cmsis_nn).as_posix() for p in (cmsis_nn / "Source").rglob("*.c")
                  if not p.name.endswith(("_f16.c", "_f32.c")) and p.name != "arm_nntables_flt.c")


#: esp-tflite-micro's replaced reference kernels (its CMakeLists.txt's REMOVE_ITEM list)
ESP_NN_REPLACED = ("add.cc", "conv.cc", "depthwise_conv.cc", "fully_connected.cc", "mul.cc", "pooling.cc", "softmax.cc")


def esp_tflite_micro_sources(component: Path) -> list[str]:
    """The component's CMakeLists.txt: its explicit runtime list (with esp/micro_time.cc), the
    tflite_bridge, every kernel but the seven esp_nn replaces, esp_nn's wrappers, the signal
    library and the listed TfLite sources."""
    text = (component / "CMakeLists.txt").read_text()
    micro = "tensorflow/lite/micro"

    def globbed(directory: str) -> list[str]:
        return sorted(p.relative_to(component).as_posix() for p in (component / directory).glob("*")
                      if p.suffix in (".c", ".cc"))

    block = re.search(r"set\(srcs_micro(.*?)\)", text, re.S).group(1)
    sources = [f"{micro}/{name}" for name in re.findall(r'"\$\{tfmicro_dir\}/([^"]+)"', block)]
    sources = [p for p in sources if p != f"{micro}/micro_time.cc"] + [f"{micro}/esp/micro_time.cc"]
    sources += globbed("tensorflow/lite/experimental/microfrontend/lib") if (
        component / "tensorflow/lite/experimental/microfrontend/lib").is_dir() else []
    sources += globbed(f"{micro}/tflite_bridge")
    sources += [p for p in globbed(f"{micro}/kernels") if Path(p).name not in ESP_NN_REPLACED]
    sources += globbed(f"{micro}/kernels/esp_nn")
    sources += globbed("signal/micro/kernels") + globbed("signal/src")
    sources += [f"signal/src/kiss_fft_wrappers/kiss_fft_{kind}.cc" for kind in ("float", "int16", "int32")]
    lib = re.search(r"set\(lib_srcs(.*?)\)", text, re.S).group(1)
    for tflite, relative in re.findall(r'"\$\{(tflite_dir|compiler_mlir_dir)\}/?([^"]+)"', lib):
        sources.append(("tensorflow/lite/" if tflite == "tflite_dir" else "tensorflow/compiler/mlir/") + relative)
    return list(dict.fromkeys(sources))


def esp_nn_sources(esp_nn: Path) -> list[str]:
    """esp-nn's CMakeLists.txt ``c_srcs``: its ANSI C and generic ``_opt`` sources (no S3/P4 assembly)."""
    block = re.search(r"set\(c_srcs(.*?)\)", (esp_nn / "CMakeLists.txt").read_text(), re.S).group(1)
    return re.findall(r'"([^"]+\.c)"', block)


# -- the source tree, laid out as create_tflm_tree.py lays it out ------------------------------

def _headers(root: Path, *directories: str) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for directory in directories for p in (root / directory).rglob("*")
                  if p.suffix in (".h", ".hpp", ".inc") and p.is_file())


def tree_files(kernel_library: str) -> dict[str, Path]:
    """Relative path in the tree -> the pinned file it is."""
    tp = third_party()
    files: dict[str, Path] = {}
    if kernel_library == "esp-nn":
        component = tp / "esp-tflite-micro"
        for relative in _headers(component, "tensorflow", "signal", "third_party") + esp_tflite_micro_sources(component):
            files[relative] = component / relative
        for kissfft in (component / "third_party" / "kissfft").rglob("*.c"):  # included by signal's wrappers
            files[kissfft.relative_to(component).as_posix()] = kissfft
        esp_nn = tp / "esp-nn"
        for relative in _headers(esp_nn, "include", "src") + esp_nn_sources(esp_nn):
            files[f"third_party/esp-nn/{relative}"] = esp_nn / relative
        for stub in ("sdkconfig.h", "esp_timer.h", "esp_timer.c"):
            files[f"esp_stubs/{stub}"] = QEMU_DIR / "esp32c3" / stub
        return files
    tflm = tp / "tflite-micro"
    for relative in _headers(tflm, "tensorflow", "signal") + upstream_sources(
            tflm, "cmsis_nn" if kernel_library == "cmsis-nn" else None):
        files[relative] = tflm / relative
    for name, directory in (("flatbuffers", "include"), ("gemmlowp", ""), ("ruy", "")):
        for relative in _headers(tp / name, directory or "."):
            files[f"third_party/{name}/{relative}"] = tp / name / relative
    kissfft = tp / "esp-tflite-micro" / "third_party" / "kissfft"
    for relative in ("kiss_fft.c", "kiss_fft.h", "_kiss_fft_guts.h", "tools/kiss_fftr.c", "tools/kiss_fftr.h"):
        files[f"third_party/kissfft/{relative}"] = kissfft / relative
    if kernel_library == "cmsis-nn":
        cmsis_nn = tp / "cmsis-nn"
        for relative in _headers(cmsis_nn, "Include") + cmsis_nn_sources(cmsis_nn):
            files[f"third_party/cmsis_nn/{relative}"] = cmsis_nn / relative
    return files


def _digest(files: dict[str, Path], *extra: object) -> str:
    digest = hashlib.sha256(repr(extra).encode())
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0" + files[relative].read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@contextmanager
def _locked(directory: Path):
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def assemble_tree(kernel_library: str) -> tuple[Path, str]:
    """The library's source tree under .cache/tflm (symbolic links to the pinned files) and its content key."""
    files = tree_files(kernel_library)
    key = _digest(files, kernel_library)
    tree = CACHE / f"tree-{kernel_library}-{key}"
    with _locked(tree):
        if not (tree / ".complete").exists():
            shutil.rmtree(tree, ignore_errors=True)
            for relative, source in files.items():
                link = tree / relative
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(source)
            (tree / ".complete").write_text(json.dumps(sorted(files)))
    return tree, key


def _compiler_version(compiler: str) -> str:
    return subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


# -- the builds ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Build:
    """TFLM compiled for ``target`` with ``kernel_library``: how to compile code against it and link it."""

    target: Target
    kernel_library: str
    tree: Path
    library: Path  # libtflm.a (for esp-nn: with esp-nn and the stubs)
    cxx: tuple[str, ...]  # compiler and every option a file including TFLM's headers is compiled with
    cc: tuple[str, ...]  # the same for C files (startup code)
    link: tuple[str, ...]  # driver and target options for the final link

    def compile(self, source: Path, obj: Path, *extra: str) -> subprocess.CompletedProcess:
        command = self.cc if source.suffix == ".c" else self.cxx
        return subprocess.run([*command, *extra, "-c", str(source), "-o", str(obj)], capture_output=True, text=True)


def _compile_all(jobs: list[tuple[list[str], Path, Path]]) -> None:
    """Compile (command, source, object) jobs in parallel; objects already there are kept."""
    def one(job):
        command, source, obj = job
        if obj.exists():
            return
        obj.parent.mkdir(parents=True, exist_ok=True)
        partial = obj.with_suffix(".o.part")
        result = subprocess.run([*command, "-c", str(source), "-o", str(partial)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{source}: {result.stderr[-2000:]}")
        partial.rename(obj)

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        list(pool.map(one, jobs))


def _archive(ar: str, library: Path, objects: list[Path]) -> None:
    partial = library.with_suffix(".a.part")
    partial.unlink(missing_ok=True)
    subprocess.run([ar, "rcs", str(partial), *map(str, objects)], check=True)
    partial.rename(library)


def _rv32_build(kernel_library: str) -> Build:
    tree, tree_key = assemble_tree(kernel_library)
    includes = [f"-I{tree}", f"-I{tree}/third_party/flatbuffers/include", f"-I{tree}/third_party/gemmlowp",
                f"-I{tree}/third_party/ruy", f"-I{tree}/third_party/kissfft"]
    if kernel_library == "esp-nn":
        includes += [f"-I{tree}/third_party/esp-nn/include", f"-I{tree}/third_party/esp-nn/src/common",
                     f"-I{tree}/esp_stubs"]
        flags, cxx_only = ESP_TFLM_FLAGS, ESP_TFLM_CXX_ONLY
    else:
        flags, cxx_only = RV32_REFERENCE_FLAGS, RV32_CXX_ONLY
    cxx = ["riscv64-unknown-elf-g++", *RV32_ARCH, *RV32_CXX_HEADERS, *flags, *cxx_only, *includes]
    cc = ["riscv64-unknown-elf-gcc", *RV32_ARCH, *flags, *includes]
    key = hashlib.sha256(repr((tree_key, cxx, cc, ESP_NN_FLAGS, _compiler_version(cxx[0]))).encode()).hexdigest()[:16]
    directory = CACHE / f"rv32-{kernel_library}-{key}"
    library = directory / "libtflm.a"
    with _locked(directory):
        if not library.exists():
            jobs = []
            for relative in json.loads((tree / ".complete").read_text()):
                if not relative.endswith((".c", ".cc")) or relative.startswith("third_party/kissfft/"):
                    continue  # kissfft is compiled inside signal's wrappers, as TFLM does
                source, obj = tree / relative, directory / "obj" / (relative.replace("/", "__") + ".o")
                if relative.startswith("third_party/esp-nn/"):
                    command = ["riscv64-unknown-elf-gcc", *RV32_ARCH, *ESP_NN_FLAGS, *includes, "-Wno-unused-function"]
                elif relative.endswith("kernels/esp_nn/depthwise_conv.cc"):
                    command = [*cxx, "-O2"]  # its CMakeLists.txt: -O2 for this file only
                else:
                    command = cc if relative.endswith(".c") else cxx
                jobs.append((command + ["-w"], source, obj))
            _compile_all(jobs)
            _archive("riscv64-unknown-elf-ar", library, [obj for _, _, obj in jobs])
    return Build(RV32, kernel_library, tree, library, tuple(cxx), tuple(cc), ("riscv64-unknown-elf-gcc", *RV32_ARCH))


def cmake_board(kernel_library: str):
    """The Cortex-M4F board whose generated CMake project builds TFLM, with ``kernel_library``."""
    from jsqat_embed.boards import load_board

    return dataclasses.replace(load_board(CMAKE_BOARD), kernel_library=kernel_library)


def _cortex_m4_build(kernel_library: str) -> Build:
    """TFLM compiled by the generated CMake project's own ``tflm`` target (the project of a small
    corpus model; TFLM's part of it does not depend on the model). The cache key is the tree
    and the compile commands cmake writes for TFLM's sources, so edits to the template that do
    not change how TFLM is compiled reuse the library."""
    import tempfile

    from jsqat_embed.firmware.project import build_project

    tree, tree_key = assemble_tree(kernel_library)
    CACHE.mkdir(parents=True, exist_ok=True)
    with _locked(CACHE / f"cortex-m4-{kernel_library}"), tempfile.TemporaryDirectory(
            prefix=f"cortex-m4-{kernel_library}-", dir=CACHE) as tmp:
        staging = Path(tmp)
        build_project(REPO / "tests" / "corpus" / "hello_world_int8.tflite", cmake_board(kernel_library),
                      staging / "project", build_system="cmake", golden=1)
        configure_cmake(staging / "project", staging / "build", tree)
        commands = [c for c in json.loads((staging / "build" / "compile_commands.json").read_text())
                    if c["file"].startswith(str(tree))]
        cxx = _flags_of(next(c for c in commands if c["file"].endswith("/tensorflow/lite/micro/micro_interpreter.cc")))
        c_files = [c for c in commands if c["file"].endswith(".c")]
        cc = _flags_of(c_files[0], language="c") if c_files else ["arm-none-eabi-gcc", *_cpu_flags(cxx)]
        key = hashlib.sha256(repr((tree_key, cxx, cc, _compiler_version("arm-none-eabi-g++"))).encode()).hexdigest()[:16]
        directory = CACHE / f"cortex-m4-{kernel_library}-{key}"
        if not (directory / "libtflm.a").exists():
            built = subprocess.run(["cmake", "--build", str(staging / "build"), "--target", "tflm", "-j", str(JOBS)],
                                   capture_output=True, text=True)
            if built.returncode != 0:
                raise RuntimeError(f"building TFLM with the generated CMake project failed:\n{built.stdout[-3000:]}"
                                   f"\n{built.stderr[-3000:]}")
            directory.mkdir(parents=True, exist_ok=True)
            shutil.copy(staging / "build" / "compile_commands.json", directory / "compile_commands.json")
            shutil.copy(staging / "build" / "libtflm.a", directory / "libtflm.a.part")
            (directory / "libtflm.a.part").rename(directory / "libtflm.a")
    return Build(CORTEX_M4, kernel_library, tree, directory / "libtflm.a", tuple(cxx), tuple(cc),
                 ("arm-none-eabi-g++", *_cpu_flags(cxx)))


def configure_cmake(project: Path, build: Path, tree: Path, *options: str) -> None:
    """``cmake -B build`` for a generated CMake project, as its next steps say, with ``options``."""
    configured = subprocess.run(
        ["cmake", "-S", str(project), "-B", str(build), f"-DCMAKE_TOOLCHAIN_FILE={project / 'arm-none-eabi.cmake'}",
         f"-DTFLM_TREE={tree}", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", *options], capture_output=True, text=True)
    if configured.returncode != 0:
        raise RuntimeError(f"cmake configure failed:\n{configured.stdout[-3000:]}\n{configured.stderr[-3000:]}")


def _flags_of(command: dict, language: str = "c++") -> list[str]:
    """A compile_commands.json entry without its source, output and -c."""
    words = command.get("arguments") or shlex.split(command["command"])
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "-o":
            skip = True
        elif word not in ("-c", command["file"]):
            kept.append(word)
    if language == "c":
        kept[0] = "arm-none-eabi-gcc"
    return kept


def _cpu_flags(flags: list[str]) -> list[str]:
    return [f for f in flags if f.startswith(("-mcpu=", "-mthumb", "-mfloat-abi=", "-mfpu="))]


@lru_cache(maxsize=None)
def _build(target_name: str, kernel_library: str) -> Build:
    return _cortex_m4_build(kernel_library) if target_name == "cortex-m4" else _rv32_build(kernel_library)


def missing_requirements(target: Target, kernel_library: str = "reference") -> list[str]:
    """What this machine lacks for the build (empty when it can be made)."""
    tp = third_party()
    missing = [f"{tp / name} (pinned {name})" for name in NEEDS[kernel_library] if not (tp / name / PINNED[name]).is_file()]
    missing += [tool for tool in target.tools if not shutil.which(tool)]
    if target is RV32 and not NEWLIB_CXX.is_dir():
        missing.append(f"C++ headers in {NEWLIB_CXX} (libstdc++-arm-none-eabi-newlib)")
    return missing


def tflm_build_or_skip(target: Target, kernel_library: str = "reference") -> Build:
    """TFLM with ``kernel_library`` for ``target`` (built once, then from the cache), or skip with the reason."""
    missing = missing_requirements(target, kernel_library)
    if missing:
        pytest.skip(f"cannot build TFLM ({kernel_library}) for {target.name}: missing {', '.join(missing)} "
                    "(set JSQAT_THIRD_PARTY to the pinned sources; make toolchains installs the tools)")
    return _build(target.name, kernel_library)


# -- linking and running -----------------------------------------------------------------------

def link_for_qemu(build: Build, sources: list[Path], out: Path, *, include: list[Path] = (),
                  psram: bool = True) -> Path:
    """A QEMU executable of ``sources`` + TFLM. On Cortex-M4, data goes to the 16 MiB PSRAM
    (``psram``) or the 4 MiB SRAM (as a board's would)."""
    objects = []
    for index, source in enumerate(sources):
        obj = out.with_name(f"{out.stem}.{index}.{source.stem}.o")
        compiled = build.compile(source, obj, "-Wall", *(f"-I{p}" for p in include))
        assert compiled.returncode == 0, compiled.stderr[-3000:]
        objects.append(str(obj))
    if build.target is CORTEX_M4:
        startup = out.with_suffix(".startup.o")
        compiled = build.compile(QEMU_DIR / "startup.c", startup)
        assert compiled.returncode == 0, compiled.stderr[-3000:]
        objects.append(str(startup))
        script = QEMU_DIR / ("mps2_an386_psram.ld" if psram else "mps2_an386.ld")
        tail = ["--specs=rdimon.specs", f"-L{QEMU_DIR}", "-T", str(script), "-Wl,--gc-sections"]
    else:
        tail = RV32_LINK
    linked = subprocess.run([*build.link, *objects, str(build.library), *tail, "-o", str(out)],
                            capture_output=True, text=True)
    assert linked.returncode == 0, linked.stderr[-3000:]
    return out


def run_qemu(target: Target, elf: Path, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*target.qemu, "-nographic", "-semihosting-config", "enable=on,target=native",
                           "-kernel", str(elf)], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def resolver_methods(build: Build) -> list[str]:
    """Every ``MicroMutableOpResolver`` method of jsqat-embed's op table that this TFLM has."""
    from jsqat_embed.ops import OPS

    header = (build.tree / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
    available = set(re.findall(r"TfLiteStatus (Add\w+)\(", header))
    return sorted({d.resolver for d in OPS.values()} & available)


def tflm_check_elf(build: Build, directory: Path) -> Path:
    """qemu/tflm_check.cc linked with ``build``, its resolver holding every op of the op table."""
    methods = resolver_methods(build)
    (directory / "tflm_check_ops.h").write_text(
        "// Generated by tests/tflm_targets.py from jsqat-embed's op table.\n#pragma once\n"
        f"constexpr unsigned kJsqatCheckOpCount = {len(methods)};\n"
        "// Returns how many registrations failed.\n"
        f"inline int AddJsqatCheckOps(tflite::MicroMutableOpResolver<kJsqatCheckOpCount>& r) {{\n  int failed = 0;\n"
        + "".join(f"  failed += r.{method}() != kTfLiteOk;\n" for method in methods) + "  return failed;\n}\n")
    return link_for_qemu(build, [QEMU_DIR / "tflm_check.cc"], directory / "tflm_check.elf", include=[directory])


def probe_sizes(target: Target, kernel_library: str, source: str, types: list[str]) -> dict[str, tuple[int, int]]:
    """sizeof/alignof of ``types`` (spelled as in ``source``, a file of the tree that defines them),
    compiled to assembly with the target's compiler and the library's options; nothing runs."""
    import tempfile

    tree, _ = assemble_tree(kernel_library)
    includes = [f"-I{tree}", f"-I{tree}/third_party/flatbuffers/include", f"-I{tree}/third_party/gemmlowp",
                f"-I{tree}/third_party/ruy", f"-I{tree}/third_party/kissfft"]
    if target is CORTEX_M4:
        command = ["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                   "-std=gnu++17", "-DTF_LITE_STATIC_MEMORY", "-DKERNELS_OPTIMIZED_FOR_SPEED", "-fno-rtti",
                   "-fno-exceptions"]
        if kernel_library == "cmsis-nn":
            command.append("-DCMSIS_NN")
            includes += [f"-I{tree}/third_party/cmsis_nn", f"-I{tree}/third_party/cmsis_nn/Include"]
    else:
        flags = ESP_TFLM_FLAGS + ESP_TFLM_CXX_ONLY if kernel_library == "esp-nn" else RV32_REFERENCE_FLAGS + RV32_CXX_ONLY
        command = ["riscv64-unknown-elf-g++", *RV32_ARCH, *RV32_CXX_HEADERS, *flags]
        if kernel_library == "esp-nn":
            includes += [f"-I{tree}/third_party/esp-nn/include", f"-I{tree}/third_party/esp-nn/src/common",
                         f"-I{tree}/esp_stubs"]
    values = ", ".join(f"sizeof({t}), alignof({t})" for t in types)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.cc"
        probe.write_text(f'#include "{source}"\nextern "C" {{ extern const unsigned int jsqat_sizes[]; '
                         f"const unsigned int jsqat_sizes[] = {{ {values} }}; }}\n")
        result = subprocess.run([*command, *includes, "-S", str(probe), "-o", str(probe.with_suffix(".s"))],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"probing {source}: {result.stderr[-2000:]}")
        body = probe.with_suffix(".s").read_text().split("jsqat_sizes:", 1)[1]
    numbers = [int(n) for n in re.findall(r"\.(?:word|long|4byte)\s+(\d+)", body)][:2 * len(types)]
    return {t: (numbers[2 * i], numbers[2 * i + 1]) for i, t in enumerate(types)}
