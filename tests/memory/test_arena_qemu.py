"""The 32-bit Arm arena estimate equals what TFLM uses on a Cortex-M4, and the
emulator equals TFLM's outputs there, on QEMU (mps2-an386, semihosting).

TFLM is compiled from source for Cortex-M4 the way jsqat-embed's firmware builds
it (reference kernels, ``TF_LITE_STATIC_MEMORY``, no ``USE_TFLM_COMPRESSION``),
linked with ``qemu/tflm_check.cc``, and run on every model of
``test_arena.MODELS`` that fits QEMU's 16 MiB PSRAM, plus DECODE-compressed
pruned models. For each: ``arena_used_bytes()`` of the plain interpreter must
equal ``estimate_arena(model, "arm32")``, the RecordingMicroAllocator's head,
tail and total must equal the recording estimate, and the output bytes must
equal the emulator's.

Opt-in (TFLM's sources are not on a package registry): see tests/tflm_arm.py.
Results are recorded in docs/estimator.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.memory.arena import ARM32, estimate_arena
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import parse_allocations
from tests.memory.test_arena import MODELS
from tests.tflm_arm import QEMU_DIR, link_for_qemu, run_qemu, tflm_library_or_skip

ARENA_BYTES = 6 << 20  # tflm_check.cc's arena
PSRAM_BYTES = 16 << 20


@pytest.fixture(scope="module")
def tflm_check_elf(tmp_path_factory) -> Path:
    tflm, library = tflm_library_or_skip()
    out = tmp_path_factory.mktemp("tflm-check")
    return link_for_qemu(tflm, library, [QEMU_DIR / "tflm_check.cc"], out / "tflm_check.elf")


def run_on_qemu(elf: Path, model: bytes, inputs: list[np.ndarray], workdir: Path) -> tuple[str, bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "model.tflite").write_bytes(model)
    (workdir / "input.bin").write_bytes(b"".join(np.ascontiguousarray(x).tobytes() for x in inputs))
    run = run_qemu(elf, workdir)
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
def test_arm32_arena_and_outputs_equal_tflm_on_cortex_m4(name, tflm_check_elf, tmp_path):
    data = CASES[name]()
    model = read_model(data)
    plain = estimate_arena(model, ARM32, "reference")
    recording = estimate_arena(model, ARM32, "reference", recording_allocator=True)
    if len(data) + ARENA_BYTES + (1 << 20) > PSRAM_BYTES or recording.total > ARENA_BYTES:
        pytest.skip(f"{len(data):,} B model + {recording.total:,} B arena do not fit QEMU's 16 MiB PSRAM")
    emulator = Emulator(data)
    inputs = random_inputs(emulator, 1, seed=7)
    log, output = run_on_qemu(tflm_check_elf, data, inputs, tmp_path)

    used = int(re.search(r"arena_used_bytes (\d+)", log).group(1))
    totals, _ = parse_allocations(log)
    assert used == plain.total, f"plain interpreter used {used}, estimated {plain.total}"
    assert (totals["head"], totals["tail"], totals["total"]) == (recording.head, recording.tail, recording.total)
    expected = b"".join(np.ascontiguousarray(y).tobytes() for y in emulator.run(*inputs))
    assert output == expected, "TFLM on Cortex-M4 and the emulator differ"
