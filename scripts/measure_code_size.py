"""Measure TFLM's code size per op, as the generated CMake project links it, for fit-check.

    python scripts/measure_code_size.py            # print the table
    python scripts/measure_code_size.py --write    # and write jsqat_embed/memory/code_sizes.py

Needs the pinned sources and toolchains of the QEMU tests (tests/tflm_targets.py); the
Cortex-M4 TFLM libraries (reference kernels and CMSIS-NN) are the ones those tests build with
the generated CMake project's own options (-Os, function sections, TF_LITE_STATIC_MEMORY,
TF_LITE_STRIP_ERROR_STRINGS), from the cache when they are there.

What is linked, for each kernel library: a small program (an interpreter with a resolver,
one AllocateTensors and Invoke, a printf) with the same startup code, linker script and
libraries (newlib-nano, semihosting) as the CMake project under QEMU, and --gc-sections:

- ``none``: no op registered: TFLM's interpreter framework and the C library;
- ``solo(op)``: only that op registered, minus ``none``: what one op costs alone, including
  the helpers and library code (soft double math, quantization helpers) it shares with others;
- ``exclusive(op)``: every op registered, minus every op but that one: the code only it uses.

fit-check then estimates a model's runtime code as ``framework + sum(exclusive) + max(solo -
exclusive)`` over the model's ops (the shared code once, the largest share standing for the
union), where ``framework`` is ``none`` plus the generated application's own code, measured by
building the generated CMake project for the corpus models in ``CALIBRATION`` and subtracting
their arrays (model, golden vectors) and the harness's runtime for the same ops.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.tflm_targets import (CORTEX_M4, JOBS, QEMU_DIR, Build, _build, cmake_board,  # noqa: E402
                                missing_requirements, resolver_methods)

OUTPUT = REPO / "jsqat_embed" / "memory" / "code_sizes.py"
LIBRARIES = ("reference", "cmsis-nn")
#: corpus models whose generated CMake projects calibrate the application's own code
CALIBRATION = ("hello_world_int8", "micro_speech_quantized", "kws_ref_model")

HARNESS_HEADER = """\
#pragma once
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
namespace jsqat_measure {
using Resolver = tflite::MicroMutableOpResolver<160>;
struct Registration {
  void (*add)(Resolver&);
  Registration* next;
  explicit Registration(void (*function)(Resolver&));
};
extern Registration* registrations;
}  // namespace jsqat_measure
"""
HARNESS_MAIN = """\
#include <cstdio>
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "jsqat_measure.h"

namespace jsqat_measure {
Registration* registrations = nullptr;
Registration::Registration(void (*function)(Resolver&)) : add(function), next(registrations) { registrations = this; }
}  // namespace jsqat_measure

extern const unsigned char jsqat_measure_model[];
alignas(16) static uint8_t arena[8192];

int main() {
  static jsqat_measure::Resolver resolver;
  for (auto* r = jsqat_measure::registrations; r != nullptr; r = r->next) r->add(resolver);
  static tflite::MicroInterpreter interpreter(tflite::GetModel(jsqat_measure_model), resolver, arena, sizeof(arena));
  if (interpreter.AllocateTensors() != kTfLiteOk || interpreter.Invoke() != kTfLiteOk) return 1;
  std::printf("%u\\n", static_cast<unsigned>(interpreter.arena_used_bytes()));
  return 0;
}
"""
HARNESS_MODEL = "alignas(16) extern const unsigned char jsqat_measure_model[16] = {0};\n"
HARNESS_OP = """\
#include "jsqat_measure.h"
static jsqat_measure::Registration registration([](jsqat_measure::Resolver& r) {{ r.{method}(); }});
"""


class Harness:
    """The measuring program's objects for one build, and links of any subset of ops."""

    def __init__(self, build: Build, directory: Path):
        self.build, self.directory = build, directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "jsqat_measure.h").write_text(HARNESS_HEADER)
        sources = {"main": HARNESS_MAIN, "model": HARNESS_MODEL}
        self.methods = resolver_methods(build)
        sources.update({f"op_{m}": HARNESS_OP.format(method=m) for m in self.methods})
        for name, text in sources.items():
            (directory / f"{name}.cc").write_text(text)

        def compile_one(name: str) -> None:
            result = build.compile(directory / f"{name}.cc", directory / f"{name}.o", f"-I{directory}")
            if result.returncode != 0:
                raise RuntimeError(f"{name}: {result.stderr[-2000:]}")

        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            list(pool.map(compile_one, sources))
        startup = directory / "startup.o"
        result = build.compile(QEMU_DIR / "startup.c", startup)
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-2000:])
        self.base = [directory / "main.o", directory / "model.o", startup]

    def flash(self, methods: list[str]) -> int:
        """text + data of the program registering ``methods``."""
        out = self.directory / f"link-{abs(hash(tuple(methods)))}.elf"
        objects = self.base + [self.directory / f"op_{m}.o" for m in methods]
        linked = subprocess.run([*self.build.link, *map(str, objects), str(self.build.library), "--specs=nano.specs",
                                 "--specs=rdimon.specs", f"-L{QEMU_DIR}", "-T", str(QEMU_DIR / "mps2_an386.ld"),
                                 "-Wl,--gc-sections", "-o", str(out)], capture_output=True, text=True)
        if linked.returncode != 0:
            raise RuntimeError(f"link of {methods[:3]}...: {linked.stderr[-2000:]}")
        size = flash_of(out)
        out.unlink()
        return size


