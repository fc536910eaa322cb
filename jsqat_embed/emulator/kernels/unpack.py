"""UNPACK: TFLM's ``UnpackImpl``: output i is the input's slice i along ``axis``
(float32, int32, int16, int8; TFLM has no Prepare, the type switch is in Eval)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import normalized_axis, require_types, sampled

TYPES = ("float32", "int32", "int16", "int8")


class Unpack(Kernel):

    def prepare(self) -> None:
        source = self.op.input(0)
        require_types(self, source, TYPES, "input")
        rank = len(source.shape)
        self.axis = normalized_axis(self, int(self.op.options.get("axis", 0)), rank)
        count = int(self.op.options.get("num", len(self.op.outputs)))
        if count != len(self.op.outputs) or count > source.shape[self.axis]:
            self.unsupported(f"num={count} with {len(self.op.outputs)} outputs and {source.shape[self.axis]} "
                             f"entries along axis {self.axis}")
        expected = source.shape[: self.axis] + source.shape[self.axis + 1 :]
        for output in self.op.outputs:
            if int(np.prod(output.shape, dtype=np.int64)) != int(np.prod(expected, dtype=np.int64)):
                self.unsupported(f"output shape {list(output.shape)} is not {list(expected)}", output)

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        return [np.ascontiguousarray(np.take(x, i, axis=self.axis + 1)).reshape(x.shape[0], *output.shape)
                for i, output in enumerate(self.op.outputs)]


KERNEL = Unpack
