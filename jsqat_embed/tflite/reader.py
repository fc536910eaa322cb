""".tflite bytes -> :class:`jsqat_embed.graph.Model`, validating everything.

The file is decoded whole by :mod:`codec` (driven by the generated schema
tables); each graph object keeps the table it came from, so the writer can
give back what the graph does not model. The reader accepts
what TFLM accepts (for example per-tensor quantization that declares a
``quantized_dimension`` beyond the tensor's rank, as in TFLM's person-detection
model) and refuses, with a one-line :class:`ModelFormatError`, whatever would
make a runtime read out of bounds: offsets outside the file, buffers out of
range, data sizes that disagree with shapes, absurd shapes, operators that read
a tensor before any operator writes it (cycles or bad order). Last, every operator's
declared shapes are checked against those TFLM's Prepare computes, required inputs
against ``-1``, and the model against resource bounds (:mod:`jsqat_embed.ops.shapes`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jsqat_embed.errors import ModelFormatError
from jsqat_embed.graph.model import Model, Operator, Quantization, Subgraph, Tensor
from jsqat_embed.tflite import codec, schema, schema_tables
from jsqat_embed.tflite.options import to_options

FILE_IDENTIFIER = schema_tables.FILE_IDENTIFIER

# Bounds that no microcontroller model comes near; they stop hostile files from
# making us loop or allocate for long.
MAX_SUBGRAPHS = 1_000
MAX_TENSORS = 200_000
MAX_OPERATORS = 100_000
MAX_BUFFERS = 1_000_000
MAX_RANK = 8
MAX_ACTIVATION_BYTES = 1 << 28  # 256 MiB for one non-constant tensor


def read_model(source: str | os.PathLike | bytes | bytearray | memoryview, name: str | None = None) -> Model:
    """Read a .tflite model from a path or from its bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "model"
    else:
        path = Path(source)
        data = read_model_file(path)
        label = name or path.stem
    try:
        return _read(data, label)
    except ModelFormatError as exc:
        if isinstance(source, (bytes, bytearray, memoryview)):
            raise
        raise ModelFormatError(f"{source}: {exc}") from exc
    except (RecursionError, MemoryError, OverflowError, ValueError) as exc:
        raise ModelFormatError(f"{label}: malformed model ({type(exc).__name__}: {exc})") from exc


#: A flatbuffer's 32-bit offsets reach 2 GiB at most; a larger file is not a model.
MAX_MODEL_FILE_BYTES = 1 << 31


def read_model_file(path: str | os.PathLike) -> bytes:
    """The bytes of a model file. Only a regular file of at most 2 GiB is read: a FIFO
    would block forever and a device such as /dev/zero never ends."""
    import stat

    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ModelFormatError(f"{path}: is a directory, not a .tflite file")
        if not stat.S_ISREG(info.st_mode):
            raise ModelFormatError(f"{path}: not a regular file (a FIFO, device or socket is not read as a model)")
        if info.st_size > MAX_MODEL_FILE_BYTES:
            raise ModelFormatError(f"{path}: {info.st_size:,} bytes, more than a .tflite flatbuffer can address")
        with open(path, "rb", opener=lambda name, flags: os.open(name, flags | getattr(os, "O_NONBLOCK", 0))) as file:
            # the size stat gave, plus one byte to notice growth: never a 2 GiB buffer up front
            data = file.read(info.st_size + 1)
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(data) > MAX_MODEL_FILE_BYTES:
        raise ModelFormatError(f"{path}: more than {MAX_MODEL_FILE_BYTES:,} bytes; not a .tflite flatbuffer")
    return data


