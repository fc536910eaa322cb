#!/usr/bin/env python3
"""Generate ``jsqat_embed/tflite/schema_tables.py`` from TFLite's ``schema.fbs``.

The .tflite format is defined by one FlatBuffers schema; this script parses it
(the subset of the FlatBuffers IDL that schema uses: enums, unions, tables,
structs, field defaults, ``id:``, ``deprecated`` and ``force_align``
attributes) and writes every enum, union and table as plain Python data, so the
reader and writer in ``jsqat_embed/tflite/`` are driven by the schema instead of
hand-copied slot numbers.

Which options table an operator takes is not written in the schema: TFLite
names the table after the operator (``CONV_2D`` -> ``Conv2DOptions``) except
for a few shared tables (:data:`SHARED_OPTIONS`). With ``--conversions`` the
result is checked against the ``builtin_options_as_*`` calls of TFLite's own
``flatbuffer_conversions.cc``; any disagreement stops the generator.

Usage (from the repository root, with the pinned sources next to it)::

    python scripts/gen_tflite_schema.py \
        --schema ../shared/third_party/tflite-micro/tensorflow/compiler/mlir/lite/schema/schema.fbs \
        --conversions ../shared/third_party/tflite-micro/tensorflow/lite/core/api/flatbuffer_conversions.cc \
        --commit 90b983c2
"""

from __future__ import annotations

import argparse
import hashlib
import pprint
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THIRD_PARTY = REPO.parent / "shared" / "third_party" / "tflite-micro"
SCHEMA_IN_REPO = "tensorflow/compiler/mlir/lite/schema/schema.fbs"
CONVERSIONS_IN_REPO = "tensorflow/lite/core/api/flatbuffer_conversions.cc"
DEFAULT_COMMIT = "90b983c2"  # the pinned tflite-micro of ../shared/third_party (see shared/README.md)
OUTPUT = REPO / "jsqat_embed" / "tflite" / "schema_tables.py"

# FlatBuffers scalar type spellings -> one canonical name per type.
SCALARS = {
    "bool": "bool",
    "byte": "int8", "int8": "int8",
    "ubyte": "uint8", "uint8": "uint8",
    "short": "int16", "int16": "int16",
    "ushort": "uint16", "uint16": "uint16",
    "int": "int32", "int32": "int32",
    "uint": "uint32", "uint32": "uint32",
    "long": "int64", "int64": "int64",
    "ulong": "uint64", "uint64": "uint64",
    "float": "float32", "float32": "float32",
    "double": "float64", "float64": "float64",
}
SCALAR_SIZES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
                "int64": 8, "uint64": 8, "float32": 4, "float64": 8}

# Operators whose options table is not named after them. Each row is what
# TFLite's flatbuffer_conversions.cc reads for the operator (checked by --conversions).
SHARED_OPTIONS = {
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_PROD": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions", "REDUCE_ANY": "ReducerOptions",
    "REDUCE_ALL": "ReducerOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions",
    "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
    "RANDOM_STANDARD_NORMAL": "RandomOptions", "RANDOM_UNIFORM": "RandomOptions", "MULTINOMIAL": "RandomOptions",
    "CONV_3D_TRANSPOSE": "Conv3DOptions",  # schema.fbs: "Options for both Conv3D and Conv3DTranspose"
}
OPTION_UNIONS = (("builtin_options", "BuiltinOptions"), ("builtin_options_2", "BuiltinOptions2"))


class SchemaError(Exception):
    pass


@dataclass
class Declaration:
    kind: str  # enum, union, table, struct
    name: str
    attributes: dict
    underlying: str | None = None  # enums
    members: list = field(default_factory=list)  # enum/union: (name, value|None, attributes); table/struct: fields


# -- tokenizer and parser ---------------------------------------------------------------------

_TOKEN = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.)*"|[-+]?[0-9][0-9A-Za-z_.+-]*|[A-Za-z_][A-Za-z0-9_.]*|[{}()\[\]:;=,]',
                    re.S)


