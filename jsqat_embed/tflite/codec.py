"""The .tflite flatbuffer as a plain tree, both ways, driven by the generated schema.

:func:`decode` turns the bytes into nested dicts keyed by schema field name,
holding only the fields the file has (so "absent" and "present with the
default value" stay distinct): scalars and enums as Python numbers, strings as
``str``, ``[ubyte]`` vectors as ``bytes``, other scalar vectors as numpy arrays,
tables as dicts, vectors of tables as lists, and each union as two entries,
``<name>_type`` (the member index) and ``<name>`` (the member table). Every read
goes through :mod:`flatbuffer`'s checked reader, so a hostile file gives a
:class:`ModelFormatError`, never a crash or an unbounded allocation.

:func:`encode` is the inverse: it writes such a tree with the ``flatbuffers``
package's ``Builder``, field for field, honouring the schema's ``force_align``
(``Buffer.data`` is 16-byte aligned, as TFLM reads int16/int32/int64/float
constants in place and TFLM's own re-alignment tool guarantees), with the
"TFL3" file identifier. Files of 2 GiB and more (which need buffers stored
after the flatbuffer) are refused.
"""

from __future__ import annotations

import flatbuffers
import numpy as np

from jsqat_embed.errors import JsqatError, ModelFormatError
from jsqat_embed.tflite import schema_tables as tables
from jsqat_embed.tflite.flatbuffer import Buffer, Table

#: a vector of tables longer than this is refused before it is walked
MAX_VECTOR = 1_000_000
#: the schema has no recursive tables; this only guards against a broken schema module
MAX_DEPTH = 32
#: the largest file the flatbuffers Builder (32-bit offsets) can write
MAX_FILE_BYTES = (1 << 31) - 1

_FIELDS_BY_NAME = {name: {f.name: f for f in fields} for name, fields in tables.TABLES.items()}


def decode(data: bytes | bytearray | memoryview, root: str = tables.ROOT_TABLE) -> dict:
    """The tree of a flatbuffer whose root table is ``root``."""
    buffer = Buffer(bytes(data))
    return _decode_table(buffer.root(), root, 0)


def _decode_table(table: Table, name: str, depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise ModelFormatError(f"{table.path}: tables nested deeper than {MAX_DEPTH}")
    node: dict = {}
    for field in tables.TABLES[name]:
        if not table.has(field.slot):
            continue
        kind, slot, label = field.kind, field.slot, field.name
        if kind == "scalar":
            node[label] = table.scalar(slot, field.type, field.default)
        elif kind == "enum":
            node[label] = table.scalar(slot, tables.ENUMS[field.type][0], field.default)
        elif kind == "union_type":
            node[label] = table.scalar(slot, "uint8", 0)
        elif kind == "union":
            member_index = node.get(f"{label}_type", 0)
            if not member_index:
                continue  # a value without a type is unreadable; TFLite ignores it too
            member = tables.UNIONS[field.type].get(member_index)
            if member is None:
                raise ModelFormatError(f"{table.path}.{label}: unknown {field.type} union type {member_index}")
            node[label] = _decode_table(table.table(slot, label), member, depth + 1)
        elif kind == "string":
            node[label] = table.string(slot, label)
        elif kind == "table":
            node[label] = _decode_table(table.table(slot, label), field.type, depth + 1)
        elif kind in ("vector", "vector_enum"):
            scalar = field.type if kind == "vector" else tables.ENUMS[field.type][0]
            if scalar == "uint8":
                node[label] = bytes(table.bytes(slot, label))
            elif scalar == "bool":
                node[label] = table.array(slot, "uint8", label) != 0
            else:
                node[label] = table.array(slot, scalar, label)
        elif kind == "vector_string":
            node[label] = table.strings(slot, label, MAX_VECTOR)
        elif kind == "vector_table":
            node[label] = [_decode_table(t, field.type, depth + 1) for t in table.tables(slot, label, MAX_VECTOR)]
        else:  # structs: the TFLite schema has none
            raise ModelFormatError(f"{table.path}.{label}: field kind {kind} is not supported")
    return node


# -- encoding ---------------------------------------------------------------------------------

_PREPEND_SLOT = {
    "bool": "PrependBoolSlot", "int8": "PrependInt8Slot", "uint8": "PrependUint8Slot",
    "int16": "PrependInt16Slot", "uint16": "PrependUint16Slot", "int32": "PrependInt32Slot",
    "uint32": "PrependUint32Slot", "int64": "PrependInt64Slot", "uint64": "PrependUint64Slot",
    "float32": "PrependFloat32Slot", "float64": "PrependFloat64Slot",
}
_SIZES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
          "int64": 8, "uint64": 8, "float32": 4, "float64": 8}