def _read(data: bytes, label: str) -> Model:
    if len(data) >= 8 and data[4:8] != FILE_IDENTIFIER:
        raise ModelFormatError(
            f"not a TFLite model: file identifier is {bytes(data[4:8])!r}, expected {FILE_IDENTIFIER!r}"
        )
    root = codec.decode(data)
    version = root.get("version", 0)
    if version != 3:
        raise ModelFormatError(f"schema version {version} is not supported (TFLM reads version 3)")

    codes = root.get("operator_codes", [])
    _limit(codes, MAX_OPERATORS, "operator_codes")
    operator_codes = [operator_code(node, i) for i, node in enumerate(codes)]
    buffers = root.get("buffers", [])
    _limit(buffers, MAX_BUFFERS, "buffers")
    buffer_data = _BufferData(data, buffers)

    metadata: dict[str, bytes] = {}
    for i, entry in enumerate(root.get("metadata", [])):
        key = entry.get("name") or f"metadata_{i}"
        metadata[key] = buffer_data.get(entry.get("buffer", 0), f"metadata '{key}'")

    subgraph_nodes = root.get("subgraphs", [])
    _limit(subgraph_nodes, MAX_SUBGRAPHS, "subgraphs")
    if not subgraph_nodes:
        raise ModelFormatError("model has no subgraph")
    subgraphs = [_subgraph(node, i, operator_codes, buffer_data) for i, node in enumerate(subgraph_nodes)]
    model = Model(
        version=version,
        description=root.get("description") or "",
        subgraphs=subgraphs,
        metadata=metadata,
        source=data,
        name=label,
        tree=root,
    )
    # Shapes as TFLM's Prepare computes them, required inputs and resource bounds, before anything runs.
    from jsqat_embed.ops.shapes import check_model

    check_model(model)
    return model


def _limit(items: list, limit: int, what: str) -> None:
    if len(items) > limit:
        raise ModelFormatError(f"Model.{what}: {len(items)} entries exceed the limit of {limit}")


class _BufferData:
    """Resolves buffer indices to bytes; also handles buffers stored after the flatbuffer."""

    def __init__(self, data: bytes, nodes: list[dict]) -> None:
        self.data = data
        self.nodes = nodes

    def get(self, index: int, owner: str) -> bytes:
        if index >= len(self.nodes):
            raise ModelFormatError(f"{owner}: buffer index {index} out of range (model has {len(self.nodes)} buffers)")
        return buffer_bytes(self.nodes[index], self.data, f"{owner}: buffer {index}")


def buffer_bytes(node: dict, data: bytes, owner: str) -> bytes:
    """The bytes of one Buffer table: inline, or stored after the flatbuffer (offset > 1)."""
    inline = node.get("data")
    if inline:
        return inline
    offset, size = node.get("offset", 0), node.get("size", 0)
    if offset > 1:  # offset 1 is the converter's "no data" sentinel
        if offset + size > len(data):
            raise ModelFormatError(
                f"{owner}: external bytes {offset}..{offset + size} lie outside the {len(data)}-byte file"
            )
        return bytes(data[offset : offset + size])
    return b""


def operator_code(node: dict, index: int) -> tuple[str, bool, int]:
    """(operator name or custom code, is custom, version) of one OperatorCode table.

    Files from before TF 2.4 only fill the int8 ``deprecated_builtin_code``;
    newer ones fill both, so the operator is the larger of the two.
    """
    builtin = max(node.get("builtin_code", 0), node.get("deprecated_builtin_code", 0))
    version = node.get("version", 1)
    if builtin < 0 or builtin >= len(schema.BUILTIN_OPERATORS):
        raise ModelFormatError(f"operator code {index}: unknown builtin operator {builtin}")
    name = schema.BUILTIN_OPERATORS[builtin]
    if name == "CUSTOM":
        custom = node.get("custom_code")
        if not custom:
            raise ModelFormatError(f"operator code {index}: CUSTOM operator without a custom_code")
        return custom, True, version
    return name, False, version


#: the zero points a quantized tensor of each type can have (TFLite's quantization spec: a
#: zero point is a value of the tensor's type)
_ZERO_POINT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-(1 << 15), (1 << 15) - 1),
                      "int4": (-8, 7)}


