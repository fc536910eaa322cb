"""Kernels that only move bytes: the output is the input under a new static shape."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class Relayout(Kernel):
    """RESHAPE / SQUEEZE: same bytes, the output tensor's shape (TFLM copies, or aliases, the data)."""


    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        if source.size != output.size:
            self.unsupported(f"input has {source.size} elements, output {output.size}")
        if source.dtype != output.dtype:
            self.unsupported(f"input type {source.dtype} differs from output type {output.dtype}")

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        if self.is_constant(0):
            return [np.broadcast_to(x.reshape(output.shape), (1, *output.shape)).copy()]
        return [x.reshape(x.shape[0], *output.shape)]
