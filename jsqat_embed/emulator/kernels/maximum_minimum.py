"""MAXIMUM and MINIMUM: TFLM's ``reference_ops::MaximumMinimumBroadcastSlow`` with
``el1 > el2 ? el1 : el2`` (``<`` for MINIMUM), on raw values of any type TFLM
takes (float32, int8, int16, int32, int64); quantized operands are compared as
stored, no rescaling. One kernel for both ops; the opcode picks the comparison.
On a float NaN the C picks the second operand unless the first compares greater,
and so does this.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _elementwise

TYPES = ("float32", "int8", "int16", "int32", "int64")


class MaximumMinimum(Kernel):

    def prepare(self) -> None:
        op = self.op
        self.operands = [op.input(0), op.input(1)]
        output = op.outputs[0]
        if any(t is None for t in self.operands):
            self.unsupported("needs two inputs")
        if output.dtype not in TYPES or any(t.dtype != output.dtype for t in self.operands):
            self.unsupported(f"inputs and output must share one of the types {', '.join(TYPES)}")
        self.compare = np.greater if op.opcode == "MAXIMUM" else np.less

    def eval(self, inputs):
        output = self.op.outputs[0]
        a, b = _elementwise.aligned(inputs, self.operands, [self.is_constant(0), self.is_constant(1)])
        samples = max(a.shape[0], b.shape[0])
        result = np.where(self.compare(a, b), a, b).astype(output.dtype)
        result = np.broadcast_to(result, (samples, *result.shape[1:]))
        return [np.ascontiguousarray(result).reshape(samples, *output.shape)]


KERNEL = MaximumMinimum
