"""RELU6, int8 and int16: TFLM's ``Relu6Quantized``: clamp the raw input between its own
quantized 0 and 6 (input and output share quantization)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernels._lookup import LookupKernel


class Relu6(LookupKernel):
    def prepare_function(self, source, output) -> None:
        self.zero = source.zero_point
        # FloatToQuantizedType: round(6.0f / scale) + zero_point, clamped to the type
        info = np.iinfo(self.dtype)
        quotient = float(np.float32(6.0) / np.float32(source.scale))
        self.six = int(np.clip(fixedpoint.round_half_away_from_zero(quotient) + source.zero_point, info.min, info.max))

    def function(self, values):
        return np.where(values > self.six, self.six, np.where(values < self.zero, self.zero, values))


KERNEL = Relu6