def encode(tree: dict, root: str = tables.ROOT_TABLE, file_identifier: bytes = tables.FILE_IDENTIFIER,
           share: bool = False) -> bytes:
    """The flatbuffer bytes of ``tree`` (see the module docstring for its shape).

    ``share``: write each distinct scalar vector, string and table once and
    point everything that holds it at that one copy (flatbuffers allow it;
    readers only follow offsets, and TFLM reads the model in place, read-only,
    from flash: kernels that change a shape copy it first).
    """
    payload = _payload_bytes(tree)
    if payload >= MAX_FILE_BYTES:
        raise JsqatError(
            f"the model holds {payload} bytes of data; files of 2 GiB and more (buffers stored after "
            f"the flatbuffer) are not supported"
        )
    builder = flatbuffers.Builder(min(payload + (1 << 16), MAX_FILE_BYTES))
    builder.ForceDefaults(True)  # the tree says which fields are present; write exactly those
    try:
        offset = _encode_table(builder, tree, root, root, {} if share else None)
        builder.Finish(offset, file_identifier=file_identifier)
    except flatbuffers.builder.BuilderSizeError as exc:
        raise JsqatError("the model would be 2 GiB or larger, which a flatbuffer cannot hold") from exc
    return bytes(builder.Output())


def _payload_bytes(node) -> int:
    if isinstance(node, dict):
        return sum(_payload_bytes(v) for v in node.values())
    if isinstance(node, list):
        return sum(_payload_bytes(v) for v in node)
    if isinstance(node, (bytes, bytearray, memoryview)):
        return len(node)
    if isinstance(node, np.ndarray):
        return node.nbytes
    return 0


