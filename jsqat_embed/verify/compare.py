"""Emulator vs references, byte by byte, and where they first part ways.

TFLM (the real kernels) decides bit-exactness. LiteRT is reported beside it: its
optimized kernels may round differently, so a ±1 LSB difference there is
reported, not failed on.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import InputDataError
from jsqat_embed.verify.references import LITERT, TFLM, ReferenceResult, run_reference


@dataclass
class ReferenceComparison:
    name: str
    ok: bool
    version: str = ""
    bit_exact: bool = False
    mismatched_samples: list[int] = field(default_factory=list)
    max_abs_diff: int = 0
    error: str | None = None


@dataclass
class Divergence:
    operator: int
    op: str
    tensor: str
    tensor_index: int
    sample: int
    max_abs_diff: int
    differing_values: int
    values: int


@dataclass
class VerifyReport:
    model: str
    samples: int
    bit_exact: bool
    mismatches: int
    references: dict[str, ReferenceComparison]
    first_divergence: Divergence | None
    emulator_seconds: float
    inputs: str = "random"

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "samples": self.samples,
            "inputs": self.inputs,
            "bit_exact": self.bit_exact,
            "mismatches": self.mismatches,
            "references": {name: asdict(ref) for name, ref in self.references.items()},
            "first_divergence": asdict(self.first_divergence) if self.first_divergence else None,
            "emulator_seconds": round(self.emulator_seconds, 4),
        }


def random_inputs(emulator: Emulator, samples: int, seed: int = 0) -> list[np.ndarray]:
    """Seeded inputs spanning each input type's whole range, ``samples`` along axis 0."""
    if samples < 1:
        raise InputDataError(f"need at least one sample, got {samples}")
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in emulator.inputs:
        shape = (samples * (tensor.shape[0] if tensor.shape else 1), *tensor.shape[1:])
        if np.issubdtype(np.dtype(tensor.dtype), np.integer):
            info = np.iinfo(tensor.dtype)
            arrays.append(rng.integers(info.min, info.max, size=shape, endpoint=True).astype(tensor.dtype))
        else:
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(tensor.dtype))
    return arrays


def compare_outputs(ours: list[np.ndarray], theirs: list[np.ndarray], samples: int) -> tuple[list[int], int]:
    """Samples whose outputs differ in any byte, and the largest absolute difference."""
    mismatched: set[int] = set()
    max_diff = 0
    for mine, other in zip(ours, theirs):
        if mine.shape != other.shape or mine.dtype != other.dtype:
            return list(range(samples)), -1
        a = mine.reshape(samples, -1).astype(np.int64) if mine.dtype.kind in "iub" else mine.reshape(samples, -1)
        b = other.reshape(samples, -1).astype(np.int64) if other.dtype.kind in "iub" else other.reshape(samples, -1)
        differs = np.any(a != b, axis=1)
        mismatched.update(np.flatnonzero(differs).tolist())
        if differs.any():
            max_diff = max(max_diff, int(np.max(np.abs(a - b))))
    return sorted(mismatched), max_diff


def _compare_reference(result: ReferenceResult, ours: list[np.ndarray], samples: int) -> ReferenceComparison:
    if not result.ok:
        return ReferenceComparison(result.name, ok=False, version=result.version, error=result.error)
    mismatched, max_diff = compare_outputs(ours, result.outputs, samples)
    return ReferenceComparison(result.name, ok=True, version=result.version, bit_exact=not mismatched,
                               mismatched_samples=mismatched, max_abs_diff=max_diff)


def first_divergence(emulator: Emulator, inputs: list[np.ndarray], sample: int) -> Divergence | None:
    """Rerun one sample keeping every tensor in both engines; the first operator whose output differs."""
    one = []
    for array, tensor in zip(inputs, emulator.inputs):
        batch = tensor.shape[0] if tensor.shape else 1
        one.append(array[sample * batch : (sample + 1) * batch])
    _, ours = emulator.run_with_intermediates(*one)
    reference = run_reference(TFLM, emulator.model.source, one, intermediates=True)
    if not reference.ok or not reference.intermediates:
        return None
    for kernel in emulator.kernels:
        op = kernel.op
        for tensor in op.outputs:
            mine = ours.get(tensor.index)
            theirs = reference.intermediates.get(tensor.index)
            if mine is None or theirs is None:
                continue
            mine = mine.reshape(-1).astype(np.int64)
            theirs = theirs.reshape(-1).astype(np.int64)
            if mine.shape != theirs.shape:
                continue
            differing = int(np.count_nonzero(mine != theirs))
            if differing:
                return Divergence(op.index, op.opcode, tensor.name, tensor.index, sample,
                                  int(np.max(np.abs(mine - theirs))), differing, int(mine.size))
    return None


def verify(
    model,
    inputs: list[np.ndarray] | None = None,
    *,
    samples: int = 16,
    seed: int = 0,
    references: tuple[str, ...] = (TFLM, LITERT),
    input_label: str = "random",
) -> VerifyReport:
    """Run the emulator and each reference on the same inputs and compare every output byte."""
    emulator = model if isinstance(model, Emulator) else Emulator(model)
    if inputs is None:
        inputs = random_inputs(emulator, samples, seed)
    else:
        first = emulator.inputs[0]
        samples = inputs[0].shape[0] // (first.shape[0] if first.shape else 1)
    start = time.perf_counter()
    ours = emulator.run(*inputs)
    elapsed = time.perf_counter() - start
    comparisons = {}
    for name in references:
        comparisons[name] = _compare_reference(run_reference(name, emulator.model.source, inputs), ours, samples)
    oracle = comparisons.get(TFLM)
    bit_exact = bool(oracle and oracle.ok and oracle.bit_exact)
    divergence = None
    if oracle and oracle.ok and oracle.mismatched_samples:
        divergence = first_divergence(emulator, inputs, oracle.mismatched_samples[0])
    return VerifyReport(
        model=emulator.model.name,
        samples=samples,
        bit_exact=bit_exact,
        mismatches=len(oracle.mismatched_samples) if oracle and oracle.ok else samples,
        references=comparisons,
        first_divergence=divergence,
        emulator_seconds=elapsed,
        inputs=input_label,
    )
