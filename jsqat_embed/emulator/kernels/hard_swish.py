"""HARD_SWISH, int8: TFLM's ``reference_ops::HardSwish`` (hard_swish.h), int16 fixed point.

x * relu6(x + 3) / 6 computed on a "hires" copy of the input (x << 7) with two
int16 multipliers: one to the output scale, one to the [-3, 3] "reluish" range.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernels._lookup import LookupKernel

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def _c_div(x, divisor: int):
    magnitude = np.abs(x) // divisor
    return np.where(x < 0, -magnitude, magnitude)


def saturating_rounding_doubling_high_mul_16(a, b):
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` for int16."""
    a = np.asarray(a, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    result = _c_div(ab + nudge, 1 << 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, result)


def saturating_doubling_high_mul_16(a, b):
    """hard_swish.h's ``SaturatingDoublingHighMul``: truncating, no rounding nudge."""
    a = np.asarray(a, dtype=np.int64)
    result = _c_div(a * b, 1 << 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, result)


def saturating_left_shift_16(value, amount: int):
    return np.clip(np.asarray(value, dtype=np.int64) * (1 << amount), INT16_MIN, INT16_MAX)


def down_scale_int32_to_int16_multiplier(multiplier: int) -> int:
    """``DownScaleInt32ToInt16Multiplier``."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def int16(values):
    """static_cast<int16_t>: wrap to 16 bits."""
    return ((np.asarray(values, dtype=np.int64) + (1 << 15)) & 0xFFFF) - (1 << 15)


class HardSwish(LookupKernel):
    def prepare_function(self, source, output) -> None:
        input_scale = np.float32(source.scale)
        hires_input_scale = np.float32(1.0 / 128.0) * input_scale
        reluish_scale = np.float32(3.0) / np.float32(32768.0)
        output_multiplier, self.output_exponent = fixedpoint.quantize_multiplier(float(hires_input_scale / np.float32(output.scale)))
        self.output_multiplier = down_scale_int32_to_int16_multiplier(output_multiplier)
        if self.output_exponent > 0:
            self.unsupported("output multiplier exponent must be <= 0 (TFLM requires it)", output)
        reluish_multiplier, self.reluish_exponent = fixedpoint.quantize_multiplier(float(hires_input_scale / reluish_scale))
        self.reluish_multiplier = down_scale_int32_to_int16_multiplier(reluish_multiplier)
        self.input_zero_point = source.zero_point
        self.output_zero_point = output.zero_point

    def function(self, values):
        input_value = int16(values - self.input_zero_point)
        hires = int16(input_value * (1 << 7))
        preshift_output = saturating_rounding_doubling_high_mul_16(hires, self.output_multiplier)
        reluish = hires
        if self.reluish_exponent > 0:
            reluish = saturating_left_shift_16(reluish, self.reluish_exponent - 1)
        reluish = saturating_rounding_doubling_high_mul_16(reluish, self.reluish_multiplier)
        if self.reluish_exponent > 0:
            reluish = saturating_left_shift_16(reluish, 1)
        if self.reluish_exponent < 0:
            reluish = fixedpoint.rounding_divide_by_pot(reluish, -self.reluish_exponent)
        reluish = int16((reluish + (1 << 15)) >> 1)
        preshift = saturating_doubling_high_mul_16(reluish, preshift_output)
        output = int16(fixedpoint.rounding_divide_by_pot(preshift, -self.output_exponent) + self.output_zero_point)
        return np.clip(output, -128, 127)


KERNEL = HardSwish
