"""LOGISTIC, int8: TFLM's ``reference_integer_ops::Logistic`` (gemmlowp logistic in Q4.27 -> Q0.31 -> int8)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint, gemmlowp
from jsqat_embed.emulator.kernels._sigmoid_like import INPUT_INTEGER_BITS, SigmoidLike


class Logistic(SigmoidLike):
    def check_output(self, output) -> None:
        if output.zero_point != -128:
            self.unsupported("int8 output zero point must be -128 (TFLM requires it)", output)

    def function(self, values):
        shifted = values - self.input_zero_point
        inner = gemmlowp.logistic(self.in_q4(shifted), INPUT_INTEGER_BITS)
        scaled = fixedpoint.rounding_divide_by_pot(inner, 31 - 8) - 128
        result = np.clip(scaled, -128, 127)
        result = np.where(shifted <= -self.input_range_radius, -128, result)
        return np.where(shifted >= self.input_range_radius, 127, result)


KERNEL = Logistic
