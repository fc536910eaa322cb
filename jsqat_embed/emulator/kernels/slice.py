"""SLICE: TFLM's ``reference_ops::Slice`` with constant begin and size (int32 or int64);
a size of -1 runs to the end of the axis. float32, int32, int8, int16 and bool."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import constant_ints, require_types, sampled

TYPES = ("float32", "int32", "int8", "int16", "bool")
MAX_RANK = 5  # kMaxDim


class Slice(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        require_types(self, source, TYPES, "input")
        rank = len(source.shape)
        if rank > MAX_RANK:
            self.unsupported(f"input rank {rank} (TFLM slices at most {MAX_RANK} dimensions)", source)
        begin = constant_ints(self, 1, ("int32", "int64"))
        size = constant_ints(self, 2, ("int32", "int64"))
        if self.tensor(1).dtype != self.tensor(2).dtype or len(begin) != rank or len(size) != rank:
            self.unsupported(f"begin {begin} and size {size} must be {rank} values of one type")
        slices, shape = [], []
        for axis, (start, length) in enumerate(zip(begin, size)):
            stop = source.shape[axis] if length == -1 else start + length
            if not 0 <= start <= stop <= source.shape[axis]:
                self.unsupported(f"slice [{start}, {stop}) is outside axis {axis} of {list(source.shape)}")
            slices.append(slice(start, stop))
            shape.append(stop - start)
        if tuple(shape) != tuple(output.shape):
            self.unsupported(f"the slice has shape {shape}, the output {list(output.shape)}", output)
        self.slices = (slice(None), *slices)

    def eval(self, inputs):
        return [np.ascontiguousarray(sampled(self, 0, inputs[0])[self.slices])]


KERNEL = Slice
