"""EXPAND_DIMS: the same elements under the output's shape, which TFLM's Prepare checks
is the input's with a 1 inserted at ``axis`` (float32, int16, int8 in Eval)."""

from __future__ import annotations

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import constant_ints, require_types, sampled

TYPES = ("float32", "int16", "int8")


class ExpandDims(Kernel):

    def prepare(self) -> None:
        source, axis_tensor, output = self.op.input(0), self.op.input(1), self.op.outputs[0]
        require_types(self, source, TYPES, "input")
        if axis_tensor is None or len(axis_tensor.shape) > 1:
            self.unsupported("Axis has only one element for Expand_Dims.", axis_tensor)
        axis = constant_ints(self, 1)[0]  # TFLM: "Non-constant >axis< tensor is not supported"
        rank = len(source.shape)
        if axis < 0:
            axis += rank + 1
        if not 0 <= axis <= rank:
            self.unsupported(f"axis {axis} is out of range for rank {rank}")
        expected = (*source.shape[:axis], 1, *source.shape[axis:])
        if tuple(output.shape) != expected:
            self.unsupported(f"output shape {list(output.shape)} is not {list(expected)}", output)

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        return [x.reshape(x.shape[0], *self.op.outputs[0].shape)]


KERNEL = ExpandDims
