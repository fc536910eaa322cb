"""SignalStacker: TFLM's signal library ``stacker.cc``: frames stacked with left/right context.

Each invocation appends one frame of ``num_channels`` values to a circular buffer
of ``num_channels * (left + right + 1)``; the very first frame is replicated
``stacker_left_context`` more times as padding; when the buffer is full it is
emitted and ``num_channels * stacker_step`` values are dropped. From the reset
state (each emulated sample starts there) the output is valid only without right
context: the first frame repeated ``left + 1`` times. Otherwise TFLM leaves the
output unwritten (validity false); the emulator writes zeros there.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel


class SignalStacker(SignalKernel):
    required_options = ("num_channels", "stacker_left_context", "stacker_right_context", "stacker_step")
    output_count = 2

    def prepare_signal(self) -> None:
        source = self.op.input(0)
        output, valid = self.op.outputs
        self.require_rank(source, 1, "input")
        self.require_rank(output, 1, "output")
        self.require_rank(valid, 0, "output_valid")
        self.require_types((source, "int16", "input"), (output, "int16", "output"), (valid, "bool", "output_valid"))
        self.channels = self.option_int32("num_channels")
        self.left = self.option_int32("stacker_left_context")
        self.right = self.option_int32("stacker_right_context")
        self.require(self.channels > 0 and self.left >= 0 and self.right >= 0 and source.shape[0] >= self.channels,
                     "num_channels and context options must fit the input")
        self.require(output.shape[0] == self.channels * (self.left + self.right + 1), "output must hold the stack", output)

    def eval(self, inputs):
        x = inputs[0]
        samples = x.shape[0]
        if self.right:
            return [np.zeros((samples, *self.op.outputs[0].shape), dtype=np.int16), np.zeros(samples, dtype=bool)]
        frame = x[:, : self.channels]
        return [np.tile(frame, (1, self.left + 1)).astype(np.int16), np.ones(samples, dtype=bool)]


KERNEL = SignalStacker
