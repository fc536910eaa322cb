"""SignalOverlapAdd: TFLM's signal library ``overlap_add.cc`` (``OverlapAdd``).

Input (..., n_frames, frame_size), output (..., n_frames * frame_step): each
frame is added into a ``frame_size`` accumulator (int16 saturating, or float),
the first ``frame_step`` values come out and the accumulator shifts left by
``frame_step``, zero-filled. The accumulator is kernel state; the emulator runs
each sample from the reset state (zeros).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel
from jsqat_embed.emulator.kernels.signal_rfft import TENSOR_TYPES


class SignalOverlapAdd(SignalKernel):
    required_options = ("T", "frame_step")

    def prepare_signal(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        dtype = TENSOR_TYPES.get(self.option_int32("T"))
        self.require(dtype in ("int16", "float32"), f"type option T={self.options['T']} (TFLM builds int16 and float)")
        self.require(len(source.shape) >= 2 and len(source.shape) == len(output.shape) + 1,
                     "input must be (..., frames, frame_size) and the output one rank lower")
        self.require_types((source, dtype, "input"), (output, dtype, "output"))
        self.frames, self.frame_size = source.shape[-2], source.shape[-1]
        self.step = self.option_int32("frame_step")
        rows = source.size // max(self.frames * self.frame_size, 1)
        self.require(0 < self.step <= self.frame_size and output.size == rows * self.frames * self.step,
                     f"frame_step {self.step} does not fit frames of {self.frame_size} into the output", output)
        self.dtype = dtype

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        samples = x.shape[0]
        frames = x.reshape(samples, -1, self.frames, self.frame_size)
        accumulator = np.zeros(frames.shape[:2] + (self.frame_size,), dtype=np.int64 if self.dtype == "int16" else np.float32)
        result = np.zeros(frames.shape[:2] + (self.frames, self.step), dtype=self.dtype)
        for frame in range(self.frames):
            if self.dtype == "int16":
                accumulator = np.clip(accumulator + frames[:, :, frame].astype(np.int64), -32768, 32767)
            else:
                accumulator = accumulator + frames[:, :, frame]
            result[:, :, frame] = accumulator[..., : self.step]
            accumulator = np.concatenate([accumulator[..., self.step:], np.zeros_like(accumulator[..., : self.step])],
                                         axis=-1)
        return [result.reshape(samples, *output.shape)]


KERNEL = SignalOverlapAdd
