"""int16 (16x8) element-wise ops, activations, pooling, MEAN and QUANTIZE/DEQUANTIZE, and
LOG_SOFTMAX, PRELU, MAXIMUM and MINIMUM, against the real TFLM.

Each case is a tiny model: a Keras model converted by the TF converter (16x8
cases with ``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``, int16
I/O unless noted), a float model converted without quantization, or a converted
model edited with the project's own reader and writer where the converter never
emits the variant TFLM runs (power-of-two int16 scales of LOGISTIC/TANH, ADD's
``pot_scale_int16`` option, int16 PRELU, QUANTIZE between int8 and int16). Every
case runs 16 random inputs spanning the whole input type through the emulator
and through TFLM (tflite-micro wheel) and must agree byte for byte; the host
arena estimate must equal what TFLM's recording allocator reports. Unary ops
applied straight to the model input are also fed every int16 value, and the
corpus models made of these ops are checked like the cases.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.graph.model import Operator, Quantization, Tensor
from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION, estimate_arena
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.writer import write_model
from jsqat_embed.verify.references import run_reference
from tests.emulator.test_op_grid import activation, binary, pool, reductions, softmax
from tests.helpers import assert_bit_exact_with_tflm, keras_model_tflite

SAMPLES = 16
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
A16 = {"activations": "int16", "io_dtype": "int16"}
FLOAT_IO16 = {"activations": "int16", "io_dtype": "float32"}
INT8 = {}


def _k():
    from jsqat_embed.training import zoo

    return zoo.keras()


def _tf():
    import tensorflow as tf

    return tf


def _model(shape, body, dtype="float32"):
    k = _k()
    inputs = k.Input(shape, batch_size=1, dtype=dtype)
    return k.Model(inputs, body(k, inputs))


def bare(layer: Callable, shape=(5, 5, 4)):
    """The op straight on the model input (its scale comes from calibration alone)."""
    return lambda: _model(shape, lambda k, x: layer(k)(x))


def with_constant(kind: str):
    values = [0.1, -0.2, 0.3, 0.05]
    operations = {"add": lambda t: t + _tf().constant(values), "mul": lambda t: t * _tf().constant(values)}
    return bare(lambda k: k.layers.Lambda(operations[kind]), shape=(6, 6, 4))


def log_softmax(classes, rows_4d=False):
    layer = lambda k: k.layers.Lambda(lambda t: _tf().nn.log_softmax(t))  # noqa: E731
    if rows_4d:
        return lambda: _model((4, 4, 3), lambda k, x: layer(k)(k.layers.Conv2D(classes, 1)(x)))
    return lambda: _model((16,), lambda k, x: layer(k)(k.layers.Dense(classes)(x)))


def prelu(shared_axes, dense=False):
    if dense:
        return lambda: _model((12,), lambda k, x: k.layers.PReLU()(k.layers.Dense(6)(x)))
    return lambda: _model((5, 5, 3), lambda k, x: k.layers.PReLU(shared_axes=shared_axes)(k.layers.Conv2D(5, 1)(x)))


def max_min(kind, broadcast=False, constant=False):
    def body(k, x):
        a = k.layers.Conv2D(4, 1)(x)
        if constant:  # both ops against scalars (the converter requantizes in between)
            return k.layers.Lambda(lambda t: _tf().minimum(_tf().maximum(t, -0.25), 0.5))(a)
        b = k.layers.Conv2D(4, 1)(x)
        if broadcast:
            b = k.layers.GlobalAveragePooling2D(keepdims=True)(b)
        operation = _tf().maximum if kind == "max" else _tf().minimum
        return k.layers.Lambda(lambda t: operation(t[0], t[1]))([a, b])

    return lambda: _model((6, 6, 3), body)


def float_max_min(kind, broadcast=False, dtype="float32"):
    def body(k, x):
        operation = _tf().maximum if kind == "max" else _tf().minimum
        if broadcast:
            return k.layers.Lambda(lambda t: operation(t, _tf().constant([3, -2, 0, 7], dtype=dtype)))(x)
        return k.layers.Lambda(lambda t: operation(t, t[:, ::-1]))(x)

    return lambda: _model((5, 4), body, dtype=dtype)


# -- hand-made variants: a converted model edited with the project's reader and writer -------------

def set_input_scale(scale: float):
    def edit(model):
        model.inputs[0].quantization = Quantization(np.array([scale], np.float32), np.array([0], np.int64))

    return edit


def set_option(opcode: str, key: str, value):
    def edit(model):
        for op in model.operators:
            if op.opcode == opcode:
                op.options[key] = value

    return edit


def _new_tensor(model, name, shape, dtype, scale, zero_point, data=None) -> Tensor:
    tensor = Tensor(index=len(model.tensors), name=name, shape=tuple(shape), dtype=dtype,
                    quantization=Quantization(np.array([scale], np.float32), np.array([zero_point], np.int64)),
                    data=data)
    model.tensors.append(tensor)
    return tensor


def leaky_relu_to_prelu(model):
    """int16 PRELU (int8 alpha, one slope per channel, non-zero alpha zero point) in place of LEAKY_RELU."""
    index = next(i for i, op in enumerate(model.operators) if op.opcode == "LEAKY_RELU")
    old = model.operators[index]
    channels = old.inputs[0].shape[-1]
    alpha = _new_tensor(model, "alpha", (channels,), "int8", 0.004, 10,
                        np.array([-60, -20, 40, 127][:channels] + [5] * max(0, channels - 4), np.int8))
    model.operators[index] = Operator(index=old.index, opcode="PRELU", is_custom=False, version=1,
                                      inputs=[old.inputs[0], alpha], outputs=old.outputs)


def append_quantize(dtype: str, scale: float, zero_point: int):
    """A QUANTIZE after the model's output, to ``dtype``; its output becomes the model output."""

    def edit(model):
        source = model.outputs[0]
        target = _new_tensor(model, f"requantized_{dtype}", source.shape, dtype, scale, zero_point)
        model.operators.append(Operator(index=len(model.operators), opcode="QUANTIZE", is_custom=False, version=1,
                                        inputs=[source], outputs=[target]))
        model.main.outputs[0] = target

    return edit


