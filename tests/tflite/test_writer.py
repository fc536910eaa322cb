"""The writer is the reader's inverse: every model we can read is written back faithfully.

Checked against things the writer does not produce itself: the schema tables
against the tflite-micro package's flatc-generated Python schema, the written
files against that package's own flatbuffer reader, and the rewritten models
against the real TFLM interpreter (outputs and arena byte-identical to the
original file's).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from jsqat_embed.errors import JsqatError, ModelFormatError
from jsqat_embed.graph.model import Model
from jsqat_embed.tflite import codec, read_model, schema, schema_tables
from jsqat_embed.tflite.flatbuffer import Buffer
from jsqat_embed.tflite.writer import model_tree, write_model
from jsqat_embed.verify.references import run_reference
from tests.corpus_models import corpus_models

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO.parent / "shared" / "third_party" / "tflite-micro" / schema_tables.SOURCE


def _local_models() -> list:
    paths = sorted((REPO / "tests" / "data").glob("*.tflite")) + sorted((REPO / "models").glob("*.tflite"))
    return [pytest.param(p, id=p.name) for p in paths]


def _corpus(only_running: bool = False) -> list:
    params = []
    for model in corpus_models():
        if only_running and model.tflm != "runs":
            continue
        marks = () if model.present else (pytest.mark.skip(reason=f"{model.file} not extracted"),)
        params.append(pytest.param(model.path, id=model.file, marks=marks))
    return params


ALL_MODELS = _local_models() + _corpus()
TFLM_MODELS = _local_models() + _corpus(only_running=True)


def random_inputs(model: Model, samples: int, seed: int) -> list[np.ndarray]:
    """Seeded inputs over each input type's whole range, ``samples`` along axis 0."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = (samples * (tensor.shape[0] if tensor.shape else 1), *tensor.shape[1:])
        if np.issubdtype(np.dtype(tensor.dtype), np.integer):
            info = np.iinfo(tensor.dtype)
            arrays.append(rng.integers(info.min, info.max, size=shape, endpoint=True).astype(tensor.dtype))
        else:
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(tensor.dtype))
    return arrays


def _readable(path: Path) -> Model:
    try:
        return read_model(path)
    except ModelFormatError as exc:
        pytest.skip(f"our reader refuses it: {exc}")


def assert_same_model(a: Model, b: Model) -> None:
    """Every modelled fact equal (buffer indices aside: they are the writer's to choose)."""
    assert (a.version, a.description, a.metadata) == (b.version, b.description, b.metadata)
    assert len(a.subgraphs) == len(b.subgraphs)
    for sa, sb in zip(a.subgraphs, b.subgraphs):
        assert sa.name == sb.name
        assert len(sa.tensors) == len(sb.tensors) and len(sa.operators) == len(sb.operators)
        for ta, tb in zip(sa.tensors, sb.tensors):
            assert (ta.index, ta.name, ta.shape, ta.dtype, ta.is_variable, ta.shape_signature) == (
                tb.index, tb.name, tb.shape, tb.dtype, tb.is_variable, tb.shape_signature)
            assert (ta.data is None) == (tb.data is None), ta.describe()
            if ta.data is not None:
                assert ta.data.dtype == tb.data.dtype and np.array_equal(ta.data, tb.data), ta.describe()
            qa, qb = ta.quantization, tb.quantization
            assert (qa is None) == (qb is None), ta.describe()
            if qa is not None:
                assert np.array_equal(qa.scale, qb.scale) and qa.scale.dtype == qb.scale.dtype
                assert np.array_equal(qa.zero_point, qb.zero_point) and qa.axis == qb.axis
        for oa, ob in zip(sa.operators, sb.operators):
            assert (oa.opcode, oa.is_custom, oa.version, oa.custom_options) == (
                ob.opcode, ob.is_custom, ob.version, ob.custom_options)
            assert [t and t.index for t in oa.inputs] == [t and t.index for t in ob.inputs]
            assert [t.index for t in oa.outputs] == [t.index for t in ob.outputs]
            assert oa.options == ob.options
        assert [t.index for t in sa.inputs] == [t.index for t in sb.inputs]
        assert [t.index for t in sa.outputs] == [t.index for t in sb.outputs]


def _buffer_data_offsets(data: bytes) -> list[int]:
    """Where each non-empty Buffer.data vector starts, found with the checked reader."""
    root = Buffer(data).root()
    slots = {f.name: f.slot for f in schema_tables.TABLES["Model"]}
    data_slot = next(f.slot for f in schema_tables.TABLES["Buffer"] if f.name == "data")
    offsets = []
    for table in root.tables(slots["buffers"], "buffers", 10**6):
        found = table.vector(data_slot, 1, "data")
        if found is not None and found[1]:
            offsets.append(found[0])
    return offsets


# -- the generated schema ------------------------------------------------------------------------

def test_schema_tables_are_generated_from_the_pinned_schema():
    if not SCHEMA.is_file():
        pytest.skip(f"pinned tflite-micro sources not found at {SCHEMA.parent}")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_tflite_schema.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


