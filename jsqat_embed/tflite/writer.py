""":class:`jsqat_embed.graph.Model` -> .tflite bytes: the inverse of :mod:`reader`.

The graph is written on top of the tables it was read from (``tree`` on the
model, subgraphs, tensors and operators), so fields the graph does not model
survive; the modelled ones (shapes, types, names, quantization, constant data,
operator codes, inputs and outputs, options, custom options) come from the
graph, edits included: new tensors, operators and operator codes, rewired
inputs, tensors whose data or quantization changed.

Indices are recomputed from object references: a tensor's index is its position
in its subgraph's ``tensors`` list. Buffers read from the file keep their
index when a tensor still holds exactly their bytes (so a round trip keeps the
layout and the converter's sharing); changed or new data gets a buffer of its
own (identical new data shares one), and buffers no longer referenced are
dropped. Operator codes are written with both ``builtin_code`` and
``deprecated_builtin_code`` (the latter capped at 127), as the schema requires,
which also upgrades files from before TF 2.4.

``lean=True`` writes what TFLM reads and no more: each distinct vector and
string once (shared by every table that holds it), and per-channel zero
points that are all equal as one value (TFLM's allocator reads zero point 0
for every channel when the counts differ: ``micro_allocator.cc``, its
"space-saving optimization" for weights; the reader does the same). ``strip``
drops what TFLM never reads: ``"names"`` (tensor and subgraph names),
``"metadata"`` (the description, signature defs, metadata entries other than
those TFLM looks up, shape signatures, quantization min/max). A stripped file
still reads back here; TensorFlow Lite (not Micro) may refuse a lean one.
"""

from __future__ import annotations

import numpy as np

import dataclasses

from jsqat_embed.errors import JsqatError
from jsqat_embed.graph.model import Model, Operator, Subgraph, Tensor
from jsqat_embed.tflite import codec, schema
from jsqat_embed.tflite.options import from_options
from jsqat_embed.tflite.reader import buffer_bytes, operator_code


#: what ``strip`` may drop
STRIPPABLE = ("names", "metadata")
#: metadata entries TFLM looks up by name (micro_allocator.cc, micro_interpreter.cc): never stripped
TFLM_METADATA = ("OfflineMemoryAllocation", "COMPRESSION_METADATA")


def write_model(model: Model, *, lean: bool = False, strip: tuple[str, ...] | frozenset = ()) -> bytes:
    """The .tflite bytes of ``model`` (16-byte aligned buffers, "TFL3" identifier); see the module doc for lean/strip."""
    return codec.encode(model_tree(model, lean=lean, strip=strip), share=lean)


def model_tree(model: Model, *, lean: bool = False, strip: tuple[str, ...] | frozenset = ()) -> dict:
    """The Model table :func:`write_model` encodes (see :mod:`jsqat_embed.tflite.codec`)."""
    strip = frozenset(strip)
    if strip - set(STRIPPABLE):
        raise JsqatError(f"cannot strip {', '.join(sorted(strip - set(STRIPPABLE)))}; strippable: {', '.join(STRIPPABLE)}")
    referenced_before = _buffers_referenced(model.tree or {})
    original = model.tree or {}
    if "metadata" in strip:
        original = {key: value for key, value in original.items()
                    if key not in ("description", "signature_defs", "metadata_buffer")}
        original["metadata"] = [e for e in (model.tree or {}).get("metadata", []) if e.get("name") in TFLM_METADATA]
        model = dataclasses.replace(model, description="",
                                    metadata={k: v for k, v in model.metadata.items() if k in TFLM_METADATA})
    options = _Options(lean, strip)
    root = dict(original)
    root["version"] = model.version
    if model.description or "description" in root:
        root["description"] = model.description
    buffers = _Buffers(model)
    codes = _OperatorCodes(original.get("operator_codes", []))
    original_subgraphs = original.get("subgraphs", [])
    subgraph_nodes, tensor_maps = [], []
    for index, subgraph in enumerate(model.subgraphs):
        before = original_subgraphs[index].get("tensors", []) if index < len(original_subgraphs) else []
        node, old_to_new = _subgraph(subgraph, index, before, codes, buffers, options)
        subgraph_nodes.append(node)
        tensor_maps.append(old_to_new)
    root["operator_codes"] = codes.nodes
    root["subgraphs"] = subgraph_nodes
    if "metadata" in root or model.metadata:
        root["metadata"] = _metadata(model, original.get("metadata", []), buffers)
        if not root["metadata"] and "metadata" in strip:
            root.pop("metadata")
    for index in original.get("metadata_buffer", []):
        buffers.keep(int(index))
    if "signature_defs" in root:
        root["signature_defs"] = [_signature(s, tensor_maps) for s in root["signature_defs"]]

    mapping = buffers.finish(referenced_before)
    root["buffers"] = buffers.kept
    for node in subgraph_nodes:
        for tensor in node["tensors"]:
            if "buffer" in tensor:
                tensor["buffer"] = mapping[tensor["buffer"]]
    for entry in root.get("metadata", []):
        if "buffer" in entry:
            entry["buffer"] = mapping[entry["buffer"]]
    if "metadata_buffer" in root:
        root["metadata_buffer"] = np.asarray([mapping[int(b)] for b in root["metadata_buffer"]], dtype=np.int32)
    return root


