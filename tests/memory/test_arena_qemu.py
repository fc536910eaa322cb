"""On the targets and with the kernel libraries boards really link, the arena estimate equals
what TFLM records and the emulator equals TFLM's outputs, under QEMU with semihosting.

Four builds (tests/tflm_targets.py): Cortex-M4 (ABI ``arm32``) with TFLM's reference kernels
and with CMSIS-NN, each compiled by the generated CMake project; RV32 (ABI ``ilp32``, the
ESP32-C3's instruction set) with upstream TFLM's reference kernels and with esp-tflite-micro
1.4.0 (its TFLM snapshot, ``kernels/esp_nn``, esp-nn's portable C). Each is linked with
``qemu/tflm_check.cc`` and run on:

- every model of ``test_arena.MODELS`` (the emulator's op grid, whole CNNs, keras
  applications, a PyTorch export, the demo model) that fits the emulated RAM;
- two DECODE-compressed pruned models;
- every model of the real-model corpus (tests/corpus) that TFLM runs and that is quantized.

For each, on ``SAMPLES`` random inputs: the output bytes must equal the emulator's with
that library's arithmetic, the plain interpreter's ``arena_used_bytes()`` must equal
``estimate_arena(model, abi, library)``, and RecordingMicroAllocator's head, tail and total
must equal the recording estimate (scratch buffers and each library's persistent data
included).

The four builds are TFLM 90b983c (esp-tflite-micro 1.4.0's snapshot has the same
``sub_common.cc``), which computes SUB's rescaling multipliers in float where the newer
tflite-micro wheel, the emulator's default, uses double: the emulator's 90b983c switch
(``Sub.float_prepare``) is set for these runs.

CI runs every build on every case (``JSQAT_QEMU_MODELS=all``, the default); ``=ci``
keeps a subset (the corpus, the whole CNNs and a third of the op grid). Each result is
appended to ``.cache/tflm/qemu-results.jsonl``, which docs/estimator.md summarizes.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import JsqatError
from jsqat_embed.memory.arena import estimate_arena
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import parse_allocations
from tests.memory.test_arena import MODELS
from tests.tflm_targets import BUILDS, CACHE, Build, run_qemu, tflm_build_or_skip, tflm_check_elf

pytestmark = pytest.mark.slow  # TFLM's four builds take minutes each the first time (cached after)
ARENA_BYTES = 6 << 20  # tflm_check.cc's arena
SAMPLES = 4
RESULTS = CACHE / "qemu-results.jsonl"


def _compressed(name: str) -> bytes:
    from jsqat_embed.compress.encoder import compress_model
    from jsqat_embed.training.zoo import pruned_zoo_model

    arch, kwargs, sparsity = {
        "mobilenetv2-p0.7": ("mobilenetv2", {"size": 96, "alpha": 0.35}, 0.7),
        "vgg-style-p0.9": ("vgg_style", {"size": 32}, 0.9),
    }[name]
    data, report = compress_model(pruned_zoo_model(arch, sparsity=sparsity, **kwargs).read_bytes())
    assert report.compressed, "nothing was compressed: the DECODE path would go untested"
    return data


def _corpus_cases() -> dict:
    from tests.corpus_models import select

    return {f"corpus-{m.file.removesuffix('.tflite')}": (lambda m=m: m.path.read_bytes())
            for m in select(tflm="runs", where=lambda m: m.kind != "float" and m.present)}


def softmax_rank4() -> bytes:
    """int8 SOFTMAX over (1, 4, 4, 7): esp-nn's wrapper sizes its scratch from dims[1] (4), its
    kernel writes one int32 per element of the last dimension (7)."""
    from tests.op_models import T, op, op_model

    x = T("x", (1, 4, 4, 7), "int8", scale=0.1, zero_point=3)
    y = T("y", (1, 4, 4, 7), "int8", scale=1 / 256, zero_point=-128)
    return op_model([op("SOFTMAX", [x], [y], beta=1.0)])


CASES = {name: (lambda f=factory: Path(f()).read_bytes()) for name, factory in MODELS.items()}
CASES["softmax-1x4x4x7"] = softmax_rank4
CASES.update({f"compressed-{name}": (lambda n=name: _compressed(n)) for name in ("mobilenetv2-p0.7", "vgg-style-p0.9")})
CASES.update(_corpus_cases())


def _selected(names: list[str]) -> list[str]:
    if os.environ.get("JSQAT_QEMU_MODELS", "all") != "ci":
        return names
    grid = [n for n in names if n.startswith("grid-")]
    return [n for n in names if not n.startswith("grid-")] + grid[::3]


@pytest.fixture(scope="module", params=[f"{t.name}/{library}" for t, library in BUILDS])
def checker(request, tmp_path_factory) -> tuple[Build, Path]:
    target_name, library = request.param.split("/")
    target = next(t for t, lib in BUILDS if t.name == target_name and lib == library)
    build = tflm_build_or_skip(target, library)
    return build, tflm_check_elf(build, tmp_path_factory.mktemp(f"tflm-check-{target_name}-{library}"))


def run_on_qemu(build: Build, elf: Path, model: bytes, inputs: list[np.ndarray], samples: int,
                workdir: Path) -> tuple[str, bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "model.tflite").write_bytes(model)
    per_sample = [np.ascontiguousarray(x).reshape(samples, -1).view(np.uint8).reshape(samples, -1) for x in inputs]
    (workdir / "input.bin").write_bytes(np.concatenate(per_sample, axis=1).tobytes())
    run = run_qemu(build.target, elf, workdir)
    log = run.stdout + run.stderr
    assert run.returncode == 0 and "jsqat-check: done" in log, log[-3000:]
    return log, (workdir / "output.bin").read_bytes()


def _record(row: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as results:
        results.write(json.dumps(row) + "\n")


@pytest.fixture
def tflm_90b983c(monkeypatch):
    from jsqat_embed.emulator.kernels.sub import Sub

    monkeypatch.setattr(Sub, "float_prepare", True)


@pytest.mark.parametrize("name", _selected(list(CASES)))
def test_arena_and_outputs_equal_tflm_on_the_target(name, checker, tmp_path, tflm_90b983c):
    build, elf = checker
    target, library = build.target, build.kernel_library
    data = CASES[name]()
    model = read_model(data)
    plain = estimate_arena(model, target.abi, library)
    recording = estimate_arena(model, target.abi, library, recording_allocator=True)
    if len(data) + ARENA_BYTES + (1 << 20) > target.ram_bytes or recording.total > ARENA_BYTES:
        pytest.skip(f"{len(data):,} B model + {recording.total:,} B arena do not fit {target.name}'s emulated RAM")
    try:
        emulator = Emulator(data)
        inputs = random_inputs(emulator, SAMPLES, seed=7)
        ours = [np.ascontiguousarray(y).reshape(SAMPLES, -1).tobytes() for y in emulator.run(*inputs)]
    except JsqatError as exc:
        pytest.skip(f"the emulator cannot run {name}: {exc}"[:300])
    started = time.monotonic()
    log, output = run_on_qemu(build, elf, data, inputs, SAMPLES, tmp_path)
    used = int(re.search(r"arena_used_bytes (\d+)", log).group(1))
    totals, records = parse_allocations(log)
    device = _per_output(output, model, SAMPLES)
    differ = [i for i, (a, b) in enumerate(zip(device, ours)) if a != b]
    _record({"build": f"{target.name}/{library}", "case": name, "ops": sorted({op.opcode for op in model.operators}),
             "bit_exact": device == ours, "outputs_differing": differ, "samples": SAMPLES,
             "arena_used": used, "arena_estimate": plain.total, "recorded": totals,
             "recording_estimate": {"head": recording.head, "tail": recording.tail, "total": recording.total},
             "estimate_exact": plain.exact, "persistent_buffers": records.get("Persistent buffer data"),
             "seconds": round(time.monotonic() - started, 2)})
    assert len(output) == SAMPLES * sum(t.nbytes for t in model.outputs), f"{len(output)} output bytes"
    assert device == ours, f"TFLM ({library}) on {target.name} and the emulator differ in outputs {differ}"
    assert (totals["head"], totals["tail"], totals["total"]) == (recording.head, recording.tail, recording.total), (
        f"recorded {totals}, estimated head {recording.head} tail {recording.tail}; persistent buffers "
        f"{records.get('Persistent buffer data')}, estimate {recording.tail_by_category()}")
    assert used == plain.total, f"plain interpreter used {used}, estimated {plain.total}"
    assert plain.exact, f"the estimate for {library} calls itself a bound: {plain.unknown_ops}"


def _per_output(data: bytes, model, samples: int) -> list[bytes]:
    """Split tflm_check's output.bin (sample-major) into one byte string per model output."""
    sizes = [t.nbytes for t in model.outputs]
    chunks = [b""] * len(sizes)
    offset = 0
    for _ in range(samples):
        for i, size in enumerate(sizes):
            chunks[i] += data[offset:offset + size]
            offset += size
    return chunks