class _RecordingBuilder:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, args))


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def test_schema_tables_agree_with_flatc_generated_schema():
    """Slots, scalar types and defaults of every field, as flatc wrote them for the tflite-micro package."""
    official = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")
    prepend = {"Bool": "bool", "Int8": "int8", "Uint8": "uint8", "Int16": "int16", "Uint16": "uint16",
               "Int32": "int32", "Uint32": "uint32", "Int64": "int64", "Uint64": "uint64",
               "Float32": "float32", "Float64": "float64"}
    checked = 0
    for table, fields in schema_tables.TABLES.items():
        for field in fields:
            function = getattr(official, f"{table}Add{_camel(field.name)}", None)
            if field.deprecated:
                assert function is None, f"{table}.{field.name}"
                continue
            assert function is not None, f"{table}.{field.name} missing from the official schema"
            builder = _RecordingBuilder()
            function(builder, 0)
            (method, args), = builder.calls
            assert args[0] == field.slot, f"{table}.{field.name}"
            if field.kind in ("scalar", "enum", "union_type"):
                kind = method[len("Prepend"):-len("Slot")]
                storage = field.type if field.kind == "scalar" else (
                    schema_tables.ENUMS[field.type][0] if field.kind == "enum" else "uint8")
                assert prepend[kind] == storage, f"{table}.{field.name}"
                assert args[2] == field.default, f"{table}.{field.name}"
            else:
                assert method == "PrependUOffsetTRelativeSlot", f"{table}.{field.name}"
            checked += 1
    assert checked > 300
    for enum, (_, members) in schema_tables.ENUMS.items():
        values = getattr(official, enum)
        for name, value in members.items():
            assert getattr(values, name) == value, f"{enum}.{name}"


def test_every_options_table_is_reachable():
    assert schema.options_table_for("CONV_2D") == "Conv2DOptions"
    assert schema.options_table_for("MAX_POOL_2D") == "Pool2DOptions"
    assert schema.options_table_for("MEAN") == "ReducerOptions"
    assert schema.options_table_for("STABLEHLO_PAD") == "StablehloPadOptions"
    assert schema.options_table_for("LOGISTIC") is None
    used = {table for _, table in schema_tables.OPTIONS_TABLES.values()}
    members = {t for union in ("BuiltinOptions", "BuiltinOptions2") for t in schema_tables.UNIONS[union].values()}
    assert members - used == set(), "an options table no operator takes"


# -- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ALL_MODELS)
def test_read_write_read_gives_the_same_model(path):
    model = _readable(path)
    written = write_model(model)
    again = read_model(written)
    assert_same_model(model, again)
    assert write_model(again) == written, "writing is not stable"
    assert written[4:8] == b"TFL3"
    assert all(offset % 16 == 0 for offset in _buffer_data_offsets(written))
    # nothing but the operator codes' two fields changes in the decoded table tree
    before, after = codec.decode(model.source), codec.decode(written)
    for tree in (before, after):
        for code in tree.get("operator_codes", []):
            real = max(code.pop("builtin_code", 0), code.pop("deprecated_builtin_code", 0))
            code["real"] = real
        for buffer in tree.get("buffers", []):
            if buffer.get("offset", 0) > 1:  # stored after the flatbuffer: the writer inlines it
                buffer["data"] = bytes(model.source[buffer.pop("offset"):][:buffer.pop("size")])
    _assert_same_tree(before, after, "Model")


def _assert_same_tree(a, b, path):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, set(a) ^ set(b))
        for key in a:
            _assert_same_tree(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b), path
    else:
        assert a == b or (a != a and b != b), (path, a, b)


def _official_tree(data: bytes):
    official = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")
    return official.ModelT.InitFromObj(official.Model.GetRootAsModel(data, 0))


def _plain(value):
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


@pytest.mark.parametrize("path", _local_models() + _corpus()[:12])
def test_official_flatbuffer_code_reads_the_same_model(path):
    """flatc's generated reader sees the same object tree in the rewritten file (opcodes aside)."""
    model = _readable(path)
    original, rewritten = _plain(_official_tree(model.source)), _plain(_official_tree(write_model(model)))
    for tree in (original, rewritten):
        for code in tree["operatorCodes"] or []:
            code["real"] = max(code.pop("builtinCode"), code.pop("deprecatedBuiltinCode"))
    assert original == rewritten


@pytest.mark.parametrize("path", TFLM_MODELS)
def test_tflm_gives_identical_outputs_and_arena_on_the_rewritten_file(path):
    model = _readable(path)
    written = write_model(model)
    inputs = random_inputs(model, 2, seed=5)
    original = run_reference("tflm", model.source, inputs)
    if not original.ok:
        pytest.skip(f"TFLM does not run the original: {original.error}")
    rewritten = run_reference("tflm", written, inputs)
    assert rewritten.ok, rewritten.error
    assert len(original.outputs) == len(rewritten.outputs) > 0
    for mine, theirs in zip(rewritten.outputs, original.outputs):
        assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes()
    assert rewritten.allocations == original.allocations


# -- old-format operator codes -------------------------------------------------------------------

