"""DEQUANTIZE: int8/int16/uint8 -> float32 as ``reference_ops::Dequantize``:
float(double(scale) * (q - zero_point))."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class Dequantize(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        self.require_quantized(source)
        if source.quantization.per_channel:
            self.unsupported("per-channel input quantization", source)
        if output.dtype != "float32":
            self.unsupported(f"output type {output.dtype}", output)
        self.scale = float(np.float32(source.scale))
        self.zero_point = source.zero_point

    def eval(self, inputs):
        return [(self.scale * (inputs[0].astype(np.int64) - self.zero_point)).astype(np.float32)]


KERNEL = Dequantize