# name -> (model builder, op it must contain, the op's input type, converter options, edit of the converted model)
CASES = {
    # ADD / SUB / MUL, 16x8 (TFLM: general rescaling, left shift 15; MUL needs zero points 0)
    "add16": (binary("add", False), "ADD", "int16", A16, None),
    "add16-broadcast": (binary("add", True), "ADD", "int16", A16, None),
    "add16-relu": (binary("add", False, "relu"), "ADD", "int16", A16, None),
    "add16-constant": (with_constant("add"), "ADD", "int16", A16, None),
    "add16-pot-scale-option": (binary("add", False), "ADD", "int16", A16, set_option("ADD", "pot_scale_int16", True)),
    "sub16": (binary("sub", False), "SUB", "int16", A16, None),
    "sub16-broadcast": (binary("sub", True), "SUB", "int16", A16, None),
    "sub16-pot-scale-option": (binary("sub", False), "SUB", "int16", A16, set_option("SUB", "pot_scale_int16", True)),
    "mul16": (binary("mul", False), "MUL", "int16", A16, None),
    "mul16-broadcast": (binary("mul", True), "MUL", "int16", A16, None),
    "mul16-constant": (with_constant("mul"), "MUL", "int16", A16, None),
    # activations, 16x8
    "leaky16-0.1": (activation("leaky_0.1"), "LEAKY_RELU", "int16", A16, None),
    "leaky16-0.3": (activation("leaky_0.3"), "LEAKY_RELU", "int16", A16, None),
    "leaky16-bare": (bare(lambda k: k.layers.LeakyReLU(0.2)), "LEAKY_RELU", "int16", A16, None),
    "leaky16-bare-negative-alpha": (bare(lambda k: k.layers.LeakyReLU(-0.5)), "LEAKY_RELU", "int16", A16, None),
    "relu16": (activation("relu"), "RELU", "int16", A16, None),
    "relu16-bare": (bare(lambda k: k.layers.ReLU()), "RELU", "int16", A16, None),
    "relu6-16-bare": (bare(lambda k: k.layers.ReLU(6.0)), "RELU6", "int16", A16, None),
    "relu6-16": (activation("relu6"), "RELU6", "int16", A16, None),
    "sigmoid16": (activation("sigmoid"), "LOGISTIC", "int16", A16, None),
    "sigmoid16-bare": (bare(lambda k: k.layers.Activation("sigmoid")), "LOGISTIC", "int16", A16, None),
    "sigmoid16-pot-shift0": (bare(lambda k: k.layers.Activation("sigmoid")), "LOGISTIC", "int16", A16,
                             set_input_scale(2.0 ** -12)),
    "sigmoid16-pot-shift1": (bare(lambda k: k.layers.Activation("sigmoid")), "LOGISTIC", "int16", A16,
                             set_input_scale(2.0 ** -11)),
    "tanh16": (activation("tanh"), "TANH", "int16", A16, None),
    "tanh16-pot-shift0": (bare(lambda k: k.layers.Activation("tanh")), "TANH", "int16", A16,
                          set_input_scale(2.0 ** -12)),
    "tanh16-pot-shift1": (bare(lambda k: k.layers.Activation("tanh")), "TANH", "int16", A16,
                          set_input_scale(2.0 ** -11)),
    "softmax16-10": (softmax(10), "SOFTMAX", "int16", A16, None),
    "softmax16-300": (softmax(300), "SOFTMAX", "int16", A16, None),
    "softmax16-rows-4d": (softmax(7, rows_4d=True), "SOFTMAX", "int16", A16, None),
    # pooling and MEAN, 16x8
    "avgpool16-2-2-valid": (pool("avg", 2, 2, "valid"), "AVERAGE_POOL_2D", "int16", A16, None),
    "avgpool16-3-2-same": (pool("avg", 3, 2, "same"), "AVERAGE_POOL_2D", "int16", A16, None),
    "avgpool16-3-1-same": (pool("avg", 3, 1, "same"), "AVERAGE_POOL_2D", "int16", A16, None),
    "maxpool16-2-2-valid": (pool("max", 2, 2, "valid"), "MAX_POOL_2D", "int16", A16, None),
    "maxpool16-3-2-same": (pool("max", 3, 2, "same"), "MAX_POOL_2D", "int16", A16, None),
    "maxpool16-fused-relu": (lambda: _model((9, 9, 3), lambda k, x: k.layers.ReLU()(k.layers.MaxPooling2D(2)(
        k.layers.Conv2D(4, 1)(x)))), "MAX_POOL_2D", "int16", A16, None),
    "mean16-keepdims": (reductions("mean_keepdims"), "MEAN", "int16", A16, None),
    "mean16-axis1": (reductions("mean_axis1"), "MEAN", "int16", A16, None),
    # QUANTIZE / DEQUANTIZE around int16
    "float-io16": (activation("tanh"), "DEQUANTIZE", "int16", FLOAT_IO16, None),
    "quantize-int16-to-int8": (bare(lambda k: k.layers.Activation("sigmoid")), "QUANTIZE", "int16", A16,
                               append_quantize("int8", 1 / 256, -128)),
    "quantize-int8-to-int16": (bare(lambda k: k.layers.Activation("sigmoid")), "QUANTIZE", "int8", INT8,
                               append_quantize("int16", 2.0 ** -15, 0)),
    # MAXIMUM / MINIMUM: raw comparisons of int8, int16, int32 or float32 values
    "max16": (max_min("max"), "MAXIMUM", "int16", A16, None),
    "min16-broadcast": (max_min("min", broadcast=True), "MINIMUM", "int16", A16, None),
    "max-min16-constant": (max_min("max", constant=True), "MINIMUM", "int16", A16, None),
    "max8": (max_min("max"), "MAXIMUM", "int8", INT8, None),
    "max8-broadcast": (max_min("max", broadcast=True), "MAXIMUM", "int8", INT8, None),
    "min8": (max_min("min"), "MINIMUM", "int8", INT8, None),
    "max-min8-constant": (max_min("max", constant=True), "MAXIMUM", "int8", INT8, None),
    "max-float32": (float_max_min("max"), "MAXIMUM", "float32", None, None),
    "min-float32-broadcast": (float_max_min("min", broadcast=True), "MINIMUM", "float32", None, None),
    "max-int32-broadcast": (float_max_min("max", broadcast=True, dtype="int32"), "MAXIMUM", "int32", None, None),
    "min-int32": (float_max_min("min", dtype="int32"), "MINIMUM", "int32", None, None),
    # PRELU: alpha per channel shared over H and W, one per element, after a dense layer; int16 by edit
    "prelu8-shared-hw": (prelu([1, 2]), "PRELU", "int8", INT8, None),
    "prelu8-per-element": (prelu(None), "PRELU", "int8", INT8, None),
    "prelu8-dense": (prelu(None, dense=True), "PRELU", "int8", INT8, None),
    "prelu16": (bare(lambda k: k.layers.LeakyReLU(0.2)), "PRELU", "int16", A16, leaky_relu_to_prelu),
    "prelu-float32": (bare(lambda k: k.layers.PReLU(alpha_initializer="random_normal", shared_axes=[1])),
                      "PRELU", "float32", None, None),
    # LOG_SOFTMAX, int8 (the converter has no 16x8 LOG_SOFTMAX; TFLM neither)
    "log-softmax8-10": (log_softmax(10), "LOG_SOFTMAX", "int8", INT8, None),
    "log-softmax8-300": (log_softmax(300), "LOG_SOFTMAX", "int8", INT8, None),
    "log-softmax8-rows-4d": (log_softmax(7, rows_4d=True), "LOG_SOFTMAX", "int8", INT8, None),
}