@dataclasses.dataclass(frozen=True)
class _Options:
    lean: bool = False
    strip: frozenset = frozenset()


# -- buffers -------------------------------------------------------------------------------------

class _Buffers:
    def __init__(self, model: Model) -> None:
        original = (model.tree or {}).get("buffers") or []
        self.nodes: list[dict] = []
        self.original_bytes: list[bytes] = []
        for index, node in enumerate(original):
            raw = buffer_bytes(node, model.source, f"buffer {index}")
            node = dict(node)
            if node.get("offset", 0) > 1:  # stored after the flatbuffer: inline it
                node.pop("offset")
                node.pop("size", None)
                node["data"] = raw
            self.nodes.append(node)
            self.original_bytes.append(raw)
        if not self.nodes:
            self.nodes.append({})  # buffer 0: the empty sentinel tensors without data point at
            self.original_bytes.append(b"")
        self.original_count = len(self.nodes)
        self.new_by_bytes: dict[bytes, int] = {}
        self.used = {0}
        self.kept: list[dict] = []

    def _is_original(self, index: int) -> bool:
        return 0 <= index < self.original_count

    def keep(self, index: int) -> int:
        """A buffer of the file read that something the graph does not model refers to."""
        if not self._is_original(index):
            raise JsqatError(f"buffer index {index} out of range ({self.original_count} buffers)")
        self.used.add(index)
        return index

    def for_bytes(self, index: int, raw: bytes) -> int:
        """The buffer for ``raw``: ``index`` when it already holds exactly these bytes."""
        if not raw:
            if self._is_original(index) and not self.original_bytes[index]:
                self.used.add(index)
                return index
            return 0
        if self._is_original(index) and self.original_bytes[index] == raw:
            self.used.add(index)
            return index
        found = self.new_by_bytes.get(raw)
        if found is None:
            found = len(self.nodes)
            self.nodes.append({"data": raw})
            self.new_by_bytes[raw] = found
        self.used.add(found)
        return found

    def for_tensor(self, tensor: Tensor) -> int:
        if tensor.data is None:
            return self.for_bytes(tensor.buffer_index if tensor.tree is not None else 0, b"")
        return self.for_bytes(tensor.buffer_index, _tensor_bytes(tensor))

    def finish(self, referenced_before: set[int]) -> dict[int, int]:
        """Drop the buffers an edit left unreferenced; returns old index -> new index."""
        keep = [i for i in range(len(self.nodes))
                if i in self.used or (i < self.original_count and i not in referenced_before)]
        self.kept = [self.nodes[i] for i in keep]
        return {old: new for new, old in enumerate(keep)}


