"""CONCATENATION: TFLM requires int8 inputs to share the output's scale and zero point,
so the bytes are simply joined along the axis."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class Concatenation(Kernel):

    def prepare(self) -> None:
        output = self.op.outputs[0]
        if self.op.options.get("fused_activation_function", "NONE") != "NONE":
            self.unsupported("fused activation on CONCATENATION (TFLM refuses it)")
        rank = len(output.shape)
        axis = self.op.options.get("axis", 0)
        self.axis = axis + rank if axis < 0 else axis
        if not 0 <= self.axis < rank:
            self.unsupported(f"axis {axis} out of range for rank {rank}")
        for tensor in self.op.inputs:
            if tensor.dtype != output.dtype:
                self.unsupported(f"input type {tensor.dtype} differs from output {output.dtype}", tensor)
            if output.dtype == "int8" and (np.float32(tensor.scale) != np.float32(output.scale) or tensor.zero_point != output.zero_point):
                self.unsupported("int8 inputs must share the output's scale and zero point (TFLM requires it)", tensor)

    def eval(self, inputs):
        samples = max((v.shape[0] for i, v in enumerate(inputs) if not self.is_constant(i)), default=1)
        parts = []
        for i, value in enumerate(inputs):
            if self.is_constant(i):
                value = np.broadcast_to(value, (samples, *value.shape))
            parts.append(value)
        return [np.concatenate(parts, axis=self.axis + 1)]


KERNEL = Concatenation
