"""SignalWindow: TFLM's signal library ``window.cc`` (``ApplyWindow``).

Every run of ``len(weights)`` input samples is multiplied by the int16 weights,
shifted right by ``shift`` (arithmetic) and saturated to int16.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel


class SignalWindow(SignalKernel):
    required_options = ("shift",)
    input_count = 2

    def prepare_signal(self) -> None:
        source, weights, output = self.op.input(0), self.op.input(1), self.op.outputs[0]
        self.require(len(source.shape) >= 1, "input must have at least one dimension", source)
        self.require_rank(weights, 1, "weights")
        self.require(len(source.shape) == len(output.shape), "input and output ranks differ", output)
        self.require_types((source, "int16", "input"), (weights, "int16", "weights"), (output, "int16", "output"))
        self.require(source.size % weights.shape[0] == 0 and output.size == source.size,
                     f"input of {source.size} samples is not whole windows of {weights.shape[0]}")
        self.shift = self.option_int32("shift")
        self.require(0 <= self.shift < 32, f"shift {self.shift} out of range")
        self.weights = self.constant(1).astype(np.int64)

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        samples = x.shape[0]
        frames = x.reshape(samples, -1, self.weights.shape[0]).astype(np.int64)
        raw = (frames * self.weights) >> self.shift
        return [np.clip(raw, -32768, 32767).astype(np.int16).reshape(samples, *output.shape)]


KERNEL = SignalWindow
