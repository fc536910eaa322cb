"""Emulator vs references, byte by byte, and where they first part ways.

TFLM (the real kernels) decides bit-exactness. LiteRT is reported beside it: its
optimized kernels may round differently, so a ±1 LSB difference there is
reported, not failed on; a file only TFLM can run (TFLM's own custom ops such as
DECODE) skips LiteRT, with the reason.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import InputDataError
from jsqat_embed.verify.classes import ImagePrediction
from jsqat_embed.verify.references import LITERT, TFLM, ReferenceResult, reference_version, run_reference


@dataclass
class ReferenceComparison:
    name: str
    ok: bool
    version: str = ""
    bit_exact: bool = False
    mismatched_samples: list[int] = field(default_factory=list)
    max_abs_diff: float = 0
    error: str | None = None
    outputs: list["OutputComparison"] = field(default_factory=list)
    #: not run, or its refusal not counted: it cannot know what the file holds (``skip_reason`` says why)
    skipped: bool = False
    skip_reason: str | None = None


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
    #: per image (``verify --images``): top class, score and bit-exactness; None for other inputs
    images: list[ImagePrediction] | None = None

    def to_json(self) -> dict:
        document = {
            "model": self.model,
            "samples": self.samples,
            "inputs": self.inputs,
            "bit_exact": self.bit_exact,
            "mismatches": self.mismatches,
            "references": {name: asdict(ref) for name, ref in self.references.items()},
            "first_divergence": asdict(self.first_divergence) if self.first_divergence else None,
            "emulator_seconds": round(self.emulator_seconds, 4),
        }
        if self.images is not None:
            document["images"] = [image.to_json() for image in self.images]
        return document


def random_inputs(emulator: Emulator, samples: int, seed: int = 0) -> list[np.ndarray]:
    """Seeded inputs spanning each input type's whole range, ``samples`` along axis 0."""
    if samples < 1:
        raise InputDataError(f"need at least one sample, got {samples}")
    if seed < 0:
        raise InputDataError(f"--seed {seed}: a seed is 0 or more")
    per_sample = sum(t.nbytes for t in emulator.inputs)
    if samples * per_sample > 1 << 30:  # bounded memory: the inputs alone would pass 1 GiB
        raise InputDataError(f"{samples:,} samples of {per_sample:,} input bytes each are more than 1 GiB; use fewer")
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


@dataclass
class OutputComparison:
    """One model output against one reference."""

    index: int
    name: str
    dtype: str
    mismatched_samples: int
    max_abs_diff: float  # in quantization steps where known (see compare_outputs), else in values


def _step(emulator: Emulator | None, position: int) -> float | None:
    """The value of one quantization step of output ``position``: 1 for integer outputs,
    the DEQUANTIZE input's scale for a float output the converter dequantized, else None."""
    if emulator is None:
        return None
    tensor = emulator.outputs[position]
    if tensor.dtype not in ("float32", "float16"):
        return 1.0
    producer = next((op for op in emulator.model.operators if tensor in op.outputs), None)
    if producer is not None and producer.opcode == "DEQUANTIZE":
        source = producer.input(0)
        if source is not None and source.quantization is not None and source.scale > 0:
            return source.scale
    return None


def compare_outputs(ours: list[np.ndarray], theirs: list[np.ndarray], samples: int,
                    emulator: Emulator | None = None) -> tuple[list[int], float, list[OutputComparison]]:
    """Samples whose outputs differ in any byte, the largest absolute difference, and per output details.

    Differences are counted in quantization steps: integer outputs directly, float
    outputs behind a DEQUANTIZE in its input's steps (rounded); other float outputs
    in their own values. -1 means the shapes or types differ.
    """
    if len(ours) != len(theirs):
        return list(range(samples)), -1, []
    mismatched: set[int] = set()
    max_diff: float = 0
    details = []
    for position, (mine, other) in enumerate(zip(ours, theirs)):
        name = emulator.outputs[position].name if emulator is not None else f"output {position}"
        if mine.shape != other.shape or mine.dtype != other.dtype:
            details.append(OutputComparison(position, name, str(mine.dtype), samples, -1))
            mismatched.update(range(samples))
            max_diff = -1 if max_diff >= 0 else max_diff
            continue
        mine_bytes = np.ascontiguousarray(mine).reshape(samples, -1).view(np.uint8)
        other_bytes = np.ascontiguousarray(other).reshape(samples, -1).view(np.uint8)
        differs = np.any(mine_bytes != other_bytes, axis=1)
        mismatched.update(np.flatnonzero(differs).tolist())
        diff: float = 0
        if differs.any():
            a = mine.reshape(samples, -1).astype(np.float64 if mine.dtype.kind == "f" else np.int64)
            b = other.reshape(samples, -1).astype(np.float64 if other.dtype.kind == "f" else np.int64)
            raw = float(np.nanmax(np.abs(a - b))) if mine.dtype.kind == "f" else int(np.max(np.abs(a - b)))
            step = _step(emulator, position)
            diff = raw if step in (None, 1.0) else int(round(raw / step))
            if max_diff >= 0:
                max_diff = max(max_diff, diff)
        details.append(OutputComparison(position, name, str(mine.dtype), int(differs.sum()), diff))
    return sorted(mismatched), max_diff, details


