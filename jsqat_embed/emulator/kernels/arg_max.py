"""ARG_MAX and ARG_MIN: TFLM's ``reference_ops::ArgMinMax`` with ``GreaterFn`` / ``LessFn``.

A scan along the axis that moves to index i only when value i compares strictly
greater (smaller) than the best so far: the first of equal extremes wins. In
float32 a NaN never wins, and a NaN in position 0 is never beaten. Input
float32 or int8, axis int32, output int32 (TFLM's Eval accepts nothing else).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import constant_ints, normalized_axis, sampled

TYPES = ("float32", "int8")


class ArgMinMax(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        if source.dtype not in TYPES:
            self.unsupported(f"input type {source.dtype} (TFLM takes {', '.join(TYPES)})", source)
        if output.dtype != "int32":
            self.unsupported(f"output type {output.dtype} (TFLM writes int32 only)", output)
        self.is_arg_max = self.op.opcode == "ARG_MAX"
        rank = len(source.shape)
        self.axis = normalized_axis(self, constant_ints(self, 1)[0], rank)
        expected = source.shape[: self.axis] + source.shape[self.axis + 1 :]
        if tuple(output.shape) != tuple(expected):
            self.unsupported(f"output shape {list(output.shape)} is not {list(expected)}", output)

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        axis = self.axis + 1
        if x.dtype == np.float32:
            nan = np.isnan(x)
            # A NaN compares false both ways: it is skipped, unless it is first (then nothing beats it).
            worst = np.float32(-np.inf if self.is_arg_max else np.inf)
            x = np.where(nan, worst, x)
            first_nan = np.take(nan, [0], axis=axis)
        index = np.argmax(x, axis=axis) if self.is_arg_max else np.argmin(x, axis=axis)
        if x.dtype == np.float32:
            index = np.where(np.squeeze(first_nan, axis=axis), 0, index)
        return [index.astype(np.int32)]


KERNEL = ArgMinMax
