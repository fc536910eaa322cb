"""SignalDelay: TFLM's signal library ``delay.cc``: each row delayed by ``delay_length`` samples.

Every row of the last dimension streams through a circular buffer primed with
``delay_length`` zeros. From the reset state (each emulated sample starts there)
the output row is ``delay_length`` zeros followed by the row's first
``frame_size - delay_length`` samples (all zeros when the delay is the longer).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel


class SignalDelay(SignalKernel):
    required_options = ("delay_length",)

    def prepare_signal(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        self.require(len(source.shape) >= 1, "input must have at least one dimension", source)
        self.require_types((source, "int16", "input"), (output, "int16", "output"))
        self.require(output.size == source.size, "input and output sizes differ", output)
        self.delay = self.option_int32("delay_length")
        self.require(self.delay >= 0, f"delay_length {self.delay} is negative")
        self.frame_size = source.shape[-1]

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        rows = x.reshape(x.shape[0], -1, self.frame_size)
        delayed = np.zeros_like(rows)
        kept = max(self.frame_size - self.delay, 0)
        delayed[..., self.frame_size - kept:] = rows[..., :kept]
        return [delayed.reshape(x.shape[0], *output.shape)]


KERNEL = SignalDelay
