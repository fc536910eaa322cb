"""The 32-bit arena estimates equal what TFLM uses on the target instruction sets, and the
emulator equals TFLM's outputs there, under QEMU with semihosting.

TFLM is compiled from source the way jsqat-embed's firmware builds it (reference
kernels, ``TF_LITE_STATIC_MEMORY``, no ``USE_TFLM_COMPRESSION``) for Cortex-M4
(ABI ``arm32``) and for RV32 (ABI ``ilp32``: the ESP32-C3's RISC-V, whose struct
layout the Xtensa ESP32s share), linked with ``qemu/tflm_check.cc``, and run on
every model of ``test_arena.MODELS`` that fits the emulated RAM, plus
DECODE-compressed pruned models. For each: ``arena_used_bytes()`` of the plain
interpreter must equal ``estimate_arena(model, abi)``, RecordingMicroAllocator's
head, tail and total must equal the recording estimate, and the output bytes
must equal the emulator's.

Opt-in (TFLM's sources are not on a package registry): see tests/tflm_targets.py.
Results are recorded in docs/estimator.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.memory.arena import estimate_arena
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import parse_allocations
from tests.memory.test_arena import MODELS
from tests.tflm_targets import QEMU_DIR, TARGETS, Target, link_for_qemu, run_qemu, tflm_library_or_skip

ARENA_BYTES = 6 << 20  # tflm_check.cc's arena


@pytest.fixture(scope="module", params=list(TARGETS))
def target_elf(request, tmp_path_factory) -> tuple[Target, Path]:
    target = TARGETS[request.param]
    tflm, library = tflm_library_or_skip(target)
    out = tmp_path_factory.mktemp(f"tflm-check-{target.name}")
    return target, link_for_qemu(target, tflm, library, [QEMU_DIR / "tflm_check.cc"], out / "tflm_check.elf")


def run_on_qemu(target: Target, elf: Path, model: bytes, inputs: list[np.ndarray], workdir: Path) -> tuple[str, bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "model.tflite").write_bytes(model)
    (workdir / "input.bin").write_bytes(b"".join(np.ascontiguousarray(x).tobytes() for x in inputs))
    run = run_qemu(target, elf, workdir)
    log = run.stdout + run.stderr
    assert run.returncode == 0 and "jsqat-check: done" in log, log[-3000:]
    return log, (workdir / "output.bin").read_bytes()


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


CASES = {name: (lambda f=factory: f().read_bytes()) for name, factory in MODELS.items()}
CASES.update({f"compressed-{name}": (lambda n=name: _compressed(n)) for name in ("mobilenetv2-p0.7", "vgg-style-p0.9")})


@pytest.mark.parametrize("name", list(CASES))
def test_arena_and_outputs_equal_tflm_on_the_target(name, target_elf, tmp_path):
    target, elf = target_elf
    data = CASES[name]()
    model = read_model(data)
    plain = estimate_arena(model, target.abi, "reference")
    recording = estimate_arena(model, target.abi, "reference", recording_allocator=True)
    if len(data) + ARENA_BYTES + (1 << 20) > target.ram_bytes or recording.total > ARENA_BYTES:
        pytest.skip(f"{len(data):,} B model + {recording.total:,} B arena do not fit {target.name}'s emulated RAM")
    emulator = Emulator(data)
    inputs = random_inputs(emulator, 1, seed=7)
    log, output = run_on_qemu(target, elf, data, inputs, tmp_path)

    used = int(re.search(r"arena_used_bytes (\d+)", log).group(1))
    totals, _ = parse_allocations(log)
    assert used == plain.total, f"plain interpreter used {used}, estimated {plain.total}"
    assert (totals["head"], totals["tail"], totals["total"]) == (recording.head, recording.tail, recording.total)
    expected = b"".join(np.ascontiguousarray(y).tobytes() for y in emulator.run(*inputs))
    assert output == expected, f"TFLM on {target.name} and the emulator differ"
