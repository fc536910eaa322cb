"""Builtin operator options: schema table <-> the ``Operator.options`` dict.

Every option of every builtin operator is decoded from the generated schema,
with the schema's field names; enum fields are given by name
(``fused_activation_function: "RELU"``, ``padding: "SAME"``), vectors as lists,
and absent fields as their schema default (``None`` for vectors, strings and
tables). Deprecated fields stay in the operator's ``tree`` only.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.errors import JsqatError, ModelFormatError
from jsqat_embed.tflite import schema_tables as tables

_ENUM_NAMES = {enum: {value: name for name, value in members.items()} for enum, (_, members) in tables.ENUMS.items()}


def to_options(node: dict | None, table: str, owner: str) -> dict:
    """The options dict of one options table (``node`` None: every field at its default)."""
    node = node or {}
    options: dict = {}
    for field in tables.TABLES[table]:
        if field.deprecated or field.kind in ("union", "union_type"):
            continue
        value = node.get(field.name)
        kind = field.kind
        if kind == "scalar":
            value = field.default if value is None else value
            options[field.name] = bool(value) if field.type == "bool" else value
        elif kind == "enum":
            options[field.name] = _enum_name(field, field.default if value is None else value, owner)
        elif value is None:
            options[field.name] = None
        elif kind == "vector":
            options[field.name] = list(value) if isinstance(value, bytes) else value.tolist()
        elif kind == "vector_enum":
            options[field.name] = [_enum_name(field, int(v), owner) for v in value]
        elif kind == "table":
            options[field.name] = to_options(value, field.type, f"{owner}.{field.name}")
        elif kind == "vector_table":
            options[field.name] = [to_options(v, field.type, f"{owner}.{field.name}[{i}]") for i, v in enumerate(value)]
        else:  # string, vector_string
            options[field.name] = value
    return options


def _enum_name(field, value: int, owner: str) -> str:
    name = _ENUM_NAMES[field.type].get(value)
    if name is None:
        raise ModelFormatError(f"{owner}: invalid {field.name} value {value}")
    return name


def from_options(values: dict, table: str, base: dict | None = None, owner: str = "options") -> dict:
    """The options table for ``values``, on top of ``base`` (the table as read, if any).

    Fields ``values`` does not name keep their ``base`` value; a field is written
    when ``base`` had it or its value differs from the schema default.
    """
    node = dict(base or {})
    for field in tables.TABLES[table]:
        if field.deprecated or field.name not in values or field.kind in ("union", "union_type"):
            continue
        value = values[field.name]
        where = f"{owner}.{field.name}"
        if value is None:
            if field.kind in ("scalar", "enum"):
                raise JsqatError(f"{where}: a scalar option cannot be None")
            node.pop(field.name, None)
            continue
        kind = field.kind
        if kind == "enum":
            encoded = _enum_value(field, value, where)
        elif kind == "scalar":
            encoded = bool(value) if field.type == "bool" else value
        elif kind == "vector":
            encoded = bytes(value) if field.type == "uint8" else np.asarray(value, dtype=field.type)
        elif kind == "vector_enum":
            encoded = np.asarray([_enum_value(field, v, where) for v in value], dtype=tables.ENUMS[field.type][0])
        elif kind == "table":
            encoded = from_options(value, field.type, node.get(field.name), where)
        elif kind == "vector_table":
            old = node.get(field.name) or []
            encoded = [from_options(v, field.type, old[i] if i < len(old) else None, f"{where}[{i}]")
                       for i, v in enumerate(value)]
        else:
            encoded = value
        if field.name in node or kind not in ("scalar", "enum") or encoded != field.default:
            node[field.name] = encoded
    return node


def _enum_value(field, value, where: str) -> int:
    members = tables.ENUMS[field.type][1]
    if isinstance(value, str):
        if value not in members:
            raise JsqatError(f"{where}: {value!r} is not a {field.type} ({', '.join(members)})")
        return members[value]
    return int(value)
