"""LEAKY_RELU, int8 and int16: TFLM's ``QuantizeLeakyRelu``: identity multiplier for x >= zero
point, alpha multiplier below (negative alpha supported by negating the result).

The multipliers are computed in double, as the tflite-micro wheel 0.dev20261023
does (its ``CalculateOpDataLeakyRelu``: cvtss2sd, mulsd, divsd); leaky_relu_common.cc
at 90b983c divides in float.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernels._lookup import LookupKernel


class LeakyRelu(LookupKernel):
    def prepare_function(self, source, output) -> None:
        alpha = float(np.float32(self.op.options.get("alpha", 0.0)))
        in_scale, out_scale = float(np.float32(source.scale)), float(np.float32(output.scale))
        self.alpha_multiplier, self.alpha_shift = fixedpoint.quantize_multiplier(in_scale * alpha / out_scale)
        self.identity_multiplier, self.identity_shift = fixedpoint.quantize_multiplier(in_scale / out_scale)
        self.input_zero_point = source.zero_point
        self.output_zero_point = output.zero_point

    def function(self, values):
        shifted = values - self.input_zero_point
        identity = fixedpoint.multiply_by_quantized_multiplier(shifted, self.identity_multiplier, self.identity_shift)
        negative_alpha = self.alpha_multiplier < 0
        scaled = fixedpoint.multiply_by_quantized_multiplier(shifted, abs(self.alpha_multiplier), self.alpha_shift)
        if negative_alpha:
            scaled = -scaled
        return self.output_zero_point + np.where(shifted >= 0, identity, scaled)


KERNEL = LeakyRelu
