"""Per-op grids: tiny converter-made models, each compared byte for byte with TFLM.

Every case builds a small Keras model around one op (a convolution in front keeps
the quantization scales non-trivial), converts it to full int8 with the TF
converter (cached in .cache/models), and runs >= 8 random inputs spanning the
whole int8 range through the emulator and the real TFLM interpreter.
"""

from __future__ import annotations

import zlib

import pytest

from jsqat_embed.tflite import read_model
from tests.helpers import assert_bit_exact_with_tflm, keras_model_tflite


def _k():
    from jsqat_embed.training import zoo

    return zoo.keras()


def _tf():
    import tensorflow as tf

    return tf


def _model(shape, body, dynamic_batch=False):
    # A fixed batch of 1, as MCU models are exported: a dynamic batch makes the
    # converter emit shape-computing ops and, around dilated convolutions, stale
    # static shapes. Only the SHAPE/STRIDED_SLICE/PACK case asks for it.
    k = _k()
    inputs = k.Input(shape, batch_size=None if dynamic_batch else 1)
    return k.Model(inputs, body(k, inputs))


def conv(kernel, stride, padding, dilation, activation, filters=6, shape=(11, 11, 5)):
    return lambda: _model(shape, lambda k, x: k.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, dilation_rate=dilation, activation=activation)(x))


def depthwise(multiplier, stride, padding, dilation, activation=None):
    return lambda: _model((10, 10, 4), lambda k, x: k.layers.DepthwiseConv2D(
        3, strides=stride, padding=padding, depth_multiplier=multiplier, dilation_rate=dilation,
        activation=activation)(k.layers.Conv2D(4, 1)(x)))


def dense(units, use_bias, activation, shape=(12,)):
    return lambda: _model(shape, lambda k, x: k.layers.Dense(units, use_bias=use_bias, activation=activation)(x))


def pool(kind, size, stride, padding):
    layer = {"avg": "AveragePooling2D", "max": "MaxPooling2D"}[kind]
    return lambda: _model((9, 9, 3), lambda k, x: getattr(k.layers, layer)(size, strides=stride, padding=padding)(
        k.layers.Conv2D(4, 1)(x)))


def binary(kind, broadcast, activation=None):
    def body(k, x):
        a = k.layers.Conv2D(4, 1)(x)
        b = k.layers.Conv2D(4 if not broadcast else 4, 1, activation="relu")(x)
        if broadcast:
            b = k.layers.GlobalAveragePooling2D(keepdims=True)(b)
        if kind == "add":
            y = k.layers.Add()([a, b]) if not broadcast else k.layers.Lambda(lambda t: t[0] + t[1])([a, b])
        elif kind == "sub":
            y = k.layers.Subtract()([a, b]) if not broadcast else k.layers.Lambda(lambda t: t[0] - t[1])([a, b])
        else:
            y = k.layers.Multiply()([a, b]) if not broadcast else k.layers.Lambda(lambda t: t[0] * t[1])([a, b])
        return k.layers.Activation(activation)(y) if activation else y

    return lambda: _model((6, 6, 3), body)


def activation(name):
    def body(k, x):
        y = k.layers.Conv2D(5, 1)(x)
        if name == "hard_swish":
            return k.layers.Lambda(lambda t: t * _tf().nn.relu6(t + 3.0) / 6.0)(y)
        if name.startswith("leaky"):
            return k.layers.LeakyReLU(float(name.split("_")[1]))(y)
        if name in ("relu", "relu6"):
            # after a concatenation, which cannot fuse an activation, so RELU/RELU6 stay ops
            joined = k.layers.Concatenate()([y, k.layers.Conv2D(3, 1)(x)])
            return k.layers.ReLU(max_value=6.0 if name == "relu6" else None)(joined)
        return k.layers.Activation(name)(y)

    return lambda: _model((5, 5, 3), body)


def softmax(classes, rows_4d=False):
    if rows_4d:
        return lambda: _model((4, 4, 3), lambda k, x: k.layers.Softmax()(k.layers.Conv2D(classes, 1)(x)))
    return lambda: _model((16,), lambda k, x: k.layers.Softmax()(k.layers.Dense(classes)(x)))