def _compare_reference(result: ReferenceResult, ours: list[np.ndarray], samples: int,
                       emulator: Emulator | None = None) -> ReferenceComparison:
    if not result.ok:
        return ReferenceComparison(result.name, ok=False, version=result.version, error=result.error)
    mismatched, max_diff, details = compare_outputs(ours, result.outputs, samples, emulator)
    return ReferenceComparison(result.name, ok=True, version=result.version, bit_exact=not mismatched,
                               mismatched_samples=mismatched, max_abs_diff=max_diff, outputs=details)


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
    images: list[str] | None = None,
    labels: list[str] | None = None,
) -> VerifyReport:
    """Run the emulator and each reference on the same inputs and compare every output byte
    of every output tensor. Fully floating-point models are refused (UnsupportedModelError).

    With ``images`` (one name per sample) the report also gives each image's top class
    of the first output, named by ``labels`` (one per class) when given.
    """
    if isinstance(model, Emulator):
        emulator = model
    else:
        from pathlib import Path

        from jsqat_embed.tflite import read_model
        from jsqat_embed.verify.support import require_quantized

        graph = read_model(model)
        require_quantized(graph, Path(model) if isinstance(model, (str, Path)) else graph.name)
        emulator = Emulator(graph)
    if inputs is None:
        inputs = random_inputs(emulator, samples, seed)
    else:
        first = emulator.inputs[0]
        samples = inputs[0].shape[0] // (first.shape[0] if first.shape else 1)
    start = time.perf_counter()
    ours = emulator.run(*inputs)
    elapsed = time.perf_counter() - start
    comparisons = {}
    results: dict[str, ReferenceResult] = {}
    for name in references:
        skip = _skip_reason(name, emulator)
        if skip:
            comparisons[name] = ReferenceComparison(name, ok=False, version=reference_version(name), skipped=True,
                                                    skip_reason=skip)
            continue
        results[name] = run_reference(name, emulator.model.source, inputs)
        comparisons[name] = _compare_reference(results[name], ours, samples, emulator)
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
        images=None if images is None else _predictions(images, samples, emulator, ours, results.get(TFLM), oracle,
                                                        labels),
    )


def _skip_reason(name: str, emulator: Emulator) -> str | None:
    """Why reference ``name`` cannot know this file (None: run it). TFLM decides; it is never skipped."""
    if name != LITERT:
        return None
    from jsqat_embed.verify.support import check_litert_can_read

    ok, detail = check_litert_can_read(emulator.model)
    return None if ok else detail


def _predictions(names: list[str], samples: int, emulator: Emulator, ours: list[np.ndarray],
                 result: ReferenceResult | None, oracle: ReferenceComparison | None,
                 labels: list[str] | None) -> list[ImagePrediction]:
    from jsqat_embed.verify.classes import predictions

    if len(names) != samples:
        raise InputDataError(f"{len(names)} image names for {samples} samples")
    comparable = oracle is not None and oracle.ok and result is not None and result.outputs
    theirs = result.outputs[0] if comparable and result.outputs[0].shape == ours[0].shape else None
    mismatched = set(oracle.mismatched_samples) if comparable else None
    return predictions(names, ours[0], theirs, emulator.outputs[0], labels, mismatched)
