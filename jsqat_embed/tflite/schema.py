"""Names and numbers of the TFLite schema, as the rest of the project spells them.

Everything here is derived from the generated :mod:`schema_tables` (the single
source of the format's facts); the only hand-written fact is which tensor types
numpy can hold. Keep TFLite spelling so a grep works across TFLM and this project.
"""

from __future__ import annotations

from jsqat_embed.tflite import schema_tables as _tables


def _by_value(enum: str) -> dict[int, str]:
    return {value: name for name, value in _tables.ENUMS[enum][1].items()}


def _contiguous(enum: str) -> tuple[str, ...]:
    names = _by_value(enum)
    if sorted(names) != list(range(len(names))):
        raise AssertionError(f"{enum} values are not 0..n-1")  # generated data changed shape
    return tuple(names[i] for i in range(len(names)))


#: BuiltinOperator enum, by value
BUILTIN_OPERATORS: tuple[str, ...] = _contiguous("BuiltinOperator")
BUILTIN_CODES: dict[str, int] = dict(_tables.ENUMS["BuiltinOperator"][1])
CUSTOM_CODE = BUILTIN_CODES["CUSTOM"]
#: the deprecated_builtin_code byte holds codes up to this; larger ones live in builtin_code only
PLACEHOLDER_FOR_GREATER_OP_CODES = BUILTIN_CODES["PLACEHOLDER_FOR_GREATER_OP_CODES"]

#: TensorType code -> the type spelled as numpy does ("int8", "float32", "float8_e4m3fn", ...)
TENSOR_TYPES: dict[int, str] = {code: name.lower() for code, name in _by_value("TensorType").items()}
TENSOR_TYPE_CODES: dict[str, int] = {name: code for code, name in TENSOR_TYPES.items()}

# numpy dtypes for the tensor types whose data we can hold as arrays.
NUMPY_DTYPES: dict[str, str] = {
    "float32": "float32", "float16": "float16", "int32": "int32", "uint8": "uint8",
    "int64": "int64", "bool": "bool", "int16": "int16", "int8": "int8",
    "float64": "float64", "uint64": "uint64", "uint32": "uint32", "uint16": "uint16",
}

PADDING: dict[int, str] = _by_value("Padding")
ACTIVATIONS: dict[int, str] = _by_value("ActivationFunctionType")


def options_table_for(opcode: str) -> str | None:
    """The schema table holding a builtin operator's options ("Conv2DOptions"), or None."""
    found = _tables.OPTIONS_TABLES.get(opcode)
    return None if found is None else found[1]


def options_field_for(opcode: str) -> tuple[str, str, int] | None:
    """(Operator field, options table, union type index) of a builtin operator, or None."""
    found = _tables.OPTIONS_TABLES.get(opcode)
    if found is None:
        return None
    field, table = found
    union = "BuiltinOptions" if field == "builtin_options" else "BuiltinOptions2"
    index = next(i for i, member in _tables.UNIONS[union].items() if member == table)
    return field, table, index