def _float_tflite(key: str, build: Callable[[], object]):
    """Cached float (unquantized) .tflite of the Keras model ``build()`` returns."""
    from jsqat_embed.training import zoo

    def make() -> bytes:
        zoo.keras().utils.set_random_seed(0)
        return bytes(_tf().lite.TFLiteConverter.from_keras_model(build()).convert())

    return zoo.cached_tflite(key, make)


def _path(name: str):
    from jsqat_embed.training import zoo

    build, _, _, options, edit = CASES[name]
    key = f"grid-int16-{name}-v1"
    path = _float_tflite(key, build) if options is None else keras_model_tflite(key, build, **options)
    if edit is None:
        return path

    def make() -> bytes:
        model = read_model(path)
        edit(model)
        return write_model(model)

    return zoo.cached_tflite(f"{key}-edited", make)


def _assert_exact(path, seed: int) -> None:
    assert_bit_exact_with_tflm(path, samples=SAMPLES, seed=seed)
    estimate = estimate_arena(read_model(path), HOST, "reference", recording_allocator=True,
                              tflm_version=HOST_TFLM_VERSION)
    recorded = run_reference("tflm", path)
    assert recorded.ok, recorded.error
    assert (estimate.head, estimate.tail, estimate.total) == (
        recorded.allocations["head"], recorded.allocations["tail"], recorded.allocations["total"])


