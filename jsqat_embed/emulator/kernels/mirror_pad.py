"""MIRROR_PAD: TFLM's ``MirrorPad``: every output element reads the input element that
``GetInputDimension`` maps it to on each axis, REFLECT (edge not repeated, offset 1)
or SYMMETRIC (edge repeated, offset 0). float32 and int8 (TFLM's Eval switch)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import constant_ints, require_types, sampled

TYPES = ("float32", "int8")


def input_dimension(padded: int, left_pad: int, input_size: int, offset: int) -> int:
    """``GetInputDimension`` (mirror_pad.cc): the input index an output index reads."""
    if padded < left_pad:
        original = left_pad + offset - 1
        return original - min(padded, original - offset)
    padded -= left_pad
    if padded >= input_size:
        padded -= input_size
        original = input_size - (1 + offset)
        return original - min(padded, original)
    return padded


class MirrorPad(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        require_types(self, source, TYPES, "input")
        rank = len(source.shape)
        paddings = constant_ints(self, 1, ("int32", "int64"))
        if tuple(self.tensor(1).shape) != (rank, 2):
            self.unsupported(f"paddings must be a [{rank}, 2] matrix", self.tensor(1))
        mode = self.op.options.get("mode", "REFLECT")
        offset = 1 if mode in ("REFLECT", 0) else 0
        self.indices = []
        for axis in range(rank):
            left, right = paddings[2 * axis], paddings[2 * axis + 1]
            size = source.shape[axis]
            if left < 0 or right < 0 or output.shape[axis] != size + left + right:
                self.unsupported(f"paddings {paddings[2 * axis: 2 * axis + 2]} on axis {axis} do not give output "
                                 f"shape {list(output.shape)}", output)
            index = np.array([input_dimension(p, left, size, offset) for p in range(output.shape[axis])], np.int64)
            if index.size and (index.min() < 0 or index.max() >= size):
                self.unsupported(f"{mode} padding of {max(left, right)} on axis {axis} of size {size} reads "
                                 f"outside the input")
            self.indices.append(index)

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        for axis, index in enumerate(self.indices):
            x = np.take(x, index, axis=axis + 1)
        return [np.ascontiguousarray(x)]


KERNEL = MirrorPad
