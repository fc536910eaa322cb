"""PAD / PADV2: TFLM's ``reference_ops::Pad``. int8 pads with the output zero point
(PAD) or the given constant (PADV2); int32 and float32 with zero or the constant."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class Pad(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        if source.dtype != output.dtype:
            self.unsupported(f"input type {source.dtype} differs from output type {output.dtype}")
        paddings = np.asarray(self.constant(1)).astype(np.int64).reshape(-1, 2)
        if paddings.shape[0] != len(source.shape) or (paddings < 0).any():
            self.unsupported(f"paddings {paddings.tolist()} do not fit rank {len(source.shape)}")
        expected = tuple(int(d + p.sum()) for d, p in zip(source.shape, paddings))
        if expected != tuple(output.shape):
            self.unsupported(f"padded shape {list(expected)} differs from output shape {list(output.shape)}")
        self.paddings = [(0, 0)] + [tuple(int(v) for v in p) for p in paddings]
        constant = self.op.input(2)
        if constant is not None:
            self.value = np.asarray(self.constant(2)).reshape(-1)[0]
        elif source.dtype == "int8" and output.quantization is not None:
            self.value = output.zero_point
        else:
            self.value = 0

    def eval(self, inputs):
        return [np.pad(inputs[0], self.paddings, mode="constant", constant_values=self.value)]


KERNEL = Pad
