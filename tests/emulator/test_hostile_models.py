"""The emulator on hostile models (issue 14, "Models"): degenerate quantization scales are either
bit-exact with TFLM or refused with the reason; a huge pooling window costs nothing; a kernel that
fails on a model that passed the load-time checks is reported as a bug, not as a bad model.

The oracle is the real TFLM (tflite-micro package, in a subprocess); the models are small ones
built with the project's writer, so the whole file runs in seconds.
"""

from __future__ import annotations

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