@pytest.mark.parametrize("name", list(CASES))
def test_op_bit_exact_and_arena_exact(name):
    path = _path(name)
    _, opcode, dtype, _, _ = CASES[name]
    found = [op for op in read_model(path).operators if op.opcode == opcode]
    assert found, f"the model has no {opcode}: {[op.opcode for op in read_model(path).operators]}"
    assert dtype in {op.input(0).dtype for op in found}, "the case is not the variant it is named after"
    _assert_exact(path, seed=zlib.crc32(name.encode()) % 1000)


#: real models (tests/corpus: TFLM's own SEANet integration-test layers) made of these ops
CORPUS_MODELS = ["seanet_add0", "seanet_sub0", "seanet_leaky_relu0", "seanet_quantize0"]


@pytest.mark.parametrize("name", CORPUS_MODELS)
def test_corpus_model_bit_exact_and_arena_exact(name):
    path = CORPUS / f"{name}.tflite"
    if not path.exists():
        pytest.skip(f"{path.name} is not in tests/corpus")
    assert read_model(path).operators[0].outputs[0].dtype == "int16"
    _assert_exact(path, seed=0)


WHOLE_16X8 = {"resnet-style-32": ("resnet_style", 32, "int16"), "vgg-style-32": ("vgg_style", 32, "float32"),
              "mobilenetv2-a0.35-96": ("mobilenetv2", 96, "int16")}


