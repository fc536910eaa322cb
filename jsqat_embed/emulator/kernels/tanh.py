"""TANH, int8: TFLM's ``reference_integer_ops::Tanh`` (gemmlowp tanh in Q4.27 -> Q0.31 -> Q0.7)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint, gemmlowp
from jsqat_embed.emulator.kernels._sigmoid_like import INPUT_INTEGER_BITS, SigmoidLike


class Tanh(SigmoidLike):
    def function(self, values):
        shifted = values - self.input_zero_point
        inner = gemmlowp.tanh(self.in_q4(shifted), INPUT_INTEGER_BITS)
        result = np.clip(fixedpoint.rounding_divide_by_pot(inner, 31 - 7), -128, 127)
        result = np.where(shifted <= -self.input_range_radius, -128, result)
        return np.where(shifted >= self.input_range_radius, 127, result)


KERNEL = Tanh
