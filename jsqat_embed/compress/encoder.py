"""Choose an encoding per weight tensor and write a model TFLM decodes with DECODE operators.

For each constant weight tensor (CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
filters and biases) every encoding TFLM's DECODE operator can decode is sized:
PRUNING (:mod:`jsqat_embed.compress.pruning`), LUT
(:mod:`jsqat_embed.compress.lut`) and HUFFMAN
(:mod:`jsqat_embed.compress.huffman`), each as encoded tensor + ancillary data
+ what the DECODE bookkeeping adds to the flatbuffer (:func:`decode_overhead`),
and the smallest wins, dense included. DECODE operators are inserted the way
TFLM's own compression tool lays them out
(:mod:`jsqat_embed.compress.decode_insert`) and the model is written by our own
writer (:mod:`jsqat_embed.tflite.writer`; lean by default: shared vectors, one
zero point where all are equal; optionally without names and metadata TFLM
never reads), so compressing needs nothing beyond the core install and works
on files of any converter generation.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from jsqat_embed.compress import huffman, lut, pruning
from jsqat_embed.compress.decode_insert import insert_decode
from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.graph.model import Model, Tensor
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.writer import STRIPPABLE, write_model

METHODS = ("auto", "prune", "lut", "huffman", "none")
ENCODINGS = ("prune", "lut", "huffman")
DEFAULT_MIN_BYTES = 1024
WEIGHT_OPS = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2)}
#: flatbuffer bytes one compressed tensor adds besides its encoded and ancillary buffers,
#: without names: the DECODE operator (table, input and output vectors, its share of
#: the operator code), the ancillary and decoded tensors' tables. Measured on converter
#: models written lean: 91-109 (tests/compress check the estimate against real files).
DECODE_BOOKKEEPING = 104
#: the two names derived from the weight's (``_ancillary``, ``_decoded``): suffixes, string
#: headers and padding (measured: 2 x name + 40-44 bytes)
NAME_SUFFIXES = len("_ancillary") + len("_decoded") + 24


def decode_overhead(tensor: Tensor, strip: tuple[str, ...] | frozenset = ()) -> int:
    """What one more DECODE'd tensor adds to the file besides its encoded and ancillary bytes."""
    names = 0 if "names" in strip else 2 * len(tensor.name) + NAME_SUFFIXES
    return DECODE_BOOKKEEPING + names


def buffer_footprint(payload: int) -> int:
    """A buffer's footprint in the file: length prefix, data, padding to the 16-byte alignment."""
    return 16 * math.ceil((payload + 4) / 16) if payload else 0


@dataclass
class TensorChoice:
    tensor: Tensor
    role: str  # "filter" or "bias"
    method: str  # "prune", "lut", "huffman" or "dense"
    dense_bytes: int
    encoded_bytes: int  # encoded + ancillary (== dense_bytes when dense)
    kept: int | None = None
    ideal_bytes: int | None = None  # bitmask + kept values, no header
    entropy_bytes: float | None = None
    lut_bitwidth: int | None = None
    reason: str = ""
    sizes: dict[str, int] = field(default_factory=dict)  # encoding -> encoded + ancillary bytes
    overhead: int = 0  # DECODE bookkeeping in the file, when encoded
    table_shared_by: int = 1  # tensors decoding with this tensor's Huffman table (one ancillary tensor)
    pruned: pruning.PrunedTensor | None = field(default=None, repr=False)
    lut_encoding: lut.LutTensor | None = field(default=None, repr=False)  # encoded only when chosen
    lut_layout: tuple[int, int] | None = field(default=None, repr=False)  # (encoded, ancillary) bytes
    huffman_encoding: huffman.HuffmanTensor | None = field(default=None, repr=False)

    def encoding(self) -> tuple[bytes, bytes]:
        """(encoded, ancillary) bytes of the chosen method."""
        if self.method == "prune":
            return self.pruned.bitmask, self.pruned.ancillary
        if self.method == "lut":
            return self.lut_encoding.indices, self.lut_encoding.ancillary
        if self.method == "huffman":
            return self.huffman_encoding.stream, self.huffman_encoding.ancillary
        raise ValueError(f"{self.tensor.describe()} stays dense: it has no encoding")

    @property
    def ancillary_bytes(self) -> int:
        return 0 if self.method == "dense" else len(self.encoding()[1])

    @property
    def sparsity(self) -> float | None:
        return None if self.kept is None else 1 - self.kept / max(1, self.tensor.size)

    def to_json(self) -> dict:
        return {
            "tensor": self.tensor.name, "index": self.tensor.index, "role": self.role, "method": self.method,
            "dense_bytes": self.dense_bytes, "encoded_bytes": self.encoded_bytes,
            "ancillary_bytes": self.ancillary_bytes,
            "decode_bookkeeping_bytes": self.overhead if self.method != "dense" else 0,
            "sizes": dict(self.sizes),
            "sparsity": None if self.sparsity is None else round(self.sparsity, 6),
            "bitmask_ideal_bytes": self.ideal_bytes,
            "entropy_bound_bytes": None if self.entropy_bytes is None else round(self.entropy_bytes, 1),
            "lut_bitwidth": self.lut_bitwidth, "huffman_table_shared_by": self.table_shared_by,
            "reason": self.reason,
        }


