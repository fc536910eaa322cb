"""DEPTH_TO_SPACE: TFLM's ``reference_ops::DepthToSpace`` (NHWC, DCR order): output
pixel (h, w) channel d reads input pixel (h / b, w / b) channel
((h % b) * b + w % b) * C_out + d. float32 and int8 (TFLM's Prepare)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import require_types, sampled

TYPES = ("float32", "int8")


class DepthToSpace(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        require_types(self, source, TYPES, "input")
        if len(source.shape) != 4:
            self.unsupported(f"input rank {len(source.shape)} (TFLM requires 4)", source)
        self.block = int(self.op.options.get("block_size", 0))
        if self.block <= 0:
            self.unsupported(f"block_size {self.block}")
        batch, height, width, channels = source.shape
        if channels % (self.block * self.block):
            self.unsupported(f"{channels} channels are not a multiple of block_size^2 = {self.block ** 2}", source)
        expected = (batch, height * self.block, width * self.block, channels // self.block ** 2)
        if tuple(output.shape) != expected:
            self.unsupported(f"output shape {list(output.shape)} is not {list(expected)}", output)

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        samples, batch, height, width, channels = x.shape
        b = self.block
        blocks = x.reshape(samples, batch, height, width, b, b, channels // (b * b))
        moved = blocks.transpose(0, 1, 2, 4, 3, 5, 6)  # (.., h, row-in-block, w, column-in-block, d)
        return [np.ascontiguousarray(moved).reshape(samples, *self.op.outputs[0].shape)]


KERNEL = DepthToSpace
