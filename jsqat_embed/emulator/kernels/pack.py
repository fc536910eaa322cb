"""PACK: stack ``values_count`` equally shaped inputs along a new axis."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class Pack(Kernel):

    def prepare(self) -> None:
        output = self.op.outputs[0]
        shapes = {tuple(t.shape) for t in self.op.inputs}
        if len(shapes) != 1 or any(t.dtype != output.dtype for t in self.op.inputs):
            self.unsupported("inputs must share one shape and the output's type")
        rank = len(output.shape)
        axis = self.op.options.get("axis", 0)
        self.axis = axis + rank if axis < 0 else axis
        if not 0 <= self.axis < rank:
            self.unsupported(f"axis {axis} out of range for output rank {rank}")

    def eval(self, inputs):
        samples = max((v.shape[0] for i, v in enumerate(inputs) if not self.is_constant(i)), default=1)
        parts = [np.broadcast_to(v, (samples, *v.shape)) if self.is_constant(i) else v for i, v in enumerate(inputs)]
        return [np.stack(parts, axis=self.axis + 1)]


KERNEL = Pack
