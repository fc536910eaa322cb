"""Broadcasting and quantized add/sub arithmetic shared by ADD, SUB and MUL.

TFLite broadcasts like numpy on the model's shapes (right-aligned). Our values
carry a leading samples axis, and constants do not, so operands are first
brought to a common rank: (samples or 1, 1..., *tensor.shape).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint


def aligned(values, tensors, constant_flags) -> list[np.ndarray]:
    rank = max(len(t.shape) for t in tensors)
    out = []
    for value, tensor, constant in zip(values, tensors, constant_flags):
        padding = (1,) * (rank - len(tensor.shape))
        samples = 1 if constant else value.shape[0]
        out.append(np.asarray(value).reshape((samples, *padding, *tensor.shape)))
    return out


def quantized_add_sub_params(input1, input2, output, *, float_twice_max: bool) -> dict:
    """Prepare of quantized ADD (double math) and SUB (float math, as sub_common.cc does it)."""
    left_shift = 20 if output.dtype == "int8" else 15
    s1, s2, so = (np.float32(t.scale) for t in (input1, input2, output))
    if float_twice_max:
        twice_max = np.float32(2) * max(s1, s2)
        real1 = float(s1 / twice_max)
        real2 = float(s2 / twice_max)
        real_out = float(twice_max / (np.float32(1 << left_shift) * so))
    else:
        twice_max = 2.0 * float(max(s1, s2))
        real1 = float(s1) / twice_max
        real2 = float(s2) / twice_max
        real_out = twice_max / ((1 << left_shift) * float(so))
    m1, sh1 = fixedpoint.quantize_multiplier_smaller_than_one_exp(real1)
    m2, sh2 = fixedpoint.quantize_multiplier_smaller_than_one_exp(real2)
    mo, sho = fixedpoint.quantize_multiplier_smaller_than_one_exp(real_out)
    return dict(left_shift=left_shift, input1_offset=-input1.zero_point, input2_offset=-input2.zero_point,
                output_offset=output.zero_point, input1=(m1, sh1), input2=(m2, sh2), output=(mo, sho))


def scaled_operand(x: np.ndarray, offset: int, left_shift: int, multiplier_shift: tuple[int, int]) -> np.ndarray:
    """(x + offset) << left_shift, then MultiplyByQuantizedMultiplierSmallerThanOneExp."""
    shifted = (x.astype(np.int64) + offset) << left_shift
    return fixedpoint.multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, *multiplier_shift)


def finish(raw: np.ndarray, params: dict, activation: tuple[int, int], dtype: str) -> np.ndarray:
    out = fixedpoint.multiply_by_quantized_multiplier_smaller_than_one_exp(fixedpoint.wrap_int32(raw), *params["output"])
    return np.clip(out + params["output_offset"], *activation).astype(dtype)
