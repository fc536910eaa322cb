"""AVERAGE_POOL_2D, int8 and int16: TFLM's ``reference_integer_ops::AveragePool``.

The mean of the taps inside the image (padding is not counted), rounded half
away from zero with C's truncating division, then clamped to the activation.
Input and output share scale and zero point, so raw values are averaged.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._pool import Pool2D


class AveragePool2D(Pool2D):
    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        batch = x.reshape(-1, *x.shape[2:]).astype(np.int32)
        total = self.windows(batch, 0).sum(axis=(3, 4), dtype=np.int64)
        counts = self.counts.astype(np.int64)
        half = counts // 2
        # (acc + n/2) / n for positive sums, (acc - n/2) / n otherwise; C division truncates
        mean = np.where(total > 0, (total + half) // counts, -((-total + half) // counts))
        result = np.clip(mean, *self.activation).astype(self.dtype)
        return [result.reshape(x.shape[0], *output.shape)]


KERNEL = AveragePool2D
