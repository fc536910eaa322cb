"""The reader: converter models read faithfully; malformed and hostile files give ModelFormatError."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from jsqat_embed.errors import JsqatError, ModelFormatError
from jsqat_embed.tflite import read_model
from tests.helpers import keras_model_tflite


def _small_model():
    from jsqat_embed.training import zoo

    k = zoo.keras()
    inputs = k.Input((8, 8, 3))
    x = k.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = k.layers.DepthwiseConv2D(3, padding="same")(x)
    a = k.layers.Conv2D(4, 1)(x)
    x = k.layers.Add()([x, a])
    x = k.layers.GlobalAveragePooling2D()(x)
    outputs = k.layers.Dense(2, activation="softmax")(x)
    return k.Model(inputs, outputs)


@pytest.fixture(scope="module")
def model_path():
    return keras_model_tflite("reader-small-v1", _small_model)


@pytest.fixture(scope="module")
def model_bytes(model_path):
    return model_path.read_bytes()


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema


def _rebuild(data: bytes, edit) -> bytes:
    """Unpack with the official generated schema, edit the object tree, pack again."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    edit(model)
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_reads_what_the_official_schema_reads(model_bytes):
    schema = _schema()
    official = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    ours = read_model(model_bytes)
    sub = official.subgraphs[0]
    assert len(ours.tensors) == len(sub.tensors)
    assert [t.index for t in ours.inputs] == list(sub.inputs)
    assert [t.index for t in ours.outputs] == list(sub.outputs)
    for mine, theirs in zip(ours.tensors, sub.tensors):
        assert mine.name == theirs.name.decode()
        assert list(mine.shape) == list(theirs.shape)
        buffer = official.buffers[theirs.buffer]
        if buffer.data is not None and len(buffer.data):
            assert mine.data.tobytes() == bytes(buffer.data)
        else:
            assert mine.data is None
        if theirs.quantization is not None and theirs.quantization.scale is not None:
            np.testing.assert_array_equal(mine.quantization.scale, np.asarray(theirs.quantization.scale, np.float32))
            np.testing.assert_array_equal(mine.quantization.zero_point, theirs.quantization.zeroPoint)
            assert mine.quantization.axis == theirs.quantization.quantizedDimension
    for mine, theirs in zip(ours.operators, sub.operators):
        assert [t.index if t else -1 for t in mine.inputs] == list(theirs.inputs)
        assert [t.index for t in mine.outputs] == list(theirs.outputs)
    conv = next(op for op in ours.operators if op.opcode == "CONV_2D")
    assert conv.options["padding"] == "SAME" and conv.options["fused_activation_function"] == "RELU"
    assert conv.options["stride_w"] == 1 and conv.options["dilation_h_factor"] == 1
    assert conv.inputs[1].quantization.per_channel


def test_accepts_per_tensor_quantized_dimension_beyond_rank(model_bytes):
    """TFLM's person-detection model declares quantized_dimension 3 on per-tensor tensors."""

    def edit(model):
        for tensor in model.subgraphs[0].tensors:
            if tensor.quantization is not None and tensor.quantization.scale is not None and len(tensor.quantization.scale) == 1:
                tensor.quantization.quantizedDimension = 3

    model = read_model(_rebuild(model_bytes, edit))
    assert any(t.quantization and t.quantization.axis == 3 and len(t.shape) < 4 for t in model.tensors)


