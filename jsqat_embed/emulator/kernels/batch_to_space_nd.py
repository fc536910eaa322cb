"""BATCH_TO_SPACE_ND: TFLM's ``reference_ops::BatchToSpaceND``, the inverse
interleaving of SPACE_TO_BATCH_ND followed by the crops."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._spatial_blocks import SpatialBlocks


class BatchToSpaceND(SpatialBlocks):
    def output_shape(self, shape):
        blocks = int(np.prod(self.block))
        spatial = [size * b - int(lo) - int(hi) for size, b, (lo, hi) in zip(shape[1:-1], self.block, self.margins)]
        return (shape[0] // blocks, *spatial, shape[-1])

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        samples, batch = x.shape[0], x.shape[1]
        phases = int(np.prod(self.block))
        if batch % phases:
            self.unsupported(f"batch {batch} is not divisible by the block size {phases}")
        out_batch = batch // phases
        spatial = x.shape[2 : 2 + self.spatial]
        blocks = x.reshape(samples, *self.block, out_batch, *spatial, x.shape[-1])
        if self.spatial == 2:
            order = (0, 3, 4, 1, 5, 2, 6)  # samples, batch, h, phase_h, w, phase_w, c
        else:
            order = (0, 2, 3, 1, 4)
        full = blocks.transpose(order).reshape(samples, out_batch, *(s * b for s, b in zip(spatial, self.block)), x.shape[-1])
        crops = tuple(slice(int(lo), full.shape[2 + i] - int(hi)) for i, (lo, hi) in enumerate(self.margins))
        return [np.ascontiguousarray(full[(slice(None), slice(None), *crops)]).reshape(samples, *output.shape)]


KERNEL = BatchToSpaceND
