"""TANH: TFLM's ``reference_integer_ops::Tanh``.

int8: gemmlowp's tanh in Q4.27 -> Q0.31 -> Q0.7.
int16: the sigmoid table with 8 fractional bits of interpolation (tanh(x) =
2*sigmoid(2x) - 1), Q0.15 out (tanh.h's int16 overload); see ``_sigmoid_like``.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint, gemmlowp
from jsqat_embed.emulator.kernels._sigmoid_like import INPUT_INTEGER_BITS, SigmoidLike


class Tanh(SigmoidLike):
    int16_pot_shifts = (0, 1)

    def function(self, values):
        if self.dtype == "int16":
            return self.function_int16(values)
        shifted = values - self.input_zero_point
        inner = gemmlowp.tanh(self.in_q4(shifted), INPUT_INTEGER_BITS)
        result = np.clip(fixedpoint.rounding_divide_by_pot(inner, 31 - 7), -128, 127)
        result = np.where(shifted <= -self.input_range_radius, -128, result)
        return np.where(shifted >= self.input_range_radius, 127, result)

    def function_int16(self, values):
        return fixedpoint.tanh_int16(values, self.int16_multiplier, self.int16_shift)


KERNEL = Tanh