@pytest.mark.parametrize("name", list(WHOLE_16X8))
def test_whole_16x8_cnn_bit_exact_and_arena_exact(name):
    """Small CNNs of the zoo converted 16x8: these ops together with 16x8 convolutions."""
    from jsqat_embed.training import zoo

    architecture, size, io_dtype = WHOLE_16X8[name]
    path = keras_model_tflite(f"grid-int16-whole-{name}-v1", lambda: getattr(zoo, architecture)(size),
                              activations="int16", io_dtype=io_dtype)
    assert {op.input(0).dtype for op in read_model(path).operators if op.opcode == "SOFTMAX"} == {"int16"}
    _assert_exact(path, seed=zlib.crc32(name.encode()) % 1000)


#: unary ops straight on the model input: fed every int16 value once
EXHAUSTIVE = ["sigmoid16-bare", "sigmoid16-pot-shift0", "sigmoid16-pot-shift1", "tanh16-pot-shift0",
              "tanh16-pot-shift1", "leaky16-bare", "leaky16-bare-negative-alpha", "relu16-bare", "relu6-16-bare"]


@pytest.mark.parametrize("name", EXHAUSTIVE)
def test_unary_int16_op_on_every_input_value(name):
    """Random inputs touch a few thousand of the 65536 int16 values; this feeds all of them."""
    path = _path(name)
    emulator = Emulator(path)
    tensor = emulator.inputs[0]
    assert [op.opcode for op in emulator.model.operators] == [CASES[name][1]] and tensor.dtype == "int16"
    every = np.arange(-(1 << 15), 1 << 15, dtype=np.int16)
    samples = -(-every.size // tensor.size)
    inputs = np.resize(every, samples * tensor.size).reshape(samples, *tensor.shape[1:])
    ours = emulator.run(inputs)[0]
    reference = run_reference("tflm", path, [inputs])
    assert reference.ok, reference.error
    theirs = reference.outputs[0]
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    differ = np.flatnonzero(ours.reshape(-1) != theirs.reshape(-1))
    assert differ.size == 0, f"{differ.size} of {ours.size} differ, first at input {inputs.reshape(-1)[differ[:5]]}"


def test_edits_make_the_variants_they_name():
    """The hand-made variants really take the TFLM paths their names say."""
    model = read_model(_path("sigmoid16-pot-shift0"))
    assert float(model.operators[0].input(0).scale) == 2.0 ** -12
    model = read_model(_path("add16-pot-scale-option"))
    assert next(op for op in model.operators if op.opcode == "ADD").options["pot_scale_int16"] is True
    model = read_model(_path("prelu16"))
    op = next(op for op in model.operators if op.opcode == "PRELU")
    assert (op.input(0).dtype, op.input(1).dtype, op.outputs[0].dtype) == ("int16", "int8", "int16")
    model = read_model(_path("quantize-int16-to-int8"))
    assert (model.inputs[0].dtype, model.outputs[0].dtype) == ("int16", "int8")
    model = read_model(_path("float-io16"))
    assert {"QUANTIZE", "DEQUANTIZE"} <= {op.opcode for op in model.operators}


def test_softmax_int16_tables_equal_tflms():
    """The two 513-entry tables int16 SOFTMAX builds in Prepare (float32 math and expf), against
    digests of the tables TFLM's ``LUTPopulate<int16_t>`` produced for softmax_common.cc's
    arguments (compiled with g++ on x86-64 from tflite-micro 90b983c): every entry equal."""
    import hashlib

    from jsqat_embed.emulator.kernels.softmax import int16_tables

    exp_lut, reciprocal_lut = int16_tables()
    digests = [hashlib.sha256(t.astype("<i2").tobytes()).hexdigest() for t in (exp_lut, reciprocal_lut)]
    assert digests == ["1f064505e52b55588b7378cd2dc4131c388e9f4f3e7c7a874818b8372ebf53e3",
                       "36dabd62f9189220f5886743ca50309c57fd9c0926acc262113636c017b2775c"]
