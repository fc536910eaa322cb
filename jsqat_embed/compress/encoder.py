"""Choose an encoding per weight tensor and write a model TFLM decodes with DECODE operators.

For each constant weight tensor (CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
filters, and their biases where it pays) the smallest of PRUNING (our encoder,
:mod:`jsqat_embed.compress.pruning`), LUT (the tflite-micro package's
``LutCompressor``) and dense is kept. DECODE insertion, buffer deduplication
and flatbuffer alignment are the tflite-micro package's own
(``compression/decode_insert.py``, ``tflite_flatbuffer_align``), so the layout
is the one TFLM's runtime expects: one DECODE before each consumer, decoding
every compressed tensor that consumer reads.

:func:`choose` is pure numpy (fit-check uses it without the tflite-micro
package); :func:`compress_model` needs the ``verify`` extra.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np

from jsqat_embed.compress import pruning
from jsqat_embed.errors import JsqatError, UnsupportedModelError
from jsqat_embed.graph.model import Model, Tensor
from jsqat_embed.tflite import read_model

METHODS = ("auto", "prune", "lut", "none")
DEFAULT_MIN_BYTES = 1024
WEIGHT_OPS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2)}
#: flatbuffer bytes one compressed tensor adds besides its encoded data: the DECODE
#: operator, an ancillary tensor and a decoded tensor (measured on converter
#: models: 200-330 bytes; tests/compress check the estimate against real files)
PER_TENSOR_OVERHEAD = 320


@dataclass
class TensorChoice:
    tensor: Tensor
    role: str  # "filter" or "bias"
    method: str  # "prune", "lut" or "dense"
    dense_bytes: int
    encoded_bytes: int  # encoded + ancillary (== dense_bytes when dense)
    kept: int | None = None
    ideal_bytes: int | None = None  # bitmask + kept values, no header
    entropy_bytes: float | None = None
    lut_bitwidth: int | None = None
    reason: str = ""
    pruned: pruning.PrunedTensor | None = field(default=None, repr=False)

    @property
    def sparsity(self) -> float | None:
        return None if self.kept is None else 1 - self.kept / max(1, self.tensor.size)

    def to_json(self) -> dict:
        return {
            "tensor": self.tensor.name, "index": self.tensor.index, "role": self.role, "method": self.method,
            "dense_bytes": self.dense_bytes, "encoded_bytes": self.encoded_bytes,
            "sparsity": None if self.sparsity is None else round(self.sparsity, 6),
            "bitmask_ideal_bytes": self.ideal_bytes,
            "entropy_bound_bytes": None if self.entropy_bytes is None else round(self.entropy_bytes, 1),
            "lut_bitwidth": self.lut_bitwidth, "reason": self.reason,
        }


def _quantization(tensor: Tensor) -> tuple[np.ndarray, int]:
    if tensor.quantization is None:
        return np.zeros(1, dtype=np.int64), 0
    return tensor.quantization.zero_point, tensor.quantization.axis if tensor.quantization.per_channel else (
        tensor.quantization.axis)


def _lut_bitwidth(tensor: Tensor, axis: int) -> int | None:
    """Index bits a per-channel (or per-tensor) LUT needs, or None when more than 128 values."""
    values = tensor.data
    if tensor.quantization is not None and tensor.quantization.per_channel:
        moved = np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)
        unique = max(len(np.unique(row)) for row in moved)
    else:
        unique = len(np.unique(values))
    if unique > 128:
        return None
    return max(1, math.ceil(math.log2(unique))) if unique > 1 else 1


def _lut_bytes(tensor: Tensor, axis: int, bitwidth: int) -> int:
    """Size of TFLM's LUT encoding: packed indices + 16-byte header + one table per channel.

    Tables are ``2**bitwidth`` entries long (the stride byte), one per channel
    for per-channel quantization.
    """
    channels = tensor.quantization.channels if tensor.quantization is not None and tensor.quantization.per_channel else 1
    return math.ceil(tensor.size * bitwidth / 8) + 16 + channels * (1 << bitwidth) * tensor.itemsize


def candidates(model: Model) -> list[tuple[Tensor, str]]:
    """Unique constant weight tensors of the weight ops, each once, filters before biases."""
    seen: dict[int, tuple[Tensor, str]] = {}
    for operator in model.operators:
        slots = WEIGHT_OPS.get(operator.opcode)
        if not slots:
            continue
        for slot, role in zip(slots, ("filter", "bias")):
            tensor = operator.input(slot)
            if tensor is not None and tensor.data is not None and tensor.index not in seen:
                seen[tensor.index] = (tensor, role)
    return list(seen.values())


def choose(model: Model, method: str = "auto", min_bytes: int = DEFAULT_MIN_BYTES) -> list[TensorChoice]:
    """The encoding of every candidate tensor, with the numbers of the report."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if any(op.opcode == "TFLM_DECODE" for op in model.operators):
        raise UnsupportedModelError("the model is already compressed (it has TFLM_DECODE operators)")
    choices = []
    for tensor, role in candidates(model):
        dense = tensor.nbytes
        choice = TensorChoice(tensor, role, "dense", dense, dense)
        choices.append(choice)
        if tensor.dtype.startswith("float"):
            choice.reason = "float tensor: left dense (DECODE targets quantized weights)"
            continue
        zero_points, axis = _quantization(tensor)
        try:
            pruning.check_prunable(tensor.data, zero_points, axis, tensor.dtype)
            prunable = True
        except UnsupportedModelError as exc:
            prunable, why = False, str(exc)
        if prunable:
            encoded = pruning.encode(tensor.data, zero_points, axis)
            choice.kept = encoded.kept
            choice.ideal_bytes = pruning.ideal_bytes(encoded.elements, encoded.kept, tensor.itemsize)
            choice.entropy_bytes = pruning.entropy_bound_bytes(tensor.data, zero_points, axis)
            choice.pruned = encoded
        if method == "none":
            choice.reason = "--method none"
            continue
        if dense < min_bytes:
            choice.reason = f"{dense} bytes < --min-bytes {min_bytes}"
            continue
        options: dict[str, int] = {}
        if prunable and method in ("auto", "prune"):
            options["prune"] = choice.pruned.encoded_bytes
        if method in ("auto", "lut") and tensor.dtype in ("int8", "int16"):
            bitwidth = _lut_bitwidth(tensor, axis)
            if bitwidth is not None and bitwidth <= 7:
                choice.lut_bitwidth = bitwidth
                options["lut"] = _lut_bytes(tensor, axis, bitwidth)
        if not options:
            choice.reason = why if not prunable else "more than 128 distinct values: no LUT"
            continue
        best = min(options, key=options.get)
        if options[best] + PER_TENSOR_OVERHEAD >= dense:
            choice.reason = f"{best} would take {options[best] + PER_TENSOR_OVERHEAD} bytes with its DECODE, dense is {dense}"
            continue
        choice.method, choice.encoded_bytes = best, options[best]
    return choices