def _quantization(tensor: Tensor) -> tuple[np.ndarray, int]:
    if tensor.quantization is None:
        return np.zeros(1, dtype=np.int64), 0
    return tensor.quantization.zero_point, tensor.quantization.axis


def _lut_axis(tensor: Tensor) -> int | None:
    q = tensor.quantization
    return q.axis if q is not None and q.per_channel else None


def _lut_layout(tensor: Tensor) -> tuple[int, int, int] | None:
    """(encoded bytes, ancillary bytes, bit width) of TFLM's LUT encoding of a weight tensor (per channel
    along its quantized dimension), computed without encoding it; None when LUT cannot hold it."""
    axis = _lut_axis(tensor)
    try:
        lut.check_axis(tensor.shape, axis)
    except UnsupportedModelError:
        return None
    stride = lut.table_sizes(tensor.data, axis)
    bitwidth = lut.bitwidth_for(stride)
    if bitwidth > lut.MAX_BITWIDTH:
        return None
    tables = 1 if axis is None else tensor.shape[axis]
    return math.ceil(tensor.size * bitwidth / 8), lut.DCM_BYTES + tables * stride * tensor.itemsize, bitwidth


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


def choose(model: Model, method: str = "auto", min_bytes: int = DEFAULT_MIN_BYTES,
           strip: tuple[str, ...] | frozenset = ()) -> list[TensorChoice]:
    """The encoding of every candidate tensor, with the numbers of the report.

    A tensor is encoded when its encoded and ancillary buffers plus the DECODE
    bookkeeping take fewer file bytes than its dense buffer; ``auto`` takes the
    smallest encoding, the others only their own.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if any(op.opcode == "TFLM_DECODE" for op in model.operators):
        raise UnsupportedModelError("the model is already compressed (it has TFLM_DECODE operators)")
    choices = []
    for tensor, role in candidates(model):
        dense = tensor.nbytes
        choice = TensorChoice(tensor, role, "dense", dense, dense, overhead=decode_overhead(tensor, strip))
        choices.append(choice)
        if tensor.dtype.startswith("float"):
            choice.reason = "float tensor: left dense (DECODE targets quantized weights)"
            continue
        zero_points, axis = _quantization(tensor)
        try:
            pruning.check_prunable(tensor.data, zero_points, axis, tensor.dtype)
            prunable, why = True, ""
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
        wanted = ENCODINGS if method == "auto" else (method,)
        if prunable:
            choice.sizes["prune"] = choice.pruned.encoded_bytes
        if tensor.dtype in ("int8", "int16"):
            layout = _lut_layout(tensor)
            if layout is not None:
                choice.lut_layout, choice.lut_bitwidth = layout[:2], layout[2]
                choice.sizes["lut"] = layout[0] + layout[1]
            # no code beats the values' entropy, shared table or not: skip the hopeless (e.g. dense weights)
            if "huffman" in wanted and buffer_footprint(math.ceil(huffman.stream_entropy_bytes(tensor.data))) \
                    + choice.overhead < buffer_footprint(dense):
                choice.huffman_encoding = huffman.encode(tensor.data)
                choice.sizes["huffman"] = choice.huffman_encoding.encoded_bytes
        options = {name: size for name, size in choice.sizes.items() if name in wanted}
        if not options:
            choice.reason = why or (f"{tensor.dtype}: no {method} encoding" if method != "auto" else
                                    "more than 128 distinct values: no LUT")
            continue
        costs = {name: _file_cost(choice, name) for name in options}
        best = min(costs, key=lambda name: (costs[name], ENCODINGS.index(name)))
        if costs[best] >= buffer_footprint(dense):
            choice.reason = (f"{best} would take {costs[best]} file bytes with its ancillary data and DECODE, "
                             f"dense takes {buffer_footprint(dense)}")
            continue
        choice.method, choice.encoded_bytes = best, options[best]
        if best == "lut":
            choice.lut_encoding = lut.encode(tensor.data, _lut_axis(tensor))
    _keep_shared_buffers_dense(model, choices)
    _share_huffman_tables([c for c in choices if c.huffman_encoding is not None and not c.reason.startswith("shares")])
    return choices


def _file_cost(choice: TensorChoice, method: str) -> int:
    encoded, ancillary = {
        "prune": lambda: (len(choice.pruned.bitmask), len(choice.pruned.ancillary)),
        "lut": lambda: choice.lut_layout,
        "huffman": lambda: (len(choice.huffman_encoding.stream), len(choice.huffman_encoding.ancillary)),
    }[method]()
    return buffer_footprint(encoded) + buffer_footprint(ancillary) + choice.overhead


def _current_cost(choice: TensorChoice) -> int:
    return buffer_footprint(choice.dense_bytes) if choice.method == "dense" else _file_cost(choice, choice.method)


#: pseudo-count of a value a shared table's members lack, so any tensor can use the table
SHARED_TABLE_PSEUDO_COUNT = 0.5
MAX_SHARED_TABLES = 4


def _share_huffman_tables(pool: list[TensorChoice]) -> None:
    """Let tensors share Huffman tables where that takes fewer file bytes than their own choice.

    One ancillary tensor (the tables) then serves several DECODE outputs. For
    1..MAX_SHARED_TABLES shared tables, tensors are grouped by how skewed
    their values are and refined Lloyd-style: each tensor takes the cheapest
    of its own choice and the shared tables (its stream with that code), then
    each table is rebuilt from its members' value counts. The grouping with
    the fewest total bytes, tables included, is kept.
    """
    by_dtype: dict[str, list[TensorChoice]] = {}
    for choice in pool:
        by_dtype.setdefault(choice.tensor.dtype, []).append(choice)
    for dtype, choices in by_dtype.items():
        if len(choices) < 2:
            continue
        alphabet = np.unique(np.concatenate([np.unique(c.tensor.data) for c in choices])).astype(np.int64)
        counts = np.zeros((len(choices), alphabet.size), dtype=np.int64)
        for row, choice in enumerate(choices):
            values, found = np.unique(choice.tensor.data, return_counts=True)
            counts[row, np.searchsorted(alphabet, values.astype(np.int64))] = found
        own = np.array([_current_cost(c) for c in choices], dtype=np.int64)
        skew = counts.max(axis=1) / counts.sum(axis=1)
        order = np.argsort(skew, kind="stable")
        best_total, best = int(own.sum()), None
        for tables in range(1, min(MAX_SHARED_TABLES, len(choices) // 2) + 1):
            assignment = np.empty(len(choices), dtype=np.int64)
            for group, members in enumerate(np.array_split(order, tables)):
                assignment[members] = group
            seen = set()
            for _ in range(10):
                key = tuple(assignment.tolist())
                if key in seen:
                    break
                seen.add(key)
                groups = [g for g in range(tables) if np.any(assignment == g)]
                books = [huffman.build_codebook(alphabet, counts[assignment == g].sum(axis=0)
                                                + SHARED_TABLE_PSEUDO_COUNT, dtype) for g in groups]
                costs = np.stack([own] + [
                    np.array([buffer_footprint(book.stream_bytes(counts[row])) + choices[row].overhead
                              for row in range(len(choices))]) for book in books])
                pick = costs.argmin(axis=0)  # 0: its own choice, k: books[k - 1]
                total = int(costs.min(axis=0).sum()) + sum(
                    buffer_footprint(len(book.ancillary)) for k, book in enumerate(books, 1) if np.any(pick == k))
                if total < best_total:
                    best_total, best = total, (books, pick.copy())
                assignment = np.where(pick > 0, pick - 1, -1)
                if not np.any(assignment >= 0):
                    break
        if best is None:
            continue
        books, pick = best
        for k, book in enumerate(books, 1):
            members = [choices[row] for row in np.flatnonzero(pick == k)]
            for position, choice in enumerate(members):
                choice.method = "huffman"
                choice.huffman_encoding = huffman.encode(choice.tensor.data, book)
                choice.table_shared_by = len(members)
                choice.encoded_bytes = len(choice.huffman_encoding.stream) + (len(book.ancillary) if position == 0 else 0)
                choice.reason = (f"Huffman table shared by {len(members)} tensors" if len(members) > 1 else "")


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
    lean: bool = True
    strip: tuple[str, ...] = ()

    @property
    def compressed(self) -> list[TensorChoice]:
        return [c for c in self.choices if c.method != "dense"]

    def totals(self) -> dict:
        chosen = self.compressed
        dense = sum(c.dense_bytes for c in chosen)
        encoded = sum(c.encoded_bytes for c in chosen)
        prunable = [c for c in self.choices if c.ideal_bytes is not None]
        methods: dict[str, int] = {}
        for choice in self.choices:
            methods[choice.method] = methods.get(choice.method, 0) + 1
        weights = sum(c.encoded_bytes for c in self.choices)
        return {
            "tensors": len(self.choices),
            "compressed_tensors": len(chosen),
            "methods": methods,
            "dense_bytes": dense,
            "encoded_bytes": encoded,
            "bitmask_ideal_bytes": sum(c.ideal_bytes for c in chosen if c.ideal_bytes is not None),
            "entropy_bound_bytes": round(sum(c.entropy_bytes for c in chosen if c.entropy_bytes is not None), 1),
            "all_weights_dense_bytes": sum(c.dense_bytes for c in prunable),
            "file_bytes": {"dense": self.dense_file_bytes, "compressed": self.compressed_file_bytes,
                           "weights": weights, "rest": self.compressed_file_bytes - weights},
            "lean": self.lean,
            "strip": list(self.strip),
            "decode_ram_bytes": self.decode_ram_bytes,
        }

    def to_json(self) -> dict:
        return {"totals": self.totals(), "tensors": [c.to_json() for c in self.choices]}


#: what ``--strip`` accepts: the writer's, and the quantization of biases no TFLM kernel reads
STRIP_CHOICES = (*STRIPPABLE, "bias-quantization")
#: ops whose bias quantization TFLM never reads for these input types: CONV_2D and
#: DEPTHWISE_CONV_2D compute their multipliers from the input and filter scales
#: (kernel_util.cc PopulateConvolutionQuantizationParams reads the bias's only for
#: uint8; reference, CMSIS-NN and esp-nn kernels alike). FULLY_CONNECTED reads it.
BIAS_SCALE_UNREAD = {"CONV_2D": ("int8", "int16"), "DEPTHWISE_CONV_2D": ("int8", "int16")}


def check_strip(strip) -> tuple[str, ...]:
    strip = tuple(dict.fromkeys(s for s in strip if s))
    unknown = [s for s in strip if s not in STRIP_CHOICES]
    if unknown:
        raise ValueError(f"cannot strip {', '.join(unknown)}; choose from {', '.join(STRIP_CHOICES)}")
    return strip


def strip_bias_quantization(model: Model) -> int:
    """Drop the quantization of constant biases only read by ops that never look at it; how many."""
    readers: dict[int, list[tuple[str, int, str | None]]] = {}
    for subgraph in model.subgraphs:
        for operator in subgraph.operators:
            source = operator.input(0)
            for slot, tensor in enumerate(operator.inputs):
                if tensor is not None:
                    readers.setdefault(id(tensor), []).append(
                        (operator.opcode, slot, source.dtype if source is not None else None))
    stripped = 0
    for subgraph in model.subgraphs:
        outputs = {id(t) for t in subgraph.outputs}
        for tensor in subgraph.tensors:
            uses = readers.get(id(tensor), [])
            if (tensor.data is None or tensor.quantization is None or id(tensor) in outputs or not uses
                    or not all(slot == 2 and dtype in BIAS_SCALE_UNREAD.get(opcode, ()) for opcode, slot, dtype in uses)):
                continue
            tensor.quantization = None
            stripped += 1
    return stripped


def encode_graph(model: Model, choices: list[TensorChoice]) -> Model:
    """``model`` with the chosen tensors encoded and DECODE operators inserted (a copy)."""
    return insert_decode(model, {c.tensor.index: c.encoding() for c in choices if c.method != "dense"})


def compress_model(data: bytes, method: str = "auto", min_bytes: int = DEFAULT_MIN_BYTES, *,
                   lean: bool = True, strip: tuple[str, ...] = ()) -> tuple[bytes, CompressionReport]:
    """The compressed .tflite and its report.

    ``lean`` and ``strip`` are the writer's (:func:`jsqat_embed.tflite.writer.write_model`).
    A model with nothing to encode is returned as it is, unless ``lean`` or
    ``strip`` rewrite it smaller.
    """
    from jsqat_embed.memory.arena import estimate_arena

    from jsqat_embed.ops.verdict import require_tflm_runs

    strip = check_strip(strip)
    model = read_model(data)
    require_tflm_runs(model)  # TFLM's own reason, before anything is encoded for a runtime that refuses it
    choices = choose(model, method, min_bytes, strip)
    chosen = [c for c in choices if c.method != "dense"]
    if chosen or strip or lean:
        graph = encode_graph(model, chosen)
        if "bias-quantization" in strip:
            if graph is model:
                graph = copy.deepcopy(model)
            strip_bias_quantization(graph)
        output = write_model(graph, lean=lean, strip=tuple(s for s in strip if s in STRIPPABLE))
        if not chosen and len(output) >= len(data):
            output = bytes(data)
    else:
        output = bytes(data)
    compressed_model = read_model(output)
    ram = {}
    for target in ("x86_64", "arm32"):
        ram[target] = estimate_arena(compressed_model, target).total - estimate_arena(model, target).total
    return output, CompressionReport(choices, len(data), len(output), ram, lean, strip)