def _quantization(node: dict | None, owner: str, dtype: str = "") -> Quantization | None:
    if node is None:
        return None
    scale = node.get("scale")
    zero_point = node.get("zero_point")
    if scale is None or scale.size == 0:
        return None  # min/max only, or empty: not quantized as far as TFLM is concerned
    if zero_point is None or zero_point.size == 0:
        raise ModelFormatError(f"{owner}: {scale.size} quantization scales but 0 zero points")
    if zero_point.size != scale.size:
        # TFLM then reads zero point 0 for every channel (micro_allocator.cc: the
        # "space-saving" form of weights' zero points, which the lean writer uses)
        zero_point = np.full(scale.size, zero_point[0], dtype=zero_point.dtype)
    if not np.all(np.isfinite(scale)):
        raise ModelFormatError(f"{owner}: quantization scale is not finite")
    outside = zero_point[(zero_point < -(1 << 31)) | (zero_point >= 1 << 31)]
    if outside.size:
        # micro_allocator.cc keeps zero points as int32 (static_cast of the file's int64): TFLM would
        # compute with the low 32 bits, which no converter writes on purpose.
        wrapped = (int(outside[0]) + (1 << 31)) % (1 << 32) - (1 << 31)
        raise ModelFormatError(f"{owner}: zero point {int(outside[0])} does not fit the int32 TFLM keeps it in "
                               f"(TFLM would compute with {wrapped})")
    if dtype in _ZERO_POINT_RANGES:
        low, high = _ZERO_POINT_RANGES[dtype]
        outside = zero_point[(zero_point < low) | (zero_point > high)]
        if outside.size:
            # TFLM does not check: its kernels add the zero point in int32 arithmetic (an output
            # offset after requantization, an activation bound) that then overflows, which is
            # undefined in C (the x86 wheel wraps), so no result would be TFLM's
            raise ModelFormatError(f"{owner}: zero point {int(outside[0])} is outside {dtype}'s range "
                                   f"[{low}, {high}] (TFLM's int32 arithmetic with it can overflow)")
    return Quantization(scale=scale, zero_point=zero_point, axis=node.get("quantized_dimension", 0))