@dataclass
class CompressionReport:
    choices: list[TensorChoice]
    dense_file_bytes: int
    compressed_file_bytes: int
    decode_ram_bytes: dict[str, int]  # target -> extra arena bytes (decoded tensors in the head)

    @property
    def compressed(self) -> list[TensorChoice]:
        return [c for c in self.choices if c.method != "dense"]

    def totals(self) -> dict:
        chosen = self.compressed
        dense = sum(c.dense_bytes for c in chosen)
        encoded = sum(c.encoded_bytes for c in chosen)
        prunable = [c for c in self.choices if c.ideal_bytes is not None]
        return {
            "tensors": len(self.choices),
            "compressed_tensors": len(chosen),
            "dense_bytes": dense,
            "encoded_bytes": encoded,
            "bitmask_ideal_bytes": sum(c.ideal_bytes for c in chosen if c.ideal_bytes is not None),
            "entropy_bound_bytes": round(sum(c.entropy_bytes for c in chosen if c.entropy_bytes is not None), 1),
            "all_weights_dense_bytes": sum(c.dense_bytes for c in prunable),
            "file_bytes": {"dense": self.dense_file_bytes, "compressed": self.compressed_file_bytes},
            "decode_ram_bytes": self.decode_ram_bytes,
        }

    def to_json(self) -> dict:
        return {"totals": self.totals(), "tensors": [c.to_json() for c in self.choices]}


def compress_model(data: bytes, method: str = "auto", min_bytes: int = DEFAULT_MIN_BYTES) -> tuple[bytes, CompressionReport]:
    """The compressed .tflite and its report. Needs the tflite-micro package (``verify`` extra)."""
    from jsqat_embed.memory.arena import estimate_arena

    model = read_model(data)
    choices = choose(model, method, min_bytes)
    chosen = [c for c in choices if c.method != "dense"]
    output = _write(data, chosen) if chosen else bytes(data)
    compressed_model = read_model(output)
    ram = {}
    for target in ("x86_64", "arm32"):
        ram[target] = estimate_arena(compressed_model, target).total - estimate_arena(model, target).total
    return output, CompressionReport(choices, len(data), len(output), ram)


def _write(data: bytes, chosen: list[TensorChoice]) -> bytes:
    try:
        from tflite_micro.tensorflow.lite.micro.compression import compressor, decode_insert, lut, model_editor, spec
        from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper
    except ImportError as exc:
        raise JsqatError(
            "writing a compressed model needs the tflite-micro package: pip install 'jsqat-embed[verify]'") from exc
    editable = model_editor.read(data)
    results = {}
    for choice in chosen:
        if choice.method == "prune":
            results[(0, choice.tensor.index)] = compressor.CompressionResult(
                encoded_data=choice.pruned.bitmask, ancillary_data=choice.pruned.ancillary)
        else:
            tensor = editable.subgraphs[0].tensors[choice.tensor.index]
            q = choice.tensor.quantization
            mode = spec.PerChannel(axis=q.axis) if q is not None and q.per_channel else spec.PerTensor()
            method = spec.LookUpTableCompression(index_bitwidth=choice.lut_bitwidth, mode=mode)
            results[(0, choice.tensor.index)] = lut.LutCompressor().compress(tensor, method)
            choice.encoded_bytes = len(results[(0, choice.tensor.index)].encoded_data) + len(
                results[(0, choice.tensor.index)].ancillary_data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decode_insert.insert_decode_operators(editable, results)
        # model_editor.build() keeps the original flatbuffer quantization of a tensor whose
        # wrapper quantization was set to None, so the encoded uint8 bitmask/index tensors
        # would carry the weights' per-channel scales. TFLM ignores them; any strict reader
        # (ours) rightly calls that malformed. Drop them.
        for choice in chosen:
            encoded = editable.subgraphs[0].tensors[choice.tensor.index]
            if getattr(encoded, "_fb", None) is not None:
                encoded._fb.quantization = None
        unaligned = bytes(editable.build())
    with tempfile.TemporaryDirectory(prefix="jsqat-compress-") as tmp:
        source, target = os.path.join(tmp, "in.tflite"), os.path.join(tmp, "out.tflite")
        with open(source, "wb") as handle:
            handle.write(unaligned)
        tflite_flatbuffer_align_wrapper.align_tflite_model(source, target)
        with open(target, "rb") as handle:
            return handle.read()
