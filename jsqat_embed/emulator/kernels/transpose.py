"""TRANSPOSE: TFLM's ``reference_ops::Transpose`` with a constant permutation."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class Transpose(Kernel):

    def prepare(self) -> None:
        source = self.op.input(0)
        perm = [int(v) for v in np.asarray(self.constant(1)).reshape(-1)]
        rank = len(source.shape)
        perm = [p + rank if p < 0 else p for p in perm]
        if sorted(perm) != list(range(rank)):
            self.unsupported(f"permutation {perm} is not a permutation of {rank} axes")
        self.axes = (0, *(p + 1 for p in perm))

    def eval(self, inputs):
        return [np.ascontiguousarray(np.transpose(inputs[0], self.axes))]


KERNEL = Transpose
