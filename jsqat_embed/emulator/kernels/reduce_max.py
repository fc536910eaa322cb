"""REDUCE_MAX, int8: TFLM's ``ReduceGeneric`` with max; input and output must share
scale and zero point (TFLM checks it), so raw values are compared."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels.mean import resolve_axes


class ReduceMax(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        if source.dtype != output.dtype:
            self.unsupported(f"input type {source.dtype} differs from output {output.dtype}")
        if source.dtype == "int8" and (np.float32(source.scale) != np.float32(output.scale) or source.zero_point != output.zero_point):
            self.unsupported("int8 input and output must share scale and zero point (TFLM requires it)")
        self.axes = resolve_axes(self, len(source.shape))

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        if not self.axes:
            return [x.reshape(x.shape[0], *output.shape).copy()]
        largest = x.max(axis=tuple(a + 1 for a in self.axes))
        return [largest.reshape(x.shape[0], *output.shape)]


KERNEL = ReduceMax