@pytest.mark.parametrize("library", ["cmsis-nn", "esp-nn"])
def test_kernel_library_opdata_sizes_are_the_probed_ones(library):
    """kernel_memory.LIBRARY_OPDATA, probed again from the pinned sources with the target's compiler."""
    from jsqat_embed.memory.kernel_memory import LIBRARY_OPDATA
    from tests.tflm_targets import CORTEX_M4, RV32, missing_requirements, probe_sizes

    target = CORTEX_M4 if library == "cmsis-nn" else RV32
    missing = missing_requirements(target, library)
    if missing:
        pytest.skip(f"missing {', '.join(missing)}")
    for (lib, op), (size, source, type_name) in LIBRARY_OPDATA.items():
        if lib != library:
            continue
        probed = probe_sizes(target, library, f"tensorflow/lite/micro/{source}", [f"tflite::{type_name}"])
        assert probed[f"tflite::{type_name}"][0] == size, (op, source, probed)


def test_esp_nn_softmax_asks_for_less_scratch_than_its_kernel_writes(tmp_path):
    """esp-tflite-micro 1.4.0's esp_nn/softmax.cc requests 4 x dims->data[1] bytes of scratch;
    esp_nn_softmax_s8_opt writes 4 x the last dimension into it. TFLM records the smaller
    request (the estimate reproduces it): on an input whose last dimension exceeds its second,
    the kernel writes past its scratch, into whatever the planner put after it (or the tail,
    in an arena sized to the byte). Reported upstream; docs/estimator.md."""
    from tests.tflm_targets import RV32, tflm_build_or_skip, tflm_check_elf

    build = tflm_build_or_skip(RV32, "esp-nn")
    data = softmax_rank4()
    model = read_model(data)
    elf = tflm_check_elf(build, tmp_path)
    emulator = Emulator(data)
    inputs = random_inputs(emulator, 1, seed=3)
    log, output = run_on_qemu(build, elf, data, inputs, 1, tmp_path / "run")
    totals, _ = parse_allocations(log)
    estimate = estimate_arena(model, "ilp32", "esp-nn", recording_allocator=True)
    reference = estimate_arena(model, "ilp32", "reference", recording_allocator=True)
    requested = estimate.head - reference.head  # the scratch is the one difference in the head
    assert totals["head"] == estimate.head and requested == 16 == 4 * model.inputs[0].shape[1]
    assert 4 * model.inputs[0].shape[-1] == 28 > requested