def _encode_table(builder: flatbuffers.Builder, node: dict, name: str, path: str, shared: dict | None) -> int:
    fields = _FIELDS_BY_NAME.get(name)
    if fields is None:
        raise JsqatError(f"{path}: {name} is not a table of the TFLite schema")
    if not isinstance(node, dict):
        raise JsqatError(f"{path}: expected a dict for table {name}, got {type(node).__name__}")
    unknown = set(node) - set(fields)
    if unknown:
        raise JsqatError(f"{path}: {name} has no field {', '.join(sorted(unknown))}")
    # children first: a table can only point at objects already in the buffer
    offsets: dict[str, int] = {}
    for field in tables.TABLES[name]:
        value = node.get(field.name)
        if value is None:
            continue
        kind, where = field.kind, f"{path}.{field.name}"
        if kind == "string":
            offsets[field.name] = _string(builder, value if isinstance(value, (bytes, str)) else str(value), shared)
        elif kind == "table":
            offsets[field.name] = _encode_table(builder, value, field.type, where, shared)
        elif kind == "union":
            member_index = node.get(f"{field.name}_type", 0)
            member = tables.UNIONS[field.type].get(member_index)
            if member is None:
                raise JsqatError(f"{where}: {field.type} union type {member_index} has no member table")
            offsets[field.name] = _encode_table(builder, value, member, where, shared)
        elif kind in ("vector", "vector_enum"):
            scalar = field.type if kind == "vector" else tables.ENUMS[field.type][0]
            offsets[field.name] = _scalar_vector(builder, value, scalar, field.align, where, shared)
        elif kind == "vector_string":
            items = [_string(builder, v, shared) for v in value]
            offsets[field.name] = _offset_vector(builder, items)
        elif kind == "vector_table":
            items = [_encode_table(builder, v, field.type, f"{where}[{i}]", shared) for i, v in enumerate(value)]
            offsets[field.name] = _offset_vector(builder, items)
        elif kind not in ("scalar", "enum", "union_type"):
            raise JsqatError(f"{where}: field kind {kind} is not supported")
    present = [f for f in tables.TABLES[name] if node.get(f.name) is not None]
    key = None
    if shared is not None:  # an identical table already written (same scalars, same children) serves again
        key = ("table", name, tuple((f.name, offsets[f.name]) if f.name in offsets else (f.name, repr(node[f.name]))
                                    for f in present))
        if key in shared:
            return shared[key]
    builder.StartObject(max((f.slot for f in tables.TABLES[name]), default=-1) + 1)
    # scalars widest first, as the C++ builder does, so little padding is needed
    for field in sorted(present, key=lambda f: -_scalar_size(f)):
        if field.name in offsets:
            builder.PrependUOffsetTRelativeSlot(field.slot, offsets[field.name], 0)
            continue
        scalar = _scalar_type(field)
        value = node[field.name]
        value = bool(value) if scalar == "bool" else float(value) if scalar.startswith("float") else int(value)
        getattr(builder, _PREPEND_SLOT[scalar])(field.slot, value, field.default or 0)
    offset = builder.EndObject()
    if key is not None:
        shared[key] = offset
    return offset


def _scalar_type(field) -> str:
    if field.kind == "scalar":
        return field.type
    if field.kind == "enum":
        return tables.ENUMS[field.type][0]
    return "uint8"  # union_type


def _scalar_size(field) -> int:
    if field.kind in ("scalar", "enum", "union_type"):
        return _SIZES[_scalar_type(field)]
    return 4


def _string(builder: flatbuffers.Builder, value: str | bytes, shared: dict | None) -> int:
    if shared is None:
        return builder.CreateString(value)
    key = ("string", value.encode() if isinstance(value, str) else bytes(value))
    if key not in shared:
        shared[key] = builder.CreateString(value)
    return shared[key]


def _scalar_vector(builder: flatbuffers.Builder, value, scalar: str, align: int | None, where: str,
                   shared: dict | None = None) -> int:
    if scalar == "uint8" and isinstance(value, (bytes, bytearray, memoryview)):
        raw, itemsize, count = bytes(value), 1, len(value)
    else:
        dtype = np.dtype("uint8" if scalar == "bool" else scalar).newbyteorder("<")
        try:
            array = np.asarray(value)
            if scalar == "bool":
                array = array.astype(bool)
            elif dtype.kind in "iu" and array.size:
                if array.dtype.kind not in "iub":
                    raise TypeError(f"{array.dtype} values")
                limits = np.iinfo(dtype)
                if int(array.min()) < limits.min or int(array.max()) > limits.max:
                    raise ValueError(f"values outside {scalar}")
            array = array.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise JsqatError(f"{where}: cannot write {type(value).__name__} as a vector of {scalar} ({exc})") from exc
        raw, itemsize, count = array.reshape(-1).tobytes(), dtype.itemsize, array.size
    key = (itemsize, count, align, raw)
    if shared is not None and key in shared:
        return shared[key]
    builder.StartVector(itemsize, count, max(itemsize, align or 1))
    builder.head -= len(raw)
    builder.Bytes[builder.head : builder.head + len(raw)] = raw
    offset = builder.EndVector()
    if shared is not None:
        shared[key] = offset
    return offset


def _offset_vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()
