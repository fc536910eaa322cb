"""Unary int8 kernels as 256-entry tables.

For an element-wise op on int8 the output depends only on the input value, so
prepare() runs the kernel's exact integer arithmetic once on all 256 inputs and
eval() is a table lookup: the same bytes as the C loop, at memory speed.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel

ALL_INT8 = np.arange(-128, 128, dtype=np.int64)


class LookupKernel(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        self.require_quantized(source)
        self.require_quantized(output)
        if output.dtype != "int8":
            self.unsupported(f"output type {output.dtype} (int8 only)", output)
        self.prepare_function(source, output)
        table = np.clip(self.function(ALL_INT8), -128, 127)
        self.table = table.astype(np.int8)

    def prepare_function(self, source, output) -> None:
        """Precompute the op's parameters (TFLM's Prepare)."""

    def function(self, values: np.ndarray) -> np.ndarray:
        """The op's integer arithmetic on int64 values; returns unclamped int64 results."""
        raise NotImplementedError

    def eval(self, inputs):
        return [self.table[inputs[0].astype(np.int16) + 128]]