def concat(axis):
    return lambda: _model((6, 6, 3), lambda k, x: k.layers.Concatenate(axis=axis)(
        [k.layers.Conv2D(4, 1)(x), k.layers.Conv2D(4, 3, padding="same")(x)]))


def reshapes(kind):
    def body(k, x):
        y = k.layers.Conv2D(4, 1)(x)
        if kind == "flatten":
            return k.layers.Dense(3)(k.layers.Flatten()(y))
        if kind == "permute":
            return k.layers.Permute((3, 1, 2))(y)
        if kind == "squeeze":
            return k.layers.Lambda(lambda t: _tf().squeeze(t, axis=1))(k.layers.Conv2D(4, (6, 1))(y))
        if kind == "dynamic_reshape":
            return k.layers.Lambda(lambda t: _tf().reshape(t, [_tf().shape(t)[0], 6 * 6 * 4]))(y)
        raise ValueError(kind)

    return lambda: _model((6, 6, 3), body, dynamic_batch=kind == "dynamic_reshape")


def padding_op(pads):
    # the padded tensor is the output, so the converter cannot fold PAD into a convolution
    return lambda: _model((6, 6, 3), lambda k, x: k.layers.ZeroPadding2D(pads)(k.layers.Conv2D(3, 1)(x)))


def reductions(kind):
    def body(k, x):
        y = k.layers.Conv2D(5, 1)(x)
        if kind == "mean_keepdims":
            return k.layers.GlobalAveragePooling2D(keepdims=True)(y)
        if kind == "mean_axis1":
            return k.layers.Lambda(lambda t: _tf().reduce_mean(t, axis=1))(y)
        return k.layers.Lambda(lambda t: _tf().reduce_max(t, axis=[1, 2]))(y)

    return lambda: _model((7, 7, 3), body)


def space_batch():
    def body(k, x):
        y = k.layers.Conv2D(4, 1)(x)
        s2b = k.layers.Lambda(lambda t: _tf().space_to_batch_nd(t, [2, 2], [[1, 1], [1, 1]]))(y)
        z = k.layers.Conv2D(4, 3, padding="same")(s2b)
        return k.layers.Lambda(lambda t: _tf().compat.v1.batch_to_space_nd(t, [2, 2], [[1, 1], [1, 1]]))(z)

    return lambda: _model((6, 6, 3), body)


def stack():
    return lambda: _model((6,), lambda k, x: k.layers.Lambda(lambda t: _tf().stack(t, axis=1))(
        [k.layers.Dense(4)(x), k.layers.Dense(4)(x)]))