def _tensor_bytes(tensor: Tensor) -> bytes:
    dtype = schema.NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None:
        raise JsqatError(f"{tensor.describe()}: cannot write constant data of type {tensor.dtype}")
    data = np.asarray(tensor.data)
    if data.size != tensor.size:
        raise JsqatError(f"{tensor.describe()}: data has {data.size} elements, its shape needs {tensor.size}")
    return np.ascontiguousarray(data, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def _buffers_referenced(original: dict) -> set[int]:
    found = {int(t.get("buffer", 0)) for s in original.get("subgraphs", []) for t in s.get("tensors", [])}
    found |= {int(m.get("buffer", 0)) for m in original.get("metadata", [])}
    found |= {int(b) for b in original.get("metadata_buffer", [])}
    return found


# -- operator codes ------------------------------------------------------------------------------

class _OperatorCodes:
    def __init__(self, original: list[dict]) -> None:
        self.nodes: list[dict] = []
        self.keys: list[tuple[str, bool, int]] = []
        for index, node in enumerate(original):
            key = operator_code(node, index)
            self.nodes.append(_code_node(node, key))
            self.keys.append(key)

    def index_for(self, operator: Operator) -> int:
        key = (operator.opcode, operator.is_custom, operator.version)
        previous = (operator.tree or {}).get("opcode_index")
        if previous is not None and previous < len(self.keys) and self.keys[previous] == key:
            return previous
        if key in self.keys:
            return self.keys.index(key)
        self.nodes.append(_code_node({}, key))
        self.keys.append(key)
        return len(self.keys) - 1


def _code_node(base: dict, key: tuple[str, bool, int]) -> dict:
    name, is_custom, version = key
    if not is_custom and name not in schema.BUILTIN_CODES:
        raise JsqatError(f"operator {name!r} is not a builtin operator of the TFLite schema (is it custom?)")
    code = schema.CUSTOM_CODE if is_custom else schema.BUILTIN_CODES[name]
    node = dict(base)
    node["builtin_code"] = code
    node["deprecated_builtin_code"] = min(code, schema.PLACEHOLDER_FOR_GREATER_OP_CODES)
    if is_custom:
        node["custom_code"] = name
    else:
        node.pop("custom_code", None)
    if version != 1 or "version" in node:
        node["version"] = version
    return node


# -- subgraphs, tensors, operators ---------------------------------------------------------------

def _subgraph(subgraph: Subgraph, index: int, before: list[dict], codes: _OperatorCodes,
              buffers: _Buffers, options: _Options = _Options()) -> tuple[dict, dict[int, int]]:
    node = dict(subgraph.tree) if subgraph.tree is not None else {}
    positions = {id(t): i for i, t in enumerate(subgraph.tensors)}
    old_to_new = _old_to_new(subgraph.tensors, before)
    owner = f"subgraph {index}"

    def indices(tensors: list, what: str, optional: bool) -> np.ndarray:
        out = []
        for tensor in tensors:
            if tensor is None and optional:
                out.append(-1)
            elif tensor is not None and id(tensor) in positions:
                out.append(positions[id(tensor)])
            else:
                label = "None" if tensor is None else tensor.describe()
                raise JsqatError(f"{owner}: {what} refers to {label}, which is not in the subgraph's tensors")
        return np.asarray(out, dtype=np.int32)

    node["tensors"] = [_tensor(t, i, buffers, options) for i, t in enumerate(subgraph.tensors)]
    node["inputs"] = indices(subgraph.inputs, "inputs", False)
    node["outputs"] = indices(subgraph.outputs, "outputs", False)
    operators = []
    for position, operator in enumerate(subgraph.operators):
        what = f"{owner} {operator.describe()}"
        op_node = _operator(operator, codes, what)
        op_node["inputs"] = indices(operator.inputs, f"{operator.describe()} inputs", True)
        op_node["outputs"] = indices(operator.outputs, f"{operator.describe()} outputs", False)
        if "intermediates" in op_node:
            op_node["intermediates"] = _remap(op_node["intermediates"], old_to_new, f"{what} intermediates")
        operators.append(op_node)
    node["operators"] = operators
    if "names" in options.strip:
        node.pop("name", None)
    elif subgraph.name != f"subgraph_{index}" or subgraph.tree is None or node.get("name"):
        node["name"] = subgraph.name  # the reader's placeholder for an unnamed subgraph is not written
    return node, old_to_new


def _old_to_new(tensors: list[Tensor], before: list[dict]) -> dict[int, int]:
    """Index in the file read -> index written, for tensors that came from the file."""
    by_node: dict[int, list[tuple[int, Tensor]]] = {}
    for position, tensor in enumerate(tensors):
        if tensor.tree is not None:
            by_node.setdefault(id(tensor.tree), []).append((position, tensor))
    out = {}
    for old, node in enumerate(before):
        found = by_node.get(id(node), [])
        exact = [p for p, t in found if t.index == old]
        if exact or found:
            out[old] = (exact or [found[0][0]])[0]
    return out


def _remap(values, old_to_new: dict[int, int], what: str) -> np.ndarray:
    out = []
    for value in np.asarray(values).tolist():
        if value < 0:
            out.append(value)
        elif value in old_to_new:
            out.append(old_to_new[value])
        else:
            raise JsqatError(f"{what}: tensor {value} of the file read is no longer in the model")
    return np.asarray(out, dtype=np.int32)


def _tensor(tensor: Tensor, index: int, buffers: _Buffers, options: _Options = _Options()) -> dict:
    node = dict(tensor.tree) if tensor.tree is not None else {}
    if tensor.shape or "shape" in node or tensor.tree is None:
        node["shape"] = np.asarray(tensor.shape, dtype=np.int32)
    if tensor.dtype not in schema.TENSOR_TYPE_CODES:
        raise JsqatError(f"{tensor.describe()}: {tensor.dtype} is not a TFLite tensor type")
    _set(node, "type", schema.TENSOR_TYPE_CODES[tensor.dtype], 0)
    _set(node, "buffer", buffers.for_tensor(tensor), 0)
    if "names" in options.strip:
        node.pop("name", None)
    elif tensor.tree is None or "name" in node or tensor.name != f"tensor_{tensor.index}":
        node["name"] = tensor.name
    quantization = tensor.quantization
    before = node.get("quantization")
    if quantization is None:
        # the reader maps a table without scales (min/max only) to None: keep such a table
        if before is not None and before.get("scale") is not None and len(before["scale"]):
            node.pop("quantization")
        elif "metadata" in options.strip:
            node.pop("quantization", None)  # min/max only: TFLM sees no quantization either way
    else:
        table = dict(before) if before is not None else {}
        table["scale"] = np.asarray(quantization.scale, dtype=np.float32).reshape(-1)
        zero_point = np.asarray(quantization.zero_point, dtype=np.int64).reshape(-1)
        narrow_before = before is not None and before.get("zero_point") is not None and len(before["zero_point"]) == 1
        if zero_point.size > 1 and np.all(zero_point == zero_point[0]) and (options.lean or narrow_before):
            zero_point = zero_point[:1]  # TFLM reads it for every channel
        table["zero_point"] = zero_point
        if "metadata" in options.strip:
            for key in ("min", "max", "details_type", "details"):
                table.pop(key, None)
        axis = quantization.axis if quantization.file_axis is None else quantization.file_axis
        if axis or "quantized_dimension" in table:
            table["quantized_dimension"] = int(axis)
        node["quantization"] = table
    if tensor.is_variable or "is_variable" in node:
        node["is_variable"] = bool(tensor.is_variable)
    if tensor.shape_signature is None or "metadata" in options.strip:
        node.pop("shape_signature", None)
    else:
        node["shape_signature"] = np.asarray(tensor.shape_signature, dtype=np.int32)
    return node


def _set(node: dict, key: str, value, default) -> None:
    """Write a scalar field when the table had it or it is not the schema default."""
    if key in node or value != default:
        node[key] = value


def _operator(operator: Operator, codes: _OperatorCodes, owner: str) -> dict:
    node = dict(operator.tree) if operator.tree is not None else {}
    _set(node, "opcode_index", codes.index_for(operator), 0)
    found = None if operator.is_custom else schema.options_field_for(operator.opcode)
    if found is not None:
        field, table, union_type = found
        for other in ("builtin_options", "builtin_options_2"):
            if other != field and node.get(f"{other}_type", 0):
                node.pop(other, None)
                node.pop(f"{other}_type", None)
        had = node.get(f"{field}_type", 0) == union_type
        options = from_options(operator.options, table, node.get(field) if had else None, f"{owner} options")
        if had or operator.tree is None or options:
            node[f"{field}_type"] = union_type
            node[field] = options
        else:
            node.pop(f"{field}_type", None)
            node.pop(field, None)
    node.pop("large_custom_options_offset", None)
    node.pop("large_custom_options_size", None)
    if operator.custom_options is not None:
        node["custom_options"] = bytes(operator.custom_options)
    else:
        node.pop("custom_options", None)
    return node


# -- model-level tables --------------------------------------------------------------------------

def _metadata(model: Model, before: list[dict], buffers: _Buffers) -> list[dict]:
    # the reader keeps the last entry of a repeated name; earlier ones are written as they were
    last = {}
    for i, entry in enumerate(before):
        last[entry.get("name") or f"metadata_{i}"] = i
    entries, written = [], set()
    for i, entry in enumerate(before):
        key = entry.get("name") or f"metadata_{i}"
        if last[key] != i:
            entries.append(dict(entry, buffer=buffers.keep(entry.get("buffer", 0))))
            continue
        if key not in model.metadata:
            continue  # removed by an edit
        written.add(key)
        entries.append(dict(entry, buffer=buffers.for_bytes(entry.get("buffer", 0), bytes(model.metadata[key]))))
    for key, value in model.metadata.items():
        if key not in written:
            entries.append({"name": key, "buffer": buffers.for_bytes(-1, bytes(value))})
    return entries


def _signature(signature: dict, tensor_maps: list[dict[int, int]]) -> dict:
    subgraph = signature.get("subgraph_index", 0)
    if subgraph >= len(tensor_maps):
        return signature
    out = dict(signature)
    for side in ("inputs", "outputs"):
        entries = []
        for entry in out.get(side, []):
            entry = dict(entry)
            where = f"signature {signature.get('signature_key', '')!r} {side}"
            _set(entry, "tensor_index", int(_remap([entry.get("tensor_index", 0)], tensor_maps[subgraph], where)[0]), 0)
            entries.append(entry)
        if side in out:
            out[side] = entries
    return out
