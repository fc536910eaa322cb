"""SHAPE: the input's static shape as int32 (or int64), the same for every sample."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class Shape(Kernel):

    def prepare(self) -> None:
        output = self.op.outputs[0]
        if output.dtype not in ("int32", "int64"):
            self.unsupported(f"output type {output.dtype}", output)
        self.value = np.asarray(self.op.input(0).shape, dtype=output.dtype)

    def eval(self, inputs):
        samples = 1 if self.is_constant(0) else inputs[0].shape[0]
        return [np.broadcast_to(self.value, (samples, *self.value.shape)).copy()]


KERNEL = Shape
