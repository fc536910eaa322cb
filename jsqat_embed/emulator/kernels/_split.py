"""SPLIT and SPLIT_V: TFLM's ``SplitImpl`` copies consecutive runs of the input to
the outputs in turn; each output's extent along the axis is its own static shape
(SPLIT_V's size_splits input is not read at run time)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import constant_ints, normalized_axis, require_types, sampled

TYPES = ("float32", "int8", "int16", "int32")


class Split(Kernel):
    #: positions of the data and axis inputs
    data_input = 1
    axis_input = 0

    def prepare(self) -> None:
        source = self.op.input(self.data_input)
        if source is None:
            self.unsupported("the input tensor is missing")
        require_types(self, source, TYPES, "input")
        # TFLM: "Non-constant >axis< tensor is not supported"
        rank = len(source.shape)
        self.axis = normalized_axis(self, constant_ints(self, self.axis_input)[0], rank)
        extents = []
        for output in self.op.outputs:
            same = all(output.shape[i] == source.shape[i] for i in range(rank) if i != self.axis)
            if len(output.shape) != rank or not same:
                self.unsupported(f"output shape {list(output.shape)} does not split {list(source.shape)} "
                                 f"along axis {self.axis}", output)
            extents.append(output.shape[self.axis])
        if sum(extents) != source.shape[self.axis]:
            self.unsupported(f"outputs take {sum(extents)} of the {source.shape[self.axis]} entries along "
                             f"axis {self.axis}")
        self.boundaries = list(np.cumsum(extents)[:-1])

    def eval(self, inputs):
        x = sampled(self, self.data_input, inputs[self.data_input])
        return [np.ascontiguousarray(part) for part in np.split(x, self.boundaries, axis=self.axis + 1)]


class SplitV(Split):
    data_input = 0
    axis_input = 2
