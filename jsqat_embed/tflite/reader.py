""".tflite bytes -> :class:`jsqat_embed.graph.Model`, validating everything.

The only module that knows which flatbuffer slot holds which field. It accepts
what TFLM accepts (for example per-tensor quantization that declares a
``quantized_dimension`` beyond the tensor's rank, as in TFLM's person-detection
model) and refuses, with a one-line :class:`ModelFormatError`, whatever would
make a runtime read out of bounds: offsets outside the file, buffers out of
range, data sizes that disagree with shapes, absurd shapes, operators that read
a tensor before any operator writes it (cycles or bad order).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jsqat_embed.errors import ModelFormatError
from jsqat_embed.graph.model import Model, Operator, Quantization, Subgraph, Tensor
from jsqat_embed.tflite import schema
from jsqat_embed.tflite.flatbuffer import Buffer, Table

FILE_IDENTIFIER = b"TFL3"

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
        try:
            data = path.read_bytes()
        except IsADirectoryError as exc:
            raise ModelFormatError(f"{path}: is a directory, not a .tflite file") from exc
        except OSError as exc:
            raise ModelFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        label = name or path.stem
    try:
        return _read(data, label)
    except ModelFormatError as exc:
        if isinstance(source, (bytes, bytearray, memoryview)):
            raise
        raise ModelFormatError(f"{source}: {exc}") from exc
    except (RecursionError, MemoryError, OverflowError, ValueError) as exc:
        raise ModelFormatError(f"{label}: malformed model ({type(exc).__name__}: {exc})") from exc


def _read(data: bytes, label: str) -> Model:
    buf = Buffer(data)
    if len(data) >= 8 and data[4:8] != FILE_IDENTIFIER:
        raise ModelFormatError(
            f"not a TFLite model: file identifier is {bytes(data[4:8])!r}, expected {FILE_IDENTIFIER!r}"
        )
    root = buf.root()
    version = root.scalar(0, "uint32", 0)
    if version != 3:
        raise ModelFormatError(f"schema version {version} is not supported (TFLM reads version 3)")

    operator_codes = [_operator_code(t, i) for i, t in enumerate(root.tables(1, "operator_codes", MAX_OPERATORS))]
    buffers = root.tables(4, "buffers", MAX_BUFFERS)
    buffer_data = _BufferData(buf, buffers)

    metadata: dict[str, bytes] = {}
    for i, entry in enumerate(root.tables(6, "metadata", MAX_BUFFERS)):
        key = entry.string(0, "name") or f"metadata_{i}"
        metadata[key] = buffer_data.get(entry.scalar(1, "uint32", 0), f"metadata '{key}'")

    subgraph_tables = root.tables(2, "subgraphs", MAX_SUBGRAPHS)
    if not subgraph_tables:
        raise ModelFormatError("model has no subgraph")
    subgraphs = [_subgraph(t, i, operator_codes, buffer_data) for i, t in enumerate(subgraph_tables)]
    return Model(
        version=version,
        description=root.string(3, "description") or "",
        subgraphs=subgraphs,
        metadata=metadata,
        source=data,
        name=label,
    )


class _BufferData:
    """Resolves buffer indices to bytes; also handles buffers stored after the flatbuffer."""

    def __init__(self, buf: Buffer, tables: list[Table]) -> None:
        self.buf = buf
        self.tables = tables

    def get(self, index: int, owner: str) -> bytes:
        if index >= len(self.tables):
            raise ModelFormatError(f"{owner}: buffer index {index} out of range (model has {len(self.tables)} buffers)")
        table = self.tables[index]
        inline = table.bytes(0, "data")
        if inline is not None and len(inline):
            return bytes(inline)
        offset = table.scalar(1, "uint64", 0)
        size = table.scalar(2, "uint64", 0)
        if offset > 1:  # offset 1 is the converter's "no data" sentinel
            self.buf.check(offset, size, f"{owner}: external buffer {index}")
            return bytes(self.buf.data[offset : offset + size])
        return b""


def _operator_code(table: Table, index: int) -> tuple[str, bool, int]:
    deprecated = table.scalar(0, "int8", 0)
    builtin = max(table.scalar(3, "int32", 0), deprecated)
    version = table.scalar(2, "int32", 1)
    if builtin < 0 or builtin >= len(schema.BUILTIN_OPERATORS):
        raise ModelFormatError(f"operator code {index}: unknown builtin operator {builtin}")
    name = schema.BUILTIN_OPERATORS[builtin]
    if name == "CUSTOM":
        custom = table.string(1, "custom_code")
        if not custom:
            raise ModelFormatError(f"operator code {index}: CUSTOM operator without a custom_code")
        return custom, True, version
    return name, False, version


def _quantization(table: Table | None, owner: str) -> Quantization | None:
    if table is None:
        return None
    scale = table.array(2, "float32", "scale")
    zero_point = table.array(3, "int64", "zero_point")
    if scale is None or scale.size == 0:
        return None  # min/max only, or empty: not quantized as far as TFLM is concerned
    if zero_point is None or zero_point.size != scale.size:
        got = 0 if zero_point is None else zero_point.size
        raise ModelFormatError(f"{owner}: {scale.size} quantization scales but {got} zero points")
    if not np.all(np.isfinite(scale)):
        raise ModelFormatError(f"{owner}: quantization scale is not finite")
    return Quantization(scale=scale, zero_point=zero_point, axis=table.scalar(6, "int32", 0))


def _tensor(table: Table, index: int, buffer_data: _BufferData) -> Tensor:
    name = table.string(3, "name") or f"tensor_{index}"
    owner = f"tensor {index} '{name}'"
    shape_array = table.array(0, "int32", "shape")
    shape = tuple(int(d) for d in shape_array) if shape_array is not None else ()
    if len(shape) > MAX_RANK:
        raise ModelFormatError(f"{owner}: rank {len(shape)} exceeds {MAX_RANK}")
    if any(d < 0 for d in shape):
        raise ModelFormatError(f"{owner}: negative dimension in shape {list(shape)} (dynamic shapes are not supported by TFLM)")
    type_code = table.scalar(1, "int8", 0)
    if type_code not in schema.TENSOR_TYPES:
        raise ModelFormatError(f"{owner}: unknown tensor type {type_code}")
    dtype = schema.TENSOR_TYPES[type_code]
    if table.has(6):
        raise ModelFormatError(f"{owner}: sparse (TACO) tensors are not supported by TFLM")
    if table.scalar(10, "uint32", 0):
        raise ModelFormatError(f"{owner}: external-buffer tensors are not supported by TFLM")
    signature = table.array(7, "int32", "shape_signature")
    tensor = Tensor(
        index=index,
        name=name,
        shape=shape,
        dtype=dtype,
        quantization=_quantization(table.table(4, "quantization"), owner),
        buffer_index=table.scalar(2, "uint32", 0),
        is_variable=bool(table.scalar(5, "bool", False)),
        shape_signature=tuple(int(d) for d in signature) if signature is not None else None,
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
        array = np.frombuffer(raw, dtype=np.dtype(schema.NUMPY_DTYPES[dtype]).newbyteorder("<"))
        tensor.data = array.astype(schema.NUMPY_DTYPES[dtype], copy=False).reshape(shape)
    elif dtype in schema.NUMPY_DTYPES:
        nbytes = elements * np.dtype(schema.NUMPY_DTYPES[dtype]).itemsize
        if nbytes > MAX_ACTIVATION_BYTES:
            raise ModelFormatError(f"{owner}: shape {list(shape)} needs {nbytes} bytes, an absurd size for a tensor")
    quant = tensor.quantization
    if quant is not None and quant.per_channel:
        if not 0 <= quant.axis < max(len(shape), 1) or shape[quant.axis] != quant.channels:
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


def _options(table: Table, opcode: str, owner: str) -> dict:
    spec = schema.BUILTIN_OPTIONS.get(opcode)
    union_type = table.scalar(3, "uint8", 0)
    if spec is None:
        return {}
    expected_type, fields = spec
    options_table = table.table(4, "builtin_options") if union_type else None
    if options_table is not None and union_type != expected_type:
        raise ModelFormatError(f"{owner}: builtin_options has union type {union_type}, expected {expected_type}")
    options = {}
    for field_name, slot, kind, default in fields:
        if kind == "int32[]":
            value = None if options_table is None else options_table.array(slot, "int32", field_name)
            options[field_name] = None if value is None else [int(v) for v in value]
        elif kind in ("padding", "activation"):
            raw = default if options_table is None else options_table.scalar(slot, "int8", default)
            names = schema.PADDING if kind == "padding" else schema.ACTIVATIONS
            if raw not in names:
                raise ModelFormatError(f"{owner}: invalid {field_name} value {raw}")
            options[field_name] = names[raw]
        else:
            options[field_name] = default if options_table is None else options_table.scalar(slot, kind, default)
    return options


def _operator(table: Table, index: int, codes: list, tensors: list[Tensor], buf: Buffer) -> Operator:
    code_index = table.scalar(0, "uint32", 0)
    if code_index >= len(codes):
        raise ModelFormatError(f"operator {index}: opcode index {code_index} out of range ({len(codes)} codes)")
    opcode, is_custom, version = codes[code_index]
    owner = f"operator {index} ({opcode})"
    custom = table.bytes(5, "custom_options")
    custom_options = bytes(custom) if custom is not None else None
    large_offset = table.scalar(9, "uint64", 0)
    if large_offset:
        large_size = table.scalar(10, "uint64", 0)
        buf.check(large_offset, large_size, f"{owner}: large custom options")
        custom_options = bytes(buf.data[large_offset : large_offset + large_size])
    return Operator(
        index=index,
        opcode=opcode,
        is_custom=is_custom,
        version=version,
        inputs=_tensor_list(table.array(1, "int32", "inputs"), tensors, owner, optional=True),
        outputs=_tensor_list(table.array(2, "int32", "outputs"), tensors, owner, optional=False),
        options=_options(table, opcode, owner),
        custom_options=custom_options,
    )


def _subgraph(table: Table, index: int, codes: list, buffer_data: _BufferData) -> Subgraph:
    tensors = [_tensor(t, i, buffer_data) for i, t in enumerate(table.tables(0, "tensors", MAX_TENSORS))]
    owner = f"subgraph {index}"
    inputs = _tensor_list(table.array(1, "int32", "inputs"), tensors, f"{owner} inputs", optional=False)
    outputs = _tensor_list(table.array(2, "int32", "outputs"), tensors, f"{owner} outputs", optional=False)
    operators = [
        _operator(t, i, codes, tensors, buffer_data.buf)
        for i, t in enumerate(table.tables(3, "operators", MAX_OPERATORS))
    ]
    _check_order(operators, inputs, outputs, owner)
    return Subgraph(name=table.string(4, "name") or f"subgraph_{index}", tensors=tensors,
                    operators=operators, inputs=inputs, outputs=outputs)


def _check_order(operators: list[Operator], inputs: list[Tensor], outputs: list[Tensor], owner: str) -> None:
    """Every value an operator reads must exist before it runs: no cycles, no dangling reads."""
    ready = {id(t) for t in inputs}
    for op in operators:
        for tensor in op.inputs:
            if tensor is None or tensor.is_constant or tensor.is_variable or id(tensor) in ready:
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