def flash_of(elf: Path) -> int:
    sizes = subprocess.run(["arm-none-eabi-size", "-B", str(elf)], capture_output=True, text=True, check=True)
    text, data = (int(v) for v in sizes.stdout.splitlines()[1].split()[:2])
    return text + data


def measure_ops(harness: Harness) -> tuple[int, dict[str, tuple[int, int]]]:
    """(none, {resolver method: (solo, exclusive)})."""
    methods = harness.methods
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        none, everything = pool.map(harness.flash, [[], methods])
        solos = list(pool.map(lambda m: harness.flash([m]), methods))
        withouts = list(pool.map(lambda m: harness.flash([x for x in methods if x != m]), methods))
    return none, {m: (solo - none, everything - without) for m, solo, without in zip(methods, solos, withouts)}


def calibrate(build: Build, harness: Harness, figures: dict[str, tuple[int, int]], none: int,
              workdir: Path) -> list[dict]:
    """The generated application's own code for each CALIBRATION model: its linked image minus
    the model and golden arrays minus the harness's runtime for the same ops."""
    from jsqat_embed.firmware.project import build_project
    from jsqat_embed.ops import descriptor
    from tests.firmware.test_qemu import build_cmake_project

    rows = []
    for name in CALIBRATION:
        project = workdir / f"{build.kernel_library}-{name}"
        result = build_project(REPO / "tests" / "corpus" / f"{name}.tflite", cmake_board(build.kernel_library),
                               project / "fw", build_system="cmake", golden=1, force=True)
        elf = build_cmake_project(project / "fw", project / "build", build)
        arrays = sum(symbol_bytes(obj) for obj in (project / "build").rglob("*.obj")
                     if obj.name.startswith(("model_data", "golden_data")))
        methods = sorted({descriptor(op).resolver for op in result.fit.runtime.ops})
        harness_runtime = harness.flash(methods)
        linked = flash_of(elf)
        rows.append({"model": name, "linked": linked, "arrays": arrays, "harness": harness_runtime,
                     "application": linked - arrays - harness_runtime, "ops": methods})
    return rows


def symbol_bytes(obj: Path) -> int:
    """Sum of the sizes of the data symbols an object file defines."""
    listing = subprocess.run(["arm-none-eabi-nm", "-S", str(obj)], capture_output=True, text=True, check=True).stdout
    return sum(int(size, 16) for size, kind in re.findall(r"^[0-9a-f]+ ([0-9a-f]+) ([rRdD])", listing, re.M))


def render(results: dict, commit: str) -> str:
    ops = sorted({op for library in results.values() for op in library["ops"]})
    lines = [
        '"""TFLM code size per op on Cortex-M4F, as the generated CMake project links it.',
        "",
        "Generated by ``scripts/measure_code_size.py`` (do not edit) on "
        f"{datetime.date.today().isoformat()} from TFLM {commit} and",
        "CMSIS-NN (tests/tflm_targets.py's builds: arm-none-eabi-g++ "
        f"{subprocess.run(['arm-none-eabi-gcc', '-dumpversion'], capture_output=True, text=True).stdout.strip()},",
        "-Os, function sections, --gc-sections, newlib-nano). ``FRAMEWORK``: the interpreter, the C",
        "library and the generated application's own code, no op. ``OPS``: per op and library,",
        "(solo, exclusive): what linking the op alone adds, and the code only it uses when every",
        "op is linked. See jsqat_embed/memory/flash.py for how they combine.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "FRAMEWORK: dict[str, int] = {",
    ]
    lines += [f'    "{library}": {r["framework"]},' for library, r in results.items()]
    lines += ["}", "", "#: the application's own code per calibration model, for the record", "APPLICATION: dict[str, dict[str, int]] = {"]
    for library, r in results.items():
        lines.append(f'    "{library}": {{' + ", ".join(f'"{c["model"]}": {c["application"]}' for c in r["calibration"]) + "},")
    lines += ["}", "", "OPS: dict[str, dict[str, tuple[int, int]]] = {"]
    for op in ops:
        parts = ", ".join(f'"{library}": {tuple(r["ops"][op])}' for library, r in results.items() if op in r["ops"])
        lines.append(f'    "{op}": {{{parts}}},')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUTPUT.relative_to(REPO)}")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON here")
    args = parser.parse_args()
    from jsqat_embed.ops import OPS

    by_method: dict[str, list[str]] = {}
    for name, found in OPS.items():
        by_method.setdefault(found.resolver, []).append(name)
    results = {}
    with tempfile.TemporaryDirectory(prefix="jsqat-code-size-") as tmp:
        for library in LIBRARIES:
            missing = missing_requirements(CORTEX_M4, library)
            if missing:
                print(f"cannot measure {library}: missing {', '.join(missing)}", file=sys.stderr)
                return 2
            build = _build("cortex-m4", library)
            harness = Harness(build, Path(tmp) / library)
            none, figures = measure_ops(harness)
            calibration = calibrate(build, harness, figures, none, Path(tmp) / "projects")
            application = max(c["application"] for c in calibration)
            ops = {op: figures[method] for method, names in by_method.items() if method in figures for op in names}
            results[library] = {"none": none, "framework": none + application, "calibration": calibration, "ops": ops}
            print(f"{library}: no op {none:,} B, application {[c['application'] for c in calibration]} B")
            for op, (solo, exclusive) in sorted(ops.items()):
                print(f"  {op:36} solo {solo:7,}  exclusive {exclusive:7,}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.write:
        commit = "90b983c"
        OUTPUT.write_text(render(results, commit))
        print(f"wrote {OUTPUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
