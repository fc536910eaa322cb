"""RELU, int8 and int16: TFLM's ``ReluQuantized``: requantize by in_scale / out_scale, clamp
at the output's zero (int16 needs zero points 0).

The multiplier is divided in double, as the tflite-micro wheel 0.dev20261023
does (its ``ReluPrepare``: cvtss2sd, divsd); activations_common.cc at 90b983c
divides in float.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernels._lookup import LookupKernel


class Relu(LookupKernel):
    def prepare_function(self, source, output) -> None:
        if self.dtype == "int16" and (source.zero_point != 0 or output.zero_point != 0):
            self.unsupported("int16 input and output zero points must be 0 (TFLM requires it)")
        real = float(np.float32(source.scale)) / float(np.float32(output.scale))
        self.multiplier, self.shift = fixedpoint.quantize_multiplier(real)
        self.input_zero_point = source.zero_point
        self.output_zero_point = output.zero_point
        self.minimum = max(int(np.iinfo(self.dtype).min), output.zero_point)  # roundf(0 / scale) is 0

    def function(self, values):
        scaled = fixedpoint.multiply_by_quantized_multiplier(values - self.input_zero_point, self.multiplier, self.shift)
        return np.maximum(scaled + self.output_zero_point, self.minimum)


KERNEL = Relu