def _old_format(model: Model) -> bytes:
    """The model as a converter before TF 2.4 wrote it: only deprecated_builtin_code."""
    tree = model_tree(model)
    for code in tree["operator_codes"]:
        code.pop("builtin_code")
    return codec.encode(tree)


def test_old_format_operator_codes_are_read_and_upgraded():
    path = REPO / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite"
    model = read_model(path)
    old = _old_format(model)
    assert all("builtin_code" not in c for c in codec.decode(old)["operator_codes"])
    read_back = read_model(old)
    assert [op.opcode for op in read_back.operators] == [op.opcode for op in model.operators]
    upgraded = codec.decode(write_model(read_back))["operator_codes"]
    assert sorted(c["builtin_code"] for c in upgraded) == sorted({schema.BUILTIN_CODES[op.opcode]
                                                                  for op in model.operators})
    assert all(c["deprecated_builtin_code"] == c["builtin_code"] < 127 for c in upgraded)
    inputs = random_inputs(model, 2, seed=1)
    reference = run_reference("tflm", model.source, inputs)
    from_old = run_reference("tflm", old, inputs)
    assert reference.ok and from_old.ok, (reference.error, from_old.error)
    for a, b in zip(reference.outputs, from_old.outputs):
        assert a.tobytes() == b.tobytes()


def test_codes_beyond_127_keep_127_in_the_deprecated_field():
    model = read_model(REPO / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite")
    op = model.operators[-1]
    op.opcode, op.options, op.tree = "GELU", {"approximate": True}, None
    tree = codec.decode(write_model(model))
    code = tree["operator_codes"][tree["subgraphs"][0]["operators"][-1]["opcode_index"]]
    assert code["builtin_code"] == schema.BUILTIN_CODES["GELU"] == 150
    assert code["deprecated_builtin_code"] == 127
    again = read_model(write_model(model))
    assert again.operators[-1].opcode == "GELU" and again.operators[-1].options == {"approximate": True}


# -- edits ---------------------------------------------------------------------------------------

def test_edited_data_gets_its_own_buffer_and_unreferenced_buffers_go():
    model = read_model(REPO / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite")
    weights = next(t for t in model.tensors if t.data is not None and t.dtype == "int8" and t.data.ndim == 4)
    old_buffers = len(model.tree["buffers"])
    weights.data = np.zeros_like(weights.data)
    written = read_model(write_model(model))
    assert np.array_equal(written.tensors[weights.index].data, weights.data)
    assert len(written.tree["buffers"]) == old_buffers  # the old bytes dropped, the new ones added
    assert written.tree["buffers"][-1]["data"] == weights.data.tobytes()


def test_metadata_edits_are_written():
    model = read_model(REPO / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite")
    model.metadata["jsqat"] = b"\x01\x02\x03"
    again = read_model(write_model(model))
    assert again.metadata["jsqat"] == b"\x01\x02\x03"
    del model.metadata["jsqat"]
    assert read_model(write_model(model)).metadata == read_model(model.source).metadata


# -- refusals ------------------------------------------------------------------------------------

def test_offsets_that_share_tables_cannot_blow_up_decoding():
    """A tiny file whose vectors all point at one subgraph of one tensor repeated: refused, fast."""
    builder = flatbuffers.Builder(1024)
    name = builder.CreateString("t")
    builder.StartObject(11)
    builder.PrependUOffsetTRelativeSlot(3, name, 0)
    tensor = builder.EndObject()
    builder.StartVector(4, 20000, 4)
    for _ in range(20000):
        builder.PrependUOffsetTRelative(tensor)
    tensors = builder.EndVector()
    builder.StartObject(6)
    builder.PrependUOffsetTRelativeSlot(0, tensors, 0)
    subgraph = builder.EndObject()
    builder.StartVector(4, 1000, 4)
    for _ in range(1000):
        builder.PrependUOffsetTRelative(subgraph)
    subgraphs = builder.EndVector()
    builder.StartObject(3)
    builder.PrependUOffsetTRelativeSlot(2, subgraphs, 0)
    builder.PrependUint32Slot(0, 3, 0)
    builder.Finish(builder.EndObject(), file_identifier=b"TFL3")
    data = bytes(builder.Output())
    assert len(data) < 100_000
    start = time.perf_counter()
    with pytest.raises(ModelFormatError, match="far more data than the file holds"):
        read_model(data)
    assert time.perf_counter() - start < 10


def test_files_of_2_gib_are_refused_before_writing():
    huge = np.broadcast_to(np.zeros(1, dtype=np.uint8), (1 << 31,))  # no memory behind it
    tree = {"version": 3, "buffers": [{}, {"data": huge}]}
    with pytest.raises(JsqatError, match="2 GiB"):
        codec.encode(tree)


def test_unknown_fields_and_values_are_refused_when_writing():
    with pytest.raises(JsqatError, match="no field"):
        codec.encode({"version": 3, "colour": 1})
    model = read_model(REPO / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite")
    conv = next(op for op in model.operators if op.opcode == "CONV_2D")
    conv.options["padding"] = "DIAGONAL"
    with pytest.raises(JsqatError, match="not a Padding"):
        write_model(model)