#: models whose smallest working arena is found by bisection: a small head under many tensors
#: (the SVDF and LSTM keyword spotters), a tiny model, and CNNs whose head dominates
SMALLEST_ARENA_CASES = ["corpus-keyword_scrambled", "corpus-hello_world_int8", "corpus-trained_lstm_int8",
                        "corpus-micro_speech_quantized", "grid-softmax-10"]


@pytest.fixture(scope="module")
def cortex_m4_checker(tmp_path_factory) -> tuple[Build, Path]:
    from tests.tflm_targets import CORTEX_M4

    build = tflm_build_or_skip(CORTEX_M4, "reference")
    return build, tflm_check_elf(build, tmp_path_factory.mktemp("tflm-check-smallest"))


@pytest.mark.parametrize("name", SMALLEST_ARENA_CASES)
def test_the_smallest_arena_that_works_is_the_estimate_plus_its_prepare_margin(name, cortex_m4_checker, tmp_path):
    """fit-check sizes a board's arena as the estimate plus a margin; the part of the margin for
    what AllocateTensors needs beyond the final plan (Prepare's temporaries, the planner's own
    arrays when it commits the plan) must cover the smallest arena TFLM works in, found by
    bisection on Cortex-M4 (the bytes after the arena are a canary), without asking much more
    (the Prepare part is a bound: up to ~150 B over on small models)."""
    import dataclasses
    import subprocess

    from jsqat_embed.memory.fit import ram_margin
    from tests.tflm_targets import cmake_board

    build, elf = cortex_m4_checker
    data = CASES[name]()
    model = read_model(data)
    estimate = estimate_arena(model, "arm32", "reference")
    board = dataclasses.replace(cmake_board("reference"))
    margin = ram_margin(model, estimate, board)
    inputs = random_inputs(Emulator(data), 1, seed=5)
    (tmp_path / "model.tflite").write_bytes(data)
    (tmp_path / "input.bin").write_bytes(b"".join(np.ascontiguousarray(x).tobytes() for x in inputs))

    def works(size: int) -> bool:
        (tmp_path / "arena.txt").write_text(str(size))
        try:
            run = subprocess.run([*build.target.qemu, "-nographic", "-semihosting-config", "enable=on,target=native",
                                  "-kernel", str(elf)], cwd=tmp_path, capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:  # a wild write QEMU rejects without a fault can leave it looping
            return False
        return run.returncode == 0 and "jsqat-check: done" in run.stdout

    covered = (estimate.total + margin.prepare_peak + 15) // 16 * 16  # TFLM aligns the arena's end down to 16
    assert works(covered), f"{name}: fails in {covered:,} B (estimate {estimate.total:,} + {margin.prepare_peak:,})"
    low = estimate.total - 16  # fails: the plan alone needs the total
    assert not works(low)
    steps_low, steps_high = 0, -(-(covered - low) // 16)  # in 16-byte steps above low
    while steps_high - steps_low > 1:
        middle = (steps_low + steps_high) // 2
        if works(low + 16 * middle):
            steps_high = middle
        else:
            steps_low = middle
    high = low + 16 * steps_high
    _record({"build": "cortex-m4/reference", "case": name, "smallest_arena": high, "estimate": estimate.total,
             "prepare_margin": margin.prepare_peak})
    assert covered - high < 256, f"{name}: works in {high:,} B, the margin asks {covered:,}"