def tokenize(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            line = text.count("\n", 0, position) + 1
            raise SchemaError(f"line {line}: cannot read {text[position:position + 20]!r}")
        token = match.group(0)
        position = match.end()
        if token.strip() and not token.startswith(("//", "/*")):
            tokens.append(token)
    return tokens


class Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.at = 0
        self.declarations: list[Declaration] = []
        self.file_identifier: str | None = None
        self.root_type: str | None = None
        self.namespace: str | None = None

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        if self.at >= len(self.tokens):
            raise SchemaError(f"unexpected end of schema (expected {expected or 'more'})")
        token = self.tokens[self.at]
        if expected is not None and token != expected:
            raise SchemaError(f"expected {expected!r}, found {token!r} near {' '.join(self.tokens[self.at - 5:self.at + 5])}")
        self.at += 1
        return token

    def attributes(self) -> dict:
        found: dict = {}
        if self.peek() != "(":
            return found
        self.take("(")
        while self.peek() != ")":
            key = self.take()
            value = None
            if self.peek() == ":":
                self.take(":")
                value = self.take()
            found[key] = value
            if self.peek() == ",":
                self.take(",")
        self.take(")")
        return found

    def parse(self) -> None:
        while self.peek() is not None:
            keyword = self.take()
            if keyword == "namespace":
                self.namespace = self.take()
                self.take(";")
            elif keyword in ("include", "attribute", "file_extension"):
                self.take()
                self.take(";")
            elif keyword == "file_identifier":
                self.file_identifier = self.take().strip('"')
                self.take(";")
            elif keyword == "root_type":
                self.root_type = self.take()
                self.take(";")
            elif keyword == "enum":
                self.enum()
            elif keyword == "union":
                self.union()
            elif keyword in ("table", "struct"):
                self.table(keyword)
            else:
                raise SchemaError(f"unknown declaration {keyword!r}")

    def enum(self) -> None:
        name = self.take()
        self.take(":")
        underlying = SCALARS.get(self.take())
        if underlying is None or underlying in ("bool", "float32", "float64"):
            raise SchemaError(f"enum {name}: invalid underlying type")
        declaration = Declaration("enum", name, self.attributes(), underlying)
        self.take("{")
        while self.peek() != "}":
            member = self.take()
            value = None
            if self.peek() == "=":
                self.take("=")
                value = int(self.take(), 0)
            declaration.members.append((member, value, self.attributes()))
            if self.peek() == ",":
                self.take(",")
        self.take("}")
        self.declarations.append(declaration)

    def union(self) -> None:
        name = self.take()
        declaration = Declaration("union", name, self.attributes())
        self.take("{")
        while self.peek() != "}":
            member = self.take()
            if self.peek() == ":":  # "Alias: Type" members
                self.take(":")
                member = self.take()
            declaration.members.append((member, None, self.attributes()))
            if self.peek() == ",":
                self.take(",")
        self.take("}")
        self.declarations.append(declaration)

    def table(self, kind: str) -> None:
        name = self.take()
        declaration = Declaration(kind, name, self.attributes())
        self.take("{")
        while self.peek() != "}":
            field_name = self.take()
            self.take(":")
            if self.peek() == "[":
                self.take("[")
                element = self.take()
                if self.peek() == ":":
                    raise SchemaError(f"{name}.{field_name}: fixed-length arrays are not supported")
                self.take("]")
                type_spec = ("vector", element)
            else:
                type_spec = ("single", self.take())
            default = None
            if self.peek() == "=":
                self.take("=")
                default = self.take()
            attributes = self.attributes()
            self.take(";")
            declaration.members.append((field_name, type_spec, default, attributes))
        self.take("}")
        self.declarations.append(declaration)


# -- resolution into plain data -----------------------------------------------------------------

def _number(text: str, scalar: str):
    if scalar == "bool":
        if text not in ("true", "false", "0", "1"):
            raise SchemaError(f"invalid bool default {text!r}")
        return text in ("true", "1")
    if scalar.startswith("float"):
        return float(text)
    return int(text, 0)


def resolve(parser: Parser) -> dict:
    enums: dict[str, tuple[str, dict[str, int]]] = {}
    deprecated_enum_values: dict[str, list[str]] = {}
    unions: dict[str, dict[int, str]] = {}
    kinds = {d.name: d.kind for d in parser.declarations}
    for d in parser.declarations:
        if d.kind == "enum":
            values, next_value = {}, 0
            for member, value, attributes in d.members:
                value = next_value if value is None else value
                values[member] = value
                next_value = value + 1
                if "deprecated" in attributes:
                    deprecated_enum_values.setdefault(d.name, []).append(member)
            enums[d.name] = (d.underlying, values)
        elif d.kind == "union":
            members = {}
            for index, (member, _, _) in enumerate(d.members, start=1):
                if kinds.get(member) != "table":
                    raise SchemaError(f"union {d.name}: member {member} is not a table")
                members[index] = member
            unions[d.name] = members

    structs: dict[str, dict] = {}
    for d in parser.declarations:
        if d.kind != "struct":
            continue
        offset, align, fields = 0, 1, []
        for name, (shape, type_name), _, _ in d.members:
            if shape != "single":
                raise SchemaError(f"struct {d.name}: vector field {name}")
            if type_name in SCALARS:
                scalar, kind, size, field_align = SCALARS[type_name], "scalar", SCALAR_SIZES[SCALARS[type_name]], None
            elif type_name in enums:
                scalar, kind = enums[type_name][0], "enum"
                size = SCALAR_SIZES[scalar]
            elif type_name in structs:
                scalar, kind = type_name, "struct"
                size = structs[type_name]["size"]
                field_align = structs[type_name]["align"]
            else:
                raise SchemaError(f"struct {d.name}.{name}: unknown type {type_name}")
            field_align = size if kind != "struct" else structs[type_name]["align"]
            offset = -(-offset // field_align) * field_align
            fields.append((name, offset, kind, type_name if kind != "scalar" else scalar))
            offset += size
            align = max(align, field_align)
        structs[d.name] = {"size": -(-offset // align) * align, "align": align, "fields": tuple(fields)}

    tables: dict[str, tuple] = {}
    deprecated_tables = []
    for d in parser.declarations:
        if d.kind != "table":
            continue
        if "deprecated" in d.attributes:
            deprecated_tables.append(d.name)
        ids = [attributes.get("id") for _, _, _, attributes in d.members if "id" in attributes]
        if ids and len(ids) != len(d.members):
            raise SchemaError(f"table {d.name}: either every field or none has an id")
        fields, slot = [], 0
        for name, (shape, type_name), default_text, attributes in d.members:
            deprecated = "deprecated" in attributes
            align = int(attributes["force_align"]) if "force_align" in attributes else None
            if type_name in SCALARS:
                kind, type_out = "scalar", SCALARS[type_name]
            elif type_name == "string":
                kind, type_out = "string", "string"
            elif type_name in enums:
                kind, type_out = "enum", type_name
            elif kinds.get(type_name) in ("table", "struct", "union"):
                kind, type_out = kinds[type_name], type_name
            else:
                raise SchemaError(f"table {d.name}.{name}: unknown type {type_name}")
            if shape == "vector":
                if kind == "union":
                    raise SchemaError(f"table {d.name}.{name}: vectors of unions are not supported")
                kind = f"vector_{kind}" if kind != "scalar" else "vector"
            default = None
            if kind == "scalar":
                default = _number(default_text, type_out) if default_text is not None else (
                    False if type_out == "bool" else 0.0 if type_out.startswith("float") else 0)
            elif kind == "enum":
                values = enums[type_out][1]
                if default_text is None:
                    default = 0
                elif default_text in values:
                    default = values[default_text]
                else:
                    default = int(default_text, 0)
            elif default_text is not None:
                raise SchemaError(f"table {d.name}.{name}: default on a non-scalar field")
            if ids:
                slot = int(attributes["id"], 0)
            if kind == "union":
                # a union takes two slots: its type (a ubyte) first, then the value
                type_slot = slot - 1 if ids else slot
                fields.append((f"{name}_type", type_slot, "union_type", type_out, 0, deprecated, None))
                slot = type_slot + 1
            fields.append((name, slot, kind, type_out, default, deprecated, align))
            slot += 1
        fields.sort(key=lambda f: f[1])
        slots = [f[1] for f in fields]
        if len(set(slots)) != len(slots):
            raise SchemaError(f"table {d.name}: two fields share a slot")
        tables[d.name] = tuple(fields)

    if parser.root_type not in tables:
        raise SchemaError(f"root_type {parser.root_type!r} is not a table")
    return {
        "enums": enums, "deprecated_enum_values": deprecated_enum_values, "unions": unions,
        "tables": tables, "deprecated_tables": deprecated_tables, "structs": structs,
    }


def _camel_key(name: str) -> str:
    return name.replace("_", "").lower()


def options_tables(resolved: dict) -> dict[str, tuple[str, str]]:
    """Operator name -> (Operator field, options table), for the operators that take one."""
    by_key: dict[str, tuple[str, str]] = {}
    for union_field, union in OPTION_UNIONS:
        for table in resolved["unions"][union].values():
            by_key[table.lower()] = (union_field, table)
    owner = {table: union_field for union_field, union in OPTION_UNIONS for table in resolved["unions"][union].values()}
    mapping = {}
    for op in resolved["enums"]["BuiltinOperator"][1]:
        if op in SHARED_OPTIONS:
            table = SHARED_OPTIONS[op]
            if table not in owner:
                raise SchemaError(f"SHARED_OPTIONS[{op}] = {table} is not in an options union")
            mapping[op] = (owner[table], table)
        elif _camel_key(op) + "options" in by_key:
            mapping[op] = by_key[_camel_key(op) + "options"]
    return mapping


def check_against_conversions(mapping: dict[str, tuple[str, str]], text: str) -> int:
    """Compare with the tables TFLite's flatbuffer_conversions.cc reads; returns the operators checked."""
    text = re.sub(r"//[^\n]*", "", text)
    function_tables: dict[str, set[str]] = {}
    for match in re.finditer(r"TfLiteStatus\s+(Parse\w+)\s*\([^)]*\)\s*\{", text):
        start, depth, position = match.end(), 1, match.end()
        while depth and position < len(text):
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            position += 1
        body = text[start:position]
        function_tables.setdefault(match.group(1), set()).update(
            re.findall(r"builtin_options(?:_2)?_as_(\w+)\(", body))
    checked = 0
    pending: list[str] = []
    cases = list(re.finditer(r"case\s+BuiltinOperator_(\w+)\s*:", text))
    for i, case in enumerate(cases):
        end = cases[i + 1].start() if i + 1 < len(cases) else len(text)
        body = text[case.end():end]
        body = body.split("default:")[0]
        pending.append(case.group(1))
        if not body.strip(" \n\t{}"):
            continue  # falls through to the next case
        tables = set(re.findall(r"builtin_options(?:_2)?_as_(\w+)\(", body))
        for called in re.findall(r"return\s+(Parse\w+)\(", body):
            tables |= function_tables.get(called, set())
        for op in pending:
            if len(tables) == 1:
                (table,) = tables
                ours = mapping.get(op, (None, None))[1]
                if ours != table:
                    raise SchemaError(f"{op}: flatbuffer_conversions.cc reads {table}, the generator says {ours}")
                checked += 1
        pending = []
    return checked


# -- output -------------------------------------------------------------------------------------

HEADER = '''"""TFLite schema tables: GENERATED by scripts/gen_tflite_schema.py, do not edit.

Source: tensorflow/tflite-micro @ {commit}, {source}
        (sha256 {digest}).
Regenerate with ``python scripts/gen_tflite_schema.py`` when the schema moves.

ENUMS:  enum -> (storage scalar, {{member: value}}), members in declaration order.
UNIONS: union -> {{type index: table}}; index 0 is NONE.
TABLES: table -> fields in slot order, each a :class:`Field`:
  kind "scalar" (type: int8 ... float64, bool), "enum" (type: the enum), "string",
  "table", "struct", "union" (type: the union; the value slot), "union_type" (the
  ubyte type slot just before its union), "vector" (of scalars; type: the scalar),
  "vector_enum", "vector_string", "vector_table", "vector_struct".
  ``default`` is the schema default of scalars and enums (a number), else None;
  ``align`` is the field's ``force_align``, else None.
STRUCTS: struct -> {{"size", "align", "fields": ((name, offset, kind, type), ...)}}.
OPTIONS_TABLES: builtin operator -> (Operator field, options table), for operators that
  take options; the names follow TFLite's flatbuffer_conversions.cc{checked}.
"""

from __future__ import annotations

from typing import NamedTuple


class Field(NamedTuple):
    name: str
    slot: int
    kind: str
    type: str
    default: object
    deprecated: bool
    align: int | None

'''


def render(resolved: dict, mapping: dict, file_identifier: str, root: str, commit: str, digest: str,
           checked: int | None) -> str:
    def fmt(value) -> str:
        return pprint.pformat(value, width=110, sort_dicts=False)

    tables = {name: tuple(f"Field{tuple(f)!r}" for f in fields) for name, fields in resolved["tables"].items()}
    table_lines = ["TABLES: dict[str, tuple[Field, ...]] = {"]
    for name, fields in tables.items():
        table_lines.append(f"    {name!r}: (")
        table_lines += [f"        {f}," for f in fields]
        table_lines.append("    ),")
    table_lines.append("}")
    note = f"; {checked} operators checked against it" if checked is not None else ""
    parts = [
        HEADER.format(commit=commit, source=SCHEMA_IN_REPO, digest=digest, checked=note),
        f"SOURCE = {SCHEMA_IN_REPO!r}",
        f"SOURCE_COMMIT = {commit!r}",
        f"SOURCE_SHA256 = {digest!r}",
        f"FILE_IDENTIFIER = {file_identifier.encode()!r}",
        f"ROOT_TABLE = {root!r}",
        "",
        f"ENUMS: dict[str, tuple[str, dict[str, int]]] = {fmt(resolved['enums'])}",
        "",
        f"DEPRECATED_ENUM_VALUES: dict[str, tuple[str, ...]] = "
        f"{fmt({k: tuple(v) for k, v in resolved['deprecated_enum_values'].items()})}",
        "",
        f"UNIONS: dict[str, dict[int, str]] = {fmt(resolved['unions'])}",
        "",
        "\n".join(table_lines),
        "",
        f"DEPRECATED_TABLES: tuple[str, ...] = {fmt(tuple(resolved['deprecated_tables']))}",
        "",
        f"STRUCTS: dict[str, dict] = {fmt(resolved['structs'])}",
        "",
        f"OPTIONS_TABLES: dict[str, tuple[str, str]] = {fmt(mapping)}",
        "",
    ]
    return "\n".join(parts)


def generate(schema_path: Path, commit: str, conversions: Path | None) -> str:
    raw = schema_path.read_bytes()
    parser = Parser(tokenize(raw.decode("utf-8")))
    parser.parse()
    resolved = resolve(parser)
    mapping = options_tables(resolved)
    checked = check_against_conversions(mapping, conversions.read_text()) if conversions else None
    return render(resolved, mapping, parser.file_identifier or "", parser.root_type, commit,
                  hashlib.sha256(raw).hexdigest(), checked)


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--schema", type=Path, default=THIRD_PARTY / SCHEMA_IN_REPO, help="path of schema.fbs")
    arguments.add_argument("--conversions", type=Path, default=THIRD_PARTY / CONVERSIONS_IN_REPO,
                           help="TFLite's flatbuffer_conversions.cc, to check the operator -> options table names "
                                "('' to skip)")
    arguments.add_argument("--commit", default=DEFAULT_COMMIT, help="tflite-micro commit the schema comes from")
    arguments.add_argument("--output", type=Path, default=OUTPUT, help="the module to write")
    arguments.add_argument("--check", action="store_true", help="exit 1 if the output file is not up to date")
    options = arguments.parse_args(argv)
    conversions = options.conversions if str(options.conversions) else None
    try:
        text = generate(options.schema, options.commit, conversions)
    except (OSError, SchemaError) as exc:
        print(f"gen_tflite_schema: {exc}", file=sys.stderr)
        return 2
    if options.check:
        current = options.output.read_text() if options.output.exists() else ""
        if current != text:
            print(f"{options.output} is out of date; run scripts/gen_tflite_schema.py", file=sys.stderr)
            return 1
        return 0
    options.output.write_text(text)
    print(f"wrote {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