def _tensor(node: dict, index: int, buffer_data: _BufferData) -> Tensor:
    name = node.get("name") or f"tensor_{index}"
    owner = f"tensor {index} '{name}'"
    shape_array = node.get("shape")
    shape = tuple(int(d) for d in shape_array) if shape_array is not None else ()
    if len(shape) > MAX_RANK:
        raise ModelFormatError(f"{owner}: rank {len(shape)} exceeds {MAX_RANK}")
    if any(d < 0 for d in shape):
        raise ModelFormatError(f"{owner}: negative dimension in shape {list(shape)} (dynamic shapes are not supported by TFLM)")
    type_code = node.get("type", 0)
    if type_code not in schema.TENSOR_TYPES:
        raise ModelFormatError(f"{owner}: unknown tensor type {type_code}")
    dtype = schema.TENSOR_TYPES[type_code]
    if "sparsity" in node:
        raise ModelFormatError(f"{owner}: sparse (TACO) tensors are not supported by TFLM")
    if node.get("external_buffer", 0):
        raise ModelFormatError(f"{owner}: external-buffer tensors are not supported by TFLM")
    signature = node.get("shape_signature")
    tensor = Tensor(
        index=index,
        name=name,
        shape=shape,
        dtype=dtype,
        quantization=_quantization(node.get("quantization"), owner, dtype),
        buffer_index=node.get("buffer", 0),
        is_variable=bool(node.get("is_variable", False)),
        shape_signature=tuple(int(d) for d in signature) if signature is not None else None,
        tree=node,
    )
    elements = int(np.prod([int(d) for d in shape], dtype=object)) if shape else 1
    raw = buffer_data.get(tensor.buffer_index, owner)
    if raw:
        if dtype not in schema.NUMPY_DTYPES:
            raise ModelFormatError(f"{owner}: constant data of type {dtype} is not supported")
        itemsize = np.dtype(schema.NUMPY_DTYPES[dtype]).itemsize
        if len(raw) != elements * itemsize:
            raise ModelFormatError(
                f"{owner}: buffer {tensor.buffer_index} holds {len(raw)} bytes but shape "
                f"{list(shape)} of {dtype} needs {elements * itemsize}"
            )
        if tensor.is_variable:
            # micro_allocator.cc plans a variable tensor in the arena and ResetVariableTensors fills it
            # with its zero point: the buffer's data is never read
            raise ModelFormatError(f"{owner}: a variable tensor with constant data (buffer {tensor.buffer_index}); "
                                   f"TFLM ignores the data and starts it from its zero point")
        array = np.frombuffer(raw, dtype=np.dtype(schema.NUMPY_DTYPES[dtype]).newbyteorder("<"))
        tensor.data = array.astype(schema.NUMPY_DTYPES[dtype], copy=False).reshape(shape)
    elif dtype in schema.NUMPY_DTYPES:
        nbytes = elements * np.dtype(schema.NUMPY_DTYPES[dtype]).itemsize
        if nbytes > MAX_ACTIVATION_BYTES:
            raise ModelFormatError(f"{owner}: shape {list(shape)} needs {nbytes} bytes, an absurd size for a tensor")
    quant = tensor.quantization
    if quant is not None and quant.per_channel:
        if len(shape) == 1 and shape[0] == quant.channels and quant.axis != 0:
            # A 1-D tensor has one axis to be per-channel along, whatever the file says: TFLM's own
            # person_detect.tflite declares quantized_dimension 3 on its [8] biases, and TFLM never
            # checks it. The declared value is kept for the writer.
            quant.file_axis, quant.axis = quant.axis, 0
        if not 0 <= quant.axis < len(shape) or shape[quant.axis] != quant.channels:
            raise ModelFormatError(
                f"{owner}: {quant.channels} per-channel scales do not match quantized dimension "
                f"{quant.axis} of shape {list(shape)}"
            )
    return tensor


def _tensor_list(indices: np.ndarray | None, tensors: list[Tensor], owner: str, optional: bool) -> list:
    out = []
    for raw in ([] if indices is None else indices.tolist()):
        if raw == -1 and optional:
            out.append(None)
        elif 0 <= raw < len(tensors):
            out.append(tensors[raw])
        else:
            raise ModelFormatError(f"{owner}: tensor index {raw} out of range (subgraph has {len(tensors)} tensors)")
    return out


def _options(node: dict, opcode: str, is_custom: bool, owner: str) -> dict:
    found = None if is_custom else schema.options_field_for(opcode)
    if found is None:
        return {}
    field, table, expected_type = found
    union_type = node.get(f"{field}_type", 0)
    if union_type and union_type != expected_type:
        raise ModelFormatError(f"{owner}: {field} has union type {union_type}, expected {expected_type} ({table})")
    return to_options(node.get(field) if union_type else None, table, owner)


def _operator(node: dict, index: int, codes: list, tensors: list[Tensor], data: bytes) -> Operator:
    code_index = node.get("opcode_index", 0)
    if code_index >= len(codes):
        raise ModelFormatError(f"operator {index}: opcode index {code_index} out of range ({len(codes)} codes)")
    opcode, is_custom, version = codes[code_index]
    owner = f"operator {index} ({opcode})"
    custom_options = node.get("custom_options")
    large_offset = node.get("large_custom_options_offset", 0)
    if large_offset > 1:
        large_size = node.get("large_custom_options_size", 0)
        if large_offset + large_size > len(data):
            raise ModelFormatError(f"{owner}: large custom options lie outside the {len(data)}-byte file")
        custom_options = bytes(data[large_offset : large_offset + large_size])
    for tensor in _tensor_list(node.get("intermediates"), tensors, f"{owner} intermediates", optional=False):
        if tensor.size:
            # micro_allocator.cc: "Does not support intermediate tensor with non-zero size" (an LSTM's
            # intermediates only carry quantization parameters)
            raise ModelFormatError(f"{owner}: intermediate {tensor.describe()} has {tensor.size} elements; TFLM "
                                   f"refuses an intermediate tensor of non-zero size")
    return Operator(
        index=index,
        opcode=opcode,
        is_custom=is_custom,
        version=version,
        inputs=_tensor_list(node.get("inputs"), tensors, owner, optional=True),
        outputs=_tensor_list(node.get("outputs"), tensors, owner, optional=False),
        options=_options(node, opcode, is_custom, owner),
        custom_options=custom_options,
        tree=node,
    )