def test_truncation_anywhere_gives_model_format_error(model_bytes):
    size = len(model_bytes)
    cuts = sorted(set(list(range(0, 64)) + list(range(0, size, max(1, size // 300))) + [size - 1]))
    for cut in cuts:
        with pytest.raises(ModelFormatError):
            read_model(model_bytes[:cut])


@pytest.mark.parametrize("seed", range(40))
def test_random_bit_flips_never_crash(model_bytes, seed):
    rng = np.random.default_rng(seed)
    data = bytearray(model_bytes)
    for position in rng.integers(0, len(data), size=8):
        data[position] ^= 1 << int(rng.integers(0, 8))
    try:
        read_model(bytes(data))
    except ModelFormatError:
        pass


def test_bit_flips_in_the_flatbuffer_tables_are_caught(model_bytes):
    """Flips in the first kilobytes (root, vtables, offsets) are detected, not misread silently."""
    caught = 0
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        data = bytearray(model_bytes)
        position = int(rng.integers(0, 64))
        data[position] ^= 0x80
        try:
            read_model(bytes(data))
        except ModelFormatError as exc:
            caught += 1
            assert "\n" not in str(exc)
    assert caught > 100


def test_root_offset_outside_file(model_bytes):
    data = bytearray(model_bytes)
    struct.pack_into("<I", data, 0, len(data) + 100)
    with pytest.raises(ModelFormatError, match="outside"):
        read_model(bytes(data))


def test_not_a_tflite_file():
    with pytest.raises(ModelFormatError, match="not a TFLite model"):
        read_model(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ModelFormatError, match="too small"):
        read_model(b"TFL3")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFormatError, match="cannot read"):
        read_model(tmp_path / "missing.tflite")
    with pytest.raises(ModelFormatError, match="directory"):
        read_model(tmp_path)


def test_absurd_shape_is_refused_without_allocating(model_bytes):
    def edit(model):
        activation = next(t for t in model.subgraphs[0].tensors if model.buffers[t.buffer].data is None)
        activation.shape = [1, 100000, 100000, 64]

    with pytest.raises(ModelFormatError, match="absurd"):
        read_model(_rebuild(model_bytes, edit))


def test_constant_data_must_match_shape(model_bytes):
    def edit(model):
        weights = next(t for t in model.subgraphs[0].tensors if model.buffers[t.buffer].data is not None and len(t.shape) == 4)
        weights.shape = [weights.shape[0] * 2, *weights.shape[1:]]

    with pytest.raises(ModelFormatError, match="buffer .* holds"):
        read_model(_rebuild(model_bytes, edit))


def test_buffer_index_out_of_range(model_bytes):
    def edit(model):
        model.subgraphs[0].tensors[0].buffer = len(model.buffers) + 5

    with pytest.raises(ModelFormatError, match="buffer index"):
        read_model(_rebuild(model_bytes, edit))


def test_tensor_index_out_of_range(model_bytes):
    def edit(model):
        op = model.subgraphs[0].operators[0]
        op.inputs = [9999, *list(op.inputs)[1:]]

    with pytest.raises(ModelFormatError, match="tensor index 9999 out of range"):
        read_model(_rebuild(model_bytes, edit))


def test_opcode_index_out_of_range(model_bytes):
    def edit(model):
        model.subgraphs[0].operators[0].opcodeIndex = 77

    with pytest.raises(ModelFormatError, match="opcode index 77"):
        read_model(_rebuild(model_bytes, edit))


def test_cycle_between_operators(model_bytes):
    def edit(model):
        ops = model.subgraphs[0].operators
        # operator 0 now reads what operator 1 writes: a cycle, or operators out of order
        ops[0].inputs = [ops[1].outputs[0], *list(ops[0].inputs)[1:]]

    with pytest.raises(ModelFormatError, match="before any operator writes it"):
        read_model(_rebuild(model_bytes, edit))


def test_self_loop(model_bytes):
    def edit(model):
        op = model.subgraphs[0].operators[1]
        op.inputs = [op.outputs[0], *list(op.inputs)[1:]]

    with pytest.raises(ModelFormatError, match="before any operator writes it"):
        read_model(_rebuild(model_bytes, edit))


def test_mismatched_per_channel_scales(model_bytes):
    def edit(model):
        for tensor in model.subgraphs[0].tensors:
            q = tensor.quantization
            if q is not None and q.scale is not None and len(q.scale) > 2:
                q.scale = list(q.scale)[:-1]
                q.zeroPoint = list(q.zeroPoint)[:-1]
                return

    with pytest.raises(ModelFormatError, match="per-channel scales"):
        read_model(_rebuild(model_bytes, edit))


def test_wrong_builtin_options_type(model_bytes):
    def edit(model):
        schema = _schema()
        op = model.subgraphs[0].operators[0]
        op.builtinOptionsType = schema.BuiltinOptions.Pool2DOptions
        op.builtinOptions = schema.Pool2DOptionsT()

    with pytest.raises(ModelFormatError, match="union type"):
        read_model(_rebuild(model_bytes, edit))


def test_errors_are_the_projects_and_one_line(model_bytes):
    """Every failure the fuzzers above can hit is a JsqatError with a one-line message."""
    data = bytearray(model_bytes)
    struct.pack_into("<I", data, 0, 2**31)
    with pytest.raises(JsqatError) as info:
        read_model(bytes(data))
    assert "\n" not in str(info.value)
