"""Choose an encoding per weight tensor and write a model TFLM decodes with DECODE operators.

For each constant weight tensor (CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
filters, and their biases where it pays) the smallest of PRUNING
(:mod:`jsqat_embed.compress.pruning`), LUT (:mod:`jsqat_embed.compress.lut`) and
dense is kept. DECODE operators are inserted the way TFLM's own compression
tool lays them out (:mod:`jsqat_embed.compress.decode_insert`) and the model is
written by our own writer (:mod:`jsqat_embed.tflite.writer`, 16-byte aligned
buffers), so compressing needs nothing beyond the core install and works on
files of any converter generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jsqat_embed.compress import lut, pruning
from jsqat_embed.compress.decode_insert import insert_decode
from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.graph.model import Model, Tensor
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.writer import write_model

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
    lut_encoding: lut.LutTensor | None = field(default=None, repr=False)

    def encoding(self) -> tuple[bytes, bytes]:
        """(encoded, ancillary) bytes of the chosen method."""
        if self.method == "prune":
            return self.pruned.bitmask, self.pruned.ancillary
        if self.method == "lut":
            return self.lut_encoding.indices, self.lut_encoding.ancillary
        raise ValueError(f"{self.tensor.describe()} stays dense: it has no encoding")

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
    return tensor.quantization.zero_point, tensor.quantization.axis


def _lut(tensor: Tensor) -> lut.LutTensor | None:
    """TFLM's LUT encoding of a weight tensor (per channel along its quantized dimension), or None."""
    q = tensor.quantization
    axis = q.axis if q is not None and q.per_channel else None
    try:
        lut.check_axis(tensor.shape, axis)
    except UnsupportedModelError:
        return None
    if lut.bitwidth_for(lut.table_sizes(tensor.data, axis)) > lut.MAX_BITWIDTH:
        return None
    return lut.encode(tensor.data, axis)


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
            choice.lut_encoding = _lut(tensor)
            if choice.lut_encoding is not None:
                choice.lut_bitwidth = choice.lut_encoding.bitwidth
                options["lut"] = choice.lut_encoding.encoded_bytes
        if not options:
            choice.reason = why if not prunable else "more than 128 distinct values: no LUT"
            continue
        best = min(options, key=options.get)
        if options[best] + PER_TENSOR_OVERHEAD >= dense:
            choice.reason = f"{best} would take {options[best] + PER_TENSOR_OVERHEAD} bytes with its DECODE, dense is {dense}"
            continue
        choice.method, choice.encoded_bytes = best, options[best]
    _keep_shared_buffers_dense(model, choices)
    return choices


def _keep_shared_buffers_dense(model: Model, choices: list[TensorChoice]) -> None:
    """A tensor sharing its buffer with one that stays dense stays dense too.

    The dense alias keeps the bytes in the file, so encoding the other would
    only add its encoding and a DECODE (TFLM's compression tool skips it too).
    """
    encoded = {id(c.tensor) for c in choices if c.method != "dense"}
    aliases: dict[int, list[Tensor]] = {}
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            if tensor.data is not None and tensor.buffer_index:
                aliases.setdefault(tensor.buffer_index, []).append(tensor)
    for choice in choices:
        if choice.method == "dense":
            continue
        dense = [t for t in aliases.get(choice.tensor.buffer_index, []) if id(t) not in encoded]
        if dense:
            choice.method, choice.encoded_bytes = "dense", choice.dense_bytes
            choice.reason = f"shares buffer {choice.tensor.buffer_index} with {dense[0].describe()}, which stays dense"


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
    """The compressed .tflite and its report."""
    from jsqat_embed.memory.arena import estimate_arena

    from jsqat_embed.ops.verdict import require_tflm_runs

    model = read_model(data)
    require_tflm_runs(model)  # TFLM's own reason, before anything is encoded for a runtime that refuses it
    choices = choose(model, method, min_bytes)
    chosen = [c for c in choices if c.method != "dense"]
    output = write_model(insert_decode(model, {c.tensor.index: c.encoding() for c in chosen})) if chosen else bytes(data)
    compressed_model = read_model(output)
    ram = {}
    for target in ("x86_64", "arm32"):
        ram[target] = estimate_arena(compressed_model, target).total - estimate_arena(model, target).total
    return output, CompressionReport(choices, len(data), len(output), ram)