def _subgraph(node: dict, index: int, codes: list, buffer_data: _BufferData) -> Subgraph:
    tensor_nodes = node.get("tensors", [])
    if len(tensor_nodes) > MAX_TENSORS:
        raise ModelFormatError(f"subgraph {index}: {len(tensor_nodes)} tensors exceed the limit of {MAX_TENSORS}")
    operator_nodes = node.get("operators", [])
    if len(operator_nodes) > MAX_OPERATORS:
        raise ModelFormatError(f"subgraph {index}: {len(operator_nodes)} operators exceed the limit of {MAX_OPERATORS}")
    tensors = [_tensor(t, i, buffer_data) for i, t in enumerate(tensor_nodes)]
    owner = f"subgraph {index}"
    inputs = _tensor_list(node.get("inputs"), tensors, f"{owner} inputs", optional=False)
    outputs = _tensor_list(node.get("outputs"), tensors, f"{owner} outputs", optional=False)
    for tensor in inputs:
        if tensor.is_constant:
            # TFLM does not plan such an input in the arena but points it at the model's buffer: the
            # wheel writes the input into its copy of the model, a device cannot (flash)
            raise ModelFormatError(f"{owner}: input {tensor.describe()} has constant data (buffer "
                                   f"{tensor.buffer_index}); TFLM would point the input at the model's own buffer")
    if index == 0 and not outputs:
        # the tflite-micro wheel dies (SIGSEGV) loading a model whose main subgraph has no outputs
        raise ModelFormatError(f"{owner}: no outputs (TFLM crashes on such a model; it would compute nothing)")
    operators = [_operator(t, i, codes, tensors, buffer_data.data) for i, t in enumerate(operator_nodes)]
    _check_order(operators, inputs, outputs, owner)
    return Subgraph(name=node.get("name") or f"subgraph_{index}", tensors=tensors,
                    operators=operators, inputs=inputs, outputs=outputs, tree=node)


def _check_order(operators: list[Operator], inputs: list[Tensor], outputs: list[Tensor], owner: str) -> None:
    """Every value an operator reads must exist before it runs: no cycles, no reads of a value
    a later operator writes. A tensor no operator writes is allowed (TFLM plans it as a buffer)."""
    ready = {id(t) for t in inputs}
    written = {id(t) for op in operators for t in op.outputs}
    for op in operators:
        for tensor in op.inputs:
            if tensor is None or tensor.is_constant or tensor.is_variable or id(tensor) in ready:
                continue
            if id(tensor) not in written:
                # Never written by any operator: a buffer TFLM plans from the start for the op to use
                # as it likes (Vela's scratch tensors for the ethos-u op); its content is undefined.
                continue
            raise ModelFormatError(
                f"{op.describe()} reads {tensor.describe()} before any operator writes it "
                f"(a cycle or operators out of order)"
            )
        for tensor in op.outputs:
            if tensor.is_constant:
                raise ModelFormatError(f"{op.describe()} writes into constant {tensor.describe()}")
            ready.add(id(tensor))
    for tensor in outputs:
        if id(tensor) not in ready and not tensor.is_constant:
            raise ModelFormatError(f"{owner}: output {tensor.describe()} is never written")
