"""16x8 convolutions and matrix products, and TRANSPOSE_CONV, against the real TFLM.

Each case is a tiny Keras model converted by the TF converter: 16x8 cases with
``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`` (int16 activations
and I/O, int8 weights, int64 biases, or int32 biases where the case asks the
converter for them), TRANSPOSE_CONV cases also as full int8 and float32. Every case runs 16
random inputs spanning the whole input type through the emulator and through
TFLM (tflite-micro wheel) and must agree byte for byte; the host arena estimate
must equal what TFLM's recording allocator reports for the same model. The
corpus models that use these ops (TFLM's own SEANet integration-test layers)
are checked the same way.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION, estimate_arena
from jsqat_embed.tflite import read_model
from tests.helpers import assert_bit_exact_with_tflm, keras_model_tflite

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SAMPLES = 16


def _model(shape, body):
    from jsqat_embed.training import zoo

    k = zoo.keras()
    inputs = k.Input(shape, batch_size=1)
    return k.Model(inputs, body(k, inputs))


def conv(kernel, stride, padding, dilation=1, activation=None, filters=6, shape=(11, 11, 5), groups=1):
    return lambda: _model(shape, lambda k, x: k.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, dilation_rate=dilation, activation=activation,
        groups=groups)(x))


def depthwise(multiplier, stride, padding, dilation=1, activation=None, shape=(10, 10, 4)):
    return lambda: _model(shape, lambda k, x: k.layers.DepthwiseConv2D(
        3, strides=stride, padding=padding, depth_multiplier=multiplier, dilation_rate=dilation,
        activation=activation)(x))


def dense(units, use_bias=True, activation=None, shape=(12,)):
    return lambda: _model(shape, lambda k, x: k.layers.Dense(units, use_bias=use_bias, activation=activation)(x))


def transpose(filters, kernel, stride, padding, activation=None, use_bias=True, shape=(5, 5, 3), output_padding=None):
    return lambda: _model(shape, lambda k, x: k.layers.Conv2DTranspose(
        filters, kernel, strides=stride, padding=padding, activation=activation, use_bias=use_bias,
        output_padding=output_padding)(x))


A16 = {"activations": "int16", "io_dtype": "int16"}
BIAS32 = {**A16, "bias_type": "int32"}
PER_TENSOR = {**A16, "per_channel": False}
INT8 = {"activations": "int8", "io_dtype": "int8"}
FLOAT = {"activations": "float32", "io_dtype": "float32"}

# name -> (model builder, op it must contain, converter options)
CASES = {
    # CONV_2D 16x8: int64 bias (int64 accumulator) unless noted
    "conv16-k3-s1-same": (conv(3, 1, "same"), "CONV_2D", A16),
    "conv16-k3-s2-same-relu": (conv(3, 2, "same", activation="relu"), "CONV_2D", A16),
    "conv16-k3-s2-valid-relu6": (conv(3, 2, "valid", activation="relu6"), "CONV_2D", A16),
    "conv16-k1-s1-valid": (conv(1, 1, "valid"), "CONV_2D", A16),
    "conv16-k5-s1-same-dil2": (conv(5, 1, "same", dilation=2, activation="relu"), "CONV_2D", A16),
    "conv16-k3-s3-same-wide": (conv(3, 3, "same", filters=17, shape=(13, 9, 7)), "CONV_2D", A16),
    "conv16-grouped": (conv(3, 1, "valid", filters=6, shape=(7, 7, 4), groups=2), "CONV_2D", A16),
    "conv16-bias32": (conv(3, 2, "same", activation="relu"), "CONV_2D", BIAS32),
    "conv16-per-tensor": (conv(3, 1, "same"), "CONV_2D", PER_TENSOR),
    # DEPTHWISE_CONV_2D 16x8
    "dw16-m1-s1-same": (depthwise(1, 1, "same"), "DEPTHWISE_CONV_2D", A16),
    "dw16-m2-s1-same-relu6": (depthwise(2, 1, "same", activation="relu6"), "DEPTHWISE_CONV_2D", A16),
    "dw16-m1-s2-valid": (depthwise(1, 2, "valid"), "DEPTHWISE_CONV_2D", A16),
    "dw16-m3-s2-same-relu": (depthwise(3, 2, "same", activation="relu"), "DEPTHWISE_CONV_2D", A16),
    "dw16-m1-s1-same-dil2": (depthwise(1, 1, "same", dilation=2), "DEPTHWISE_CONV_2D", A16),
    # FULLY_CONNECTED 16x8
    "fc16-bias": (dense(7), "FULLY_CONNECTED", A16),
    "fc16-nobias-relu": (dense(5, use_bias=False, activation="relu"), "FULLY_CONNECTED", A16),
    "fc16-3d": (dense(6, shape=(4, 9)), "FULLY_CONNECTED", A16),
    "fc16-bias32": (dense(7), "FULLY_CONNECTED", BIAS32),
    "fc16-nobias-bias32": (dense(5, use_bias=False), "FULLY_CONNECTED", BIAS32),  # int32 accumulator, no bias
    "fc16-per-tensor": (dense(7, activation="relu"), "FULLY_CONNECTED", PER_TENSOR),
    "fc16-wide": (dense(40, shape=(300,)), "FULLY_CONNECTED", A16),
    # TRANSPOSE_CONV, int8, 16x8 and float32
    **{f"tconv{bits}-{name}": (build, "TRANSPOSE_CONV", options)
       for bits, options in (("8", INT8), ("16", A16), ("f32", FLOAT))
       for name, build in {
           "k3-s2-same": transpose(4, 3, 2, "same"),
           "k3-s2-valid-nobias": transpose(4, 3, 2, "valid", use_bias=False),
           "k2-s2-same-relu": transpose(5, 2, 2, "same", activation="relu"),
           "k4-s1-same": transpose(3, 4, 1, "same", shape=(6, 7, 2)),
           "k3x2-s2x1-valid": transpose(4, (3, 2), (2, 1), "valid", shape=(4, 6, 3)),
           "k3-s2-same-outpad": transpose(4, 3, 2, "same", output_padding=1),
           "k5-s3-valid-wide": transpose(9, 5, 3, "valid", shape=(4, 4, 20), activation="relu6"),
       }.items()},
    "tconv8-per-tensor": (transpose(4, 3, 2, "same", activation="relu"), "TRANSPOSE_CONV",
                          {**INT8, "per_channel": False}),
    "tconv16-per-tensor": (transpose(4, 3, 2, "same", activation="relu"), "TRANSPOSE_CONV", PER_TENSOR),
}

#: TFLM's own SEANet integration-test layers (tests/corpus): 16x8 CONV_2D and TRANSPOSE_CONV
CORPUS_MODELS = ("seanet_conv0", "seanet_conv2", "seanet_conv4", "seanet_conv15",
                 "seanet_transpose_conv3", "seanet_transpose_conv4")


def _path(name: str) -> Path:
    build, _, options = CASES[name]
    return keras_model_tflite(f"grid16x8-{name}-v1", build, **options)


def _assert_exact(path: Path, seed: int) -> None:
    reference = assert_bit_exact_with_tflm(path, samples=SAMPLES, seed=seed)
    assert reference.allocations, "the interpreter printed no allocation figures"
    estimate = estimate_arena(read_model(path), HOST, "reference", recording_allocator=True,
                              tflm_version=HOST_TFLM_VERSION)
    assert (estimate.head, estimate.tail, estimate.total) == (
        reference.allocations["head"], reference.allocations["tail"], reference.allocations["total"])


@pytest.mark.parametrize("name", list(CASES))
def test_op_bit_exact_and_arena_exact(name):
    path = _path(name)
    _, opcode, options = CASES[name]
    model = read_model(path)
    kernel_ops = [op for op in model.operators if op.opcode == opcode]
    assert kernel_ops, f"the converter emitted no {opcode}: {[op.opcode for op in model.operators]}"
    # the case really is the variant it is named after
    data = kernel_ops[0].input(2 if opcode == "TRANSPOSE_CONV" else 0)
    assert data.dtype == options["activations"]
    bias = kernel_ops[0].input(3 if opcode == "TRANSPOSE_CONV" else 2)
    if bias is not None and options["activations"] == "int16":
        assert bias.dtype == options.get("bias_type", "int64")
    weights = kernel_ops[0].input(1)
    if options["activations"] != "float32":
        assert (weights.quantization.channels > 1) == options.get("per_channel", True)
    _assert_exact(path, seed=zlib.crc32(name.encode()) % 1000)


@pytest.mark.parametrize("name", CORPUS_MODELS)
def test_corpus_model_bit_exact_and_arena_exact(name):
    path = CORPUS / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path.name} is not in tests/corpus")
    model = read_model(path)
    assert {op.opcode for op in model.operators} & {"CONV_2D", "TRANSPOSE_CONV"}
    assert model.operators[0].input(2 if model.operators[0].opcode == "TRANSPOSE_CONV" else 0).dtype == "int16"
    _assert_exact(path, seed=zlib.crc32(name.encode()) % 1000)


@pytest.mark.parametrize("build, opcode", [
    (depthwise(2, 1, "same"), "DEPTHWISE_CONV_2D"),
    (transpose(4, 3, 2, "same"), "TRANSPOSE_CONV"),
])
def test_int32_bias_that_tflm_reads_as_int64_is_refused(build, opcode):
    """TFLM's 16x8 DEPTHWISE_CONV_2D and TRANSPOSE_CONV read any non-int16 bias as int64, so
    an int32 bias gives garbage on the device; the emulator says so instead of guessing."""
    path = keras_model_tflite(f"grid16x8-refused-{opcode}-v1", build, **BIAS32)
    model = read_model(path)
    assert any(op.opcode == opcode and op.input(3 if opcode == "TRANSPOSE_CONV" else 2).dtype == "int32"
               for op in model.operators)
    with pytest.raises(UnsupportedModelError, match="int32 bias with int16 input"):
        Emulator(path)


def test_int64_multiply_by_quantized_multiplier_matches_a_big_integer_reference():
    """``MultiplyByQuantizedMultiplier(int64_t, ...)`` over its whole documented input range
    (|x| < 2^47, shift -31..7), against the C's arithmetic in Python integers."""
    import numpy as np

    from jsqat_embed.emulator.fixedpoint import multiply_by_quantized_multiplier_int64

    rng = np.random.default_rng(7)
    x = rng.integers(-(1 << 47), 1 << 47, size=4000, dtype=np.int64)
    x[:6] = [0, 1, -1, (1 << 47) - 1, -(1 << 47), -12345]
    multiplier = rng.integers(1 << 30, (1 << 31) - 1, size=x.size, endpoint=True, dtype=np.int64)
    multiplier[:3] = [0x7FFF0000 - 1, 0x7FFF0000, (1 << 31) - 1]
    shift = rng.integers(-31, 7, size=x.size, endpoint=True, dtype=np.int64)

    def reference(value: int, m: int, s: int) -> int:
        reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
        total = 15 - s
        result = (value * reduced + (1 << (total - 1))) >> total  # Python's >> floors: an arithmetic shift
        return (result + (1 << 31)) % (1 << 32) - (1 << 31)  # the C's cast to int32_t

    expected = [reference(int(a), int(m), int(s)) for a, m, s in zip(x, multiplier, shift)]
    assert multiply_by_quantized_multiplier_int64(x, multiplier, shift).tolist() == expected
