"""RELU, int8: TFLM's ``ReluQuantized``: requantize by float(in_scale / out_scale), clamp at zero."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernels._lookup import LookupKernel


class Relu(LookupKernel):
    def prepare_function(self, source, output) -> None:
        real = float(np.float32(source.scale) / np.float32(output.scale))  # float division in the C
        self.multiplier, self.shift = fixedpoint.quantize_multiplier(real)
        self.input_zero_point = source.zero_point
        self.output_zero_point = output.zero_point
        self.minimum = max(-128, output.zero_point)  # roundf(0 / scale) is 0

    def function(self, values):
        scaled = fixedpoint.multiply_by_quantized_multiplier(values - self.input_zero_point, self.multiplier, self.shift)
        return np.maximum(scaled + self.output_zero_point, self.minimum)


KERNEL = Relu
