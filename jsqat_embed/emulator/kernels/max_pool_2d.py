"""MAX_POOL_2D, int8 and int16: TFLM's ``reference_integer_ops::MaxPool``: the largest tap inside the image."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._pool import Pool2D


class MaxPool2D(Pool2D):
    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        batch = x.reshape(-1, *x.shape[2:])
        below_all = int(np.iinfo(self.dtype).min) - 1  # out-of-image taps never win
        largest = self.windows(batch, below_all).max(axis=(3, 4))
        result = np.clip(largest, *self.activation).astype(self.dtype)
        return [result.reshape(x.shape[0], *output.shape)]


KERNEL = MaxPool2D
