"""LOGISTIC and TANH share their Prepare: the input rescaled into Q4.27, with an
input radius beyond which the output saturates (logistic.cc / tanh.cc)."""

from __future__ import annotations

import math

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernels._lookup import LookupKernel
from jsqat_embed.emulator.kernels.softmax import calculate_input_radius

INPUT_INTEGER_BITS = 4


class SigmoidLike(LookupKernel):
    def prepare_function(self, source, output) -> None:
        real = float(np.float32(source.scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
        q, self.input_left_shift = math.frexp(real)
        self.input_multiplier = int(fixedpoint.wrap_int32(int(fixedpoint.tflite_round(q * (1 << 31)))))
        self.input_range_radius = calculate_input_radius(INPUT_INTEGER_BITS, self.input_left_shift, 31)
        self.input_zero_point = source.zero_point
        self.check_output(output)

    def check_output(self, output) -> None:
        """TFLM's output quantization requirements."""

    def in_q4(self, values):
        return fixedpoint.multiply_by_quantized_multiplier(values, self.input_multiplier, self.input_left_shift)