CASES = {
    # CONV_2D: kernel, stride, padding, dilation, activation
    "conv-k3-s1-same": conv(3, 1, "same", 1, None),
    "conv-k3-s2-same-relu": conv(3, 2, "same", 1, "relu"),
    "conv-k3-s2-valid-relu6": conv(3, 2, "valid", 1, "relu6"),
    "conv-k1-s1-valid": conv(1, 1, "valid", 1, None),
    "conv-k5-s1-same-dil2": conv(5, 1, "same", 2, "relu"),
    "conv-k3-s1-valid-dil2": conv(3, 1, "valid", 2, None),
    "conv-k5-s2-valid": conv(5, 2, "valid", 1, "relu6"),
    "conv-k3x1-s1-same": conv((3, 1), 1, "same", 1, None),
    "conv-k3-s3-same-wide": conv(3, 3, "same", 1, "relu", filters=17, shape=(13, 9, 7)),
    # DEPTHWISE_CONV_2D: multiplier, stride, padding, dilation
    "dw-m1-s1-same": depthwise(1, 1, "same", 1),
    "dw-m2-s1-same-relu6": depthwise(2, 1, "same", 1, "relu6"),
    "dw-m1-s2-valid": depthwise(1, 2, "valid", 1),
    "dw-m3-s2-same": depthwise(3, 2, "same", 1, "relu"),
    "dw-m1-s1-same-dil2": depthwise(1, 1, "same", 2),
    "dw-m2-s1-valid-dil2": depthwise(2, 1, "valid", 2),
    # FULLY_CONNECTED
    "fc-bias": dense(7, True, None),
    "fc-nobias-relu": dense(5, False, "relu"),
    "fc-3d-keepdims": dense(6, True, None, shape=(4, 9)),
    # pooling
    "avgpool-2-2-valid": pool("avg", 2, 2, "valid"),
    "avgpool-3-2-same": pool("avg", 3, 2, "same"),
    "avgpool-3-1-same": pool("avg", 3, 1, "same"),
    "maxpool-2-2-valid": pool("max", 2, 2, "valid"),
    "maxpool-3-2-same": pool("max", 3, 2, "same"),
    # element-wise binary ops
    "add": binary("add", False),
    "add-broadcast": binary("add", True),
    "add-relu": binary("add", False, "relu"),
    "sub": binary("sub", False),
    "sub-broadcast": binary("sub", True),
    "mul": binary("mul", False),
    "mul-broadcast": binary("mul", True),
    # activations
    "sigmoid": activation("sigmoid"),
    "tanh": activation("tanh"),
    "hard_swish": activation("hard_swish"),
    "leaky-0.1": activation("leaky_0.1"),
    "leaky-0.3": activation("leaky_0.3"),
    "relu": activation("relu"),
    "relu6": activation("relu6"),
    # softmax
    "softmax-10": softmax(10),
    "softmax-300": softmax(300),
    "softmax-rows-4d": softmax(7, rows_4d=True),
    # data movement
    "concat-channels": concat(-1),
    "concat-axis1": concat(1),
    "flatten": reshapes("flatten"),
    "permute": reshapes("permute"),
    "squeeze": reshapes("squeeze"),
    "dynamic-reshape": reshapes("dynamic_reshape"),
    "pad-1": padding_op(1),
    "pad-asym": padding_op(((1, 2), (0, 3))),
    "mean-keepdims": reductions("mean_keepdims"),
    "mean-axis1": reductions("mean_axis1"),
    "reduce-max": reductions("reduce_max"),
    "space-to-batch": space_batch(),
    "pack": stack(),
}


@pytest.mark.parametrize("name", list(CASES))
def test_op_bit_exact(name):
    path = keras_model_tflite(f"grid-{name}-v3", CASES[name])
    assert_bit_exact_with_tflm(path, samples=8, seed=zlib.crc32(name.encode()) % 1000)


@pytest.mark.parametrize("name", ["fc-bias", "conv-k3-s2-same-relu", "softmax-10"])
def test_float_io_models_quantize_and_dequantize(name):
    path = keras_model_tflite(f"grid-{name}-v3", CASES[name], io_dtype="float32")
    ops = {op.opcode for op in read_model(path).operators}
    assert {"QUANTIZE", "DEQUANTIZE"} <= ops
    assert_bit_exact_with_tflm(path, samples=8)


def test_grid_covers_the_ops_it_claims():
    """The grid must really exercise each op family (the converter could fold some away).

    SQUEEZE is not listed: TF 2.21 lowers tf.squeeze to RESHAPE; the SQUEEZE kernel
    is the RESHAPE kernel (both keep the bytes and take the output's shape).
    """
    expected = {
        "hard_swish": "HARD_SWISH", "leaky-0.1": "LEAKY_RELU", "sigmoid": "LOGISTIC", "tanh": "TANH",
        "relu": "RELU", "relu6": "RELU6", "permute": "TRANSPOSE", "pad-1": "PAD",
        "reduce-max": "REDUCE_MAX", "space-to-batch": "SPACE_TO_BATCH_ND", "pack": "PACK",
        "dynamic-reshape": "STRIDED_SLICE", "sub": "SUB", "mul": "MUL", "concat-axis1": "CONCATENATION",
        "avgpool-3-2-same": "AVERAGE_POOL_2D", "maxpool-2-2-valid": "MAX_POOL_2D", "mean-axis1": "MEAN",
        "dw-m2-s1-same-relu6": "DEPTHWISE_CONV_2D", "flatten": "RESHAPE",
    }
    missing = {}
    for name, op in expected.items():
        ops = {o.opcode for o in read_model(keras_model_tflite(f"grid-{name}-v3", CASES[name])).operators}
        if op not in ops:
            missing[name] = sorted(ops)
    assert not missing, missing
