"""LOGISTIC: TFLM's ``reference_integer_ops::Logistic``.

int8: gemmlowp's logistic in Q4.27 -> Q0.31 -> int8 (output zero point -128).
int16: the sigmoid table with 9 fractional bits of interpolation, Q0.15 out
(logistic.h's int16 overload); see ``_sigmoid_like``.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint, gemmlowp
from jsqat_embed.emulator.kernels._sigmoid_like import INPUT_INTEGER_BITS, SigmoidLike


class Logistic(SigmoidLike):
    int16_pot_shifts = (0,)

    def check_output(self, output) -> None:
        if output.zero_point != -128:
            self.unsupported("int8 output zero point must be -128 (TFLM requires it)", output)

    def function(self, values):
        if self.dtype == "int16":
            return self.function_int16(values)
        shifted = values - self.input_zero_point
        inner = gemmlowp.logistic(self.in_q4(shifted), INPUT_INTEGER_BITS)
        scaled = fixedpoint.rounding_divide_by_pot(inner, 31 - 8) - 128
        result = np.clip(scaled, -128, 127)
        result = np.where(shifted <= -self.input_range_radius, -128, result)
        return np.where(shifted >= self.input_range_radius, 127, result)

    def function_int16(self, values):
        return fixedpoint.logistic_int16(values, self.int16_multiplier, self.int16_shift)


KERNEL = Logistic
