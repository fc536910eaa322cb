"""SignalFramer: TFLM's signal library ``framer.cc``: a stream cut into overlapping frames.

Each row of the last dimension is fed ``frame_step`` samples at a time into a
circular buffer (primed with ``frame_size - frame_step`` zeros when ``prefill``);
whenever it holds ``frame_size`` samples a frame is emitted and ``frame_step``
samples are dropped. The second output says whether every frame was emitted.
From the reset state (each emulated sample starts there) the frames TFLM cannot
emit yet keep whatever the output tensor held before; the emulator writes zeros
there, so only their validity flag, not their bytes, is comparable.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel


class SignalFramer(SignalKernel):
    required_options = ("frame_size", "frame_step", "prefill")
    output_count = 2

    def prepare_signal(self) -> None:
        source = self.op.input(0)
        output, valid = self.op.outputs
        self.require(len(source.shape) >= 1 and len(output.shape) == len(source.shape) + 1,
                     "the output must be one rank above the input")
        self.require_rank(valid, 0, "output_valid")
        self.require_types((source, "int16", "input"), (output, "int16", "output"), (valid, "bool", "output_valid"))
        self.size = self.option_int32("frame_size")
        self.step = self.option_int32("frame_step")
        width = source.shape[-1]
        self.require(self.size > 0 and self.step > 0 and width >= self.step and width % self.step == 0,
                     f"rows of {width} samples are not whole steps of {self.step}")
        self.frames = width // self.step
        rows = source.size // width
        self.require(output.size == rows * self.frames * self.size, "output does not hold the frames", output)
        prefill = (self.size - self.step) if self.option_bool("prefill") else 0
        # Which frames come out, and from where in [prefill zeros] + row: independent of the values.
        self.starts, available, read = [], max(prefill, 0), 0
        for _ in range(self.frames):
            available += self.step
            if available - read >= self.size:
                self.starts.append(read)
                read += self.step
            else:
                self.starts.append(None)
        self.prefill = max(prefill, 0)
        self.width = width

    def eval(self, inputs):
        x = inputs[0]
        output, _ = self.op.outputs
        samples = x.shape[0]
        rows = x.reshape(samples, -1, self.width)
        stream = np.concatenate([np.zeros(rows.shape[:2] + (self.prefill,), dtype=np.int16), rows], axis=-1)
        frames = np.zeros(rows.shape[:2] + (self.frames, self.size), dtype=np.int16)
        for index, start in enumerate(self.starts):
            if start is not None:
                frames[:, :, index] = stream[..., start : start + self.size]
        valid = np.full(samples, all(start is not None for start in self.starts))
        return [frames.reshape(samples, *output.shape), valid]


KERNEL = SignalFramer
