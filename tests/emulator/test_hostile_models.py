"""The emulator on hostile models (issue 14, "Models"): degenerate quantization scales are either
bit-exact with TFLM or refused with the reason; a huge pooling window costs nothing; a kernel that
fails on a model that passed the load-time checks is reported as a bug, not as a bad model.

The oracle is the real TFLM (tflite-micro package, in a subprocess); the models are small ones
built with the project's writer, so the whole file runs in seconds.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import InternalError, UnsupportedModelError
from jsqat_embed.verify.references import run_reference
from tests.op_models import T, op, op_model


def conv_model(input_scale: float, output_scale: float, padded_input_scale: float | None = None) -> bytes:
    """A 1x1 CONV_2D; with ``padded_input_scale`` a PAD before it whose output has that scale."""
    w = T("w", (3, 1, 1, 2), "int8", scale=[0.02] * 3, zero_point=[0] * 3,
          data=np.array([[1, -2], [3, 4], [-5, 6]], np.int8).reshape(3, 1, 1, 2))
    x = T("x", (1, 3, 3, 2), "int8", scale=input_scale, zero_point=1)
    ops = []
    if padded_input_scale is not None:
        paddings = T("p", (4, 2), "int32", data=np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
        padded = T("px", (1, 5, 5, 2), "int8", scale=padded_input_scale, zero_point=1)
        ops.append(op("PAD", [x, paddings], [padded]))
        x = padded
    y = T("y", (1, *x.shape[1:3], 3), "int8", scale=output_scale, zero_point=-2)
    ops.append(op("CONV_2D", [x, w, None], [y], padding="SAME", stride_h=1, stride_w=1))
    return op_model(ops)


def tflm_outputs(data: bytes, inputs: np.ndarray) -> np.ndarray:
    result = run_reference("tflm", data, [inputs])
    assert result.ok, result.error
    return result.outputs[0]


def random_input(shape, samples: int = 4) -> np.ndarray:
    return np.random.default_rng(0).integers(-128, 128, size=(samples, *shape[1:]), dtype=np.int8)


@pytest.mark.parametrize("output_scale", [1e30, 1e-8, 1e-12])
def test_extreme_but_defined_scales_are_bit_exact(output_scale):
    """A multiplier below 2^-31 is flushed to zero by QuantizeMultiplier; up to 2^31 the left shift
    stays within an int (the int32 overflow of x * 2^shift wraps, as the emulator does)."""
    data = conv_model(0.05, output_scale)
    emulator = Emulator(data)
    inputs = random_input(emulator.inputs[0].shape)
    assert np.array_equal(emulator.run(inputs)[0], tflm_outputs(data, inputs))


@pytest.mark.parametrize("input_scale, output_scale, padded", [
    (0.05, 1e-30, None),  # the reproduction: conv output scale 1e-30
    (0.05, 0.1, 1e30),  # the reproduction: a PAD output scale of 1e30 feeding the conv
    (0.05, 0.05 * 0.02 / 3e9, None),  # just past the boundary: a left shift of 32
])
def test_undefined_scales_are_refused_with_the_reason(input_scale, output_scale, padded):
    """A left shift of 32 or more in MultiplyByQuantizedMultiplier is undefined in C: the wheel's
    x86 build masks the count (its results differ from the emulator's), Arm shifts everything out."""
    data = conv_model(input_scale, output_scale, padded)
    with pytest.raises(UnsupportedModelError, match=r"CONV_2D.*left shift of \d+ \(> 31\).*undefined in TFLM"):
        Emulator(data)
    assert run_reference("tflm", data, [random_input((1, 3, 3, 2))]).ok, "TFLM runs it (with garbage)"


def test_a_pooling_window_far_larger_than_the_image_is_clipped_bit_exactly():
    """TFLM clips each window to the image; so does the emulator, before allocating (a 60,000-row
    window used to be materialized)."""
    x = T("x", (1, 6, 5, 3), "int8", scale=0.1, zero_point=2)
    y = T("y", (1, 3, 5, 3), "int8", scale=0.1, zero_point=2)
    data = op_model([op("AVERAGE_POOL_2D", [x], [y], padding="SAME", stride_h=2, stride_w=1,
                        filter_height=60_000, filter_width=3)])
    emulator = Emulator(data)
    assert emulator.kernels[0].kernel_hw[0] <= 6 + 4, "the window is clipped to the image and its padding"
    inputs = random_input(x.shape)
    assert np.array_equal(emulator.run(inputs)[0], tflm_outputs(data, inputs))


def test_a_kernel_failure_after_the_load_checks_is_a_bug_naming_the_operator(monkeypatch):
    data = conv_model(0.05, 0.1)
    emulator = Emulator(data)

    def broken(inputs):
        raise IndexError("index 7 is out of bounds")

    monkeypatch.setattr(emulator.kernels[0], "eval", broken)
    with pytest.raises(InternalError) as caught:
        emulator.run(random_input((1, 3, 3, 2), 1))
    assert str(caught.value) == ("internal error in the emulator at operator 0 (CONV_2D): IndexError: "
                                 "index 7 is out of bounds; please report")


def test_a_tensor_nothing_writes_is_refused_not_a_key_error():
    """Fuzz finding: an ADD reading a tensor that is neither written, constant nor a model input."""
    from jsqat_embed.tflite import read_model

    model = read_model(conv_model(0.05, 0.1, padded_input_scale=0.05))
    model.subgraphs[0].inputs = []  # the PAD's input is now written by nobody
    with pytest.raises(UnsupportedModelError, match="operator 0 \\(PAD\\) reads tensor .* which no operator writes"):
        Emulator(model)


def dilated_model(opcode: str, dilation: int) -> bytes:
    """A 3x3 CONV_2D or DEPTHWISE_CONV_2D with SAME padding and a dilation far beyond the image."""
    rng = np.random.default_rng(1)
    x = T("x", (1, 7, 6, 2), "int8", scale=0.05, zero_point=3)
    if opcode == "CONV_2D":
        w = T("w", (3, 3, 3, 2), "int8", scale=[0.02] * 3, zero_point=[0] * 3, data=rng.integers(-127, 128, (3, 3, 3, 2)))
        options = {}
    else:
        w = T("w", (1, 3, 3, 2), "int8", scale=[0.02] * 2, zero_point=[0] * 2, axis=3,
              data=rng.integers(-127, 128, (1, 3, 3, 2)))
        options = {"depth_multiplier": 1}
    channels = w.shape[0] if opcode == "CONV_2D" else w.shape[3]
    b = T("b", (channels,), "int32", data=rng.integers(-300, 300, channels))
    y = T("y", (1, 7, 3, channels), "int8", scale=0.1, zero_point=-1)
    return op_model([op(opcode, [x, w, b], [y], padding="SAME", stride_h=1, stride_w=2,
                        dilation_h_factor=dilation, dilation_w_factor=dilation, **options)])


@pytest.mark.parametrize("opcode", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_a_dilation_far_beyond_the_image_is_clipped_bit_exactly(opcode):
    """Fuzz finding: a dilation of 30,000 made the padded buffer 60,001 rows high. Only the taps that
    touch the image are kept (TFLM skips the others), so the buffer stays the size of the image."""
    data = dilated_model(opcode, 30_000)
    emulator = Emulator(data)
    assert emulator.kernels[0].kernel_hw == (1, 1), "only the centre tap ever reads the image"
    inputs = random_input((1, 7, 6, 2), 8)
    assert np.array_equal(emulator.run(inputs)[0], tflm_outputs(data, inputs))
    data = dilated_model(opcode, 4)  # some outputs read two taps, some one: the live range is kept whole
    inputs = random_input((1, 7, 6, 2), 8)
    assert np.array_equal(Emulator(data).run(inputs)[0], tflm_outputs(data, inputs))


def lstm_model_with(edit) -> bytes:
    """The corpus' int8 Keras LSTM (MNIST rows) with ``edit(model, lstm_operator)`` applied."""
    from pathlib import Path

    from jsqat_embed.tflite import read_model
    from jsqat_embed.tflite.writer import write_model

    model = read_model(Path(__file__).parents[1] / "corpus" / "keras_lstm_mnist_ptq.tflite")
    lstm = next(o for o in model.operators if o.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    edit(model, lstm)
    return write_model(model)


@pytest.mark.parametrize("cell_scale, fragment", [
    (1e30, "3 << 112 times an int16 cell value"),  # the fuzz finding (844cb33f93e7aaa9)
    (2.0 ** 3, "3 << 15 times an int16 cell value"),  # the first power past the defined range
    (2.0 ** -44, "a rounding shift by 32"),
])
def test_an_lstm_cell_scale_tflm_cannot_take_the_tanh_of_is_refused(cell_scale, fragment):
    """lstm_internal::Tanh shifts an int by 12 + log2(cell scale): beyond 2^-43..2^2 the C is undefined
    (an int overflow or a shift by 32 or more). TFLM still runs the model (with garbage); we refuse."""
    def edit(model, lstm):
        lstm.inputs[19].quantization.scale[:] = cell_scale

    data = lstm_model_with(edit)
    with pytest.raises(UnsupportedModelError, match=f"cell state scale 2\\^-?\\d+: .*{fragment}.*undefined in C"):
        Emulator(data)
    samples = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    assert run_reference("tflm", data, [samples]).ok, "TFLM runs it"


def test_the_lstm_cell_scales_at_the_edge_of_the_defined_range_are_bit_exact():
    for cell_scale in (2.0 ** 2, 2.0 ** -43):
        def edit(model, lstm):
            lstm.inputs[19].quantization.scale[:] = cell_scale

        data = lstm_model_with(edit)
        emulator = Emulator(data)
        inputs = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
        assert np.array_equal(emulator.run(inputs)[0], tflm_outputs(data, inputs)), cell_scale


def energy_model(**custom) -> bytes:
    return op_model([op("SignalEnergy", [T("x", (66,), "int16")], [T("y", (33,), "uint32")], custom=custom)])


@pytest.mark.parametrize("custom, fragment", [
    ({"end_index": 33, "start_index": None}, "custom option start_index is None, not an integer"),  # f64453905568b771
    ({"end_index": 33, "start_index": 1.5}, "custom option start_index is 1.5, not an integer"),
    ({"end_index": 33, "start_index": "0"}, "custom option start_index is '0', not an integer"),
    ({"aaa": 7, "end_index": 33, "start_index": 0}, "TFLM reads ['end_index', 'start_index'] by position"),
    ({"end_index": 33}, "custom options lack start_index"),
])
def test_signal_options_tflm_would_read_otherwise_are_refused(custom, fragment):
    """TFLM's signal kernels read their options by position (the map's values in key order, raw
    bytes as an integer): another type or an extra key before them changes what TFLM reads."""
    with pytest.raises(UnsupportedModelError, match=re.escape(fragment)):
        Emulator(energy_model(**custom))
    Emulator(energy_model(end_index=33, start_index=0, zzz=1.5))  # a key after them is never read


def test_a_signal_op_with_the_wrong_number_of_outputs_is_refused_as_tflm_does():
    """Fuzz finding (c5f70dcac47998b4): a SignalFilterBankSquareRoot without its output was an IndexError."""
    x, shift = T("x", (40,), "uint64"), T("s", (), "int32", data=np.array(3))
    data = op_model([op("SignalFilterBankSquareRoot", [x, shift], [T("y", (40,), "uint32"), T("z", (40,), "uint32")])])
    with pytest.raises(UnsupportedModelError, match=re.escape("takes 2 input(s) and 1 output(s), got 2 and 2")):
        Emulator(data)
    samples = np.random.default_rng(0).integers(0, 1 << 40, (1, 40), dtype=np.uint64)
    assert not run_reference("tflm", data, [samples]).ok, "TFLM's Prepare refuses it too"


def test_a_zero_point_beyond_int32_is_refused_naming_what_tflm_would_use():
    """Fuzz finding (dfa45f70dea77f3d): an input zero point of 2^48 - 128 overflowed the int32 kernel.
    TFLM keeps the low 32 bits (micro_allocator.cc), so it computes as with -128; the reader refuses."""
    from jsqat_embed.errors import ModelFormatError

    def model(zero_point: int) -> bytes:
        x = T("x", (1, 3, 3, 2), "int8", scale=0.05, zero_point=zero_point)
        y = T("y", (1, 3, 3, 2), "int8", scale=0.05, zero_point=0)
        return op_model([op("RELU", [x], [y])])

    huge = (1 << 48) - 128
    with pytest.raises(ModelFormatError, match=f"zero point {huge} does not fit the int32 TFLM keeps it in "
                                               f"\\(TFLM would compute with -128\\)"):
        Emulator(model(huge))
    inputs = random_input((1, 3, 3, 2))
    assert np.array_equal(tflm_outputs(model(huge), inputs), tflm_outputs(model(-128), inputs))
