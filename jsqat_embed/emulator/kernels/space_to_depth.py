"""SPACE_TO_DEPTH: TFLM's ``reference_ops::SpaceToDepth`` (NHWC), the inverse of
DEPTH_TO_SPACE: each b x b block of pixels becomes one pixel with the block's
channels in (row, column, channel) order. float32 and int8 (TFLM's Prepare)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import require_types, sampled

TYPES = ("float32", "int8")


class SpaceToDepth(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        require_types(self, source, TYPES, "input")
        if len(source.shape) != 4:
            self.unsupported(f"input rank {len(source.shape)} (TFLM requires 4)", source)
        self.block = int(self.op.options.get("block_size", 0))
        if self.block <= 0:
            self.unsupported(f"block_size {self.block}")
        batch, height, width, channels = source.shape
        if height % self.block or width % self.block:
            self.unsupported(f"input {height}x{width} is not a multiple of block_size {self.block}", source)
        expected = (batch, height // self.block, width // self.block, channels * self.block ** 2)
        if tuple(output.shape) != expected:
            self.unsupported(f"output shape {list(output.shape)} is not {list(expected)}", output)

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        samples, batch, height, width, channels = x.shape
        b = self.block
        blocks = x.reshape(samples, batch, height // b, b, width // b, b, channels)
        moved = blocks.transpose(0, 1, 2, 4, 3, 5, 6)  # (.., h, w, row-in-block, column-in-block, c)
        return [np.ascontiguousarray(moved).reshape(samples, *self.op.outputs[0].shape)]


KERNEL = SpaceToDepth
