"""SignalFftAutoScale: TFLM's signal library ``fft_auto_scale.cc``.

Scales the frame up by the largest power of two that keeps its peak within
int16: ``scale_bits = 16 - MostSignificantBit32(MaxAbs16(x)) - 1`` (at least 0),
output ``x * 2^scale_bits`` stored as int16, and ``scale_bits`` as the second
output. ``MaxAbs16`` is the portable loop, whose ``-value`` of -32768 stores a
negative maximum back into its int16; frames holding -32768 follow that loop
sample by sample.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel, most_significant_bit_32


def max_abs_16(frames: np.ndarray) -> np.ndarray:
    """``MaxAbs16`` of each row (portable C loop; int16 result, as int64)."""
    frames = frames.astype(np.int64)
    result = np.abs(frames).max(axis=-1, initial=0)
    for row in np.nonzero((frames == -32768).any(axis=-1))[0]:
        maximum = 0
        for value in frames[row]:
            if value > maximum:
                maximum = int(value)
            elif -value > maximum:
                maximum = ((-int(value) + 32768) & 0xFFFF) - 32768  # stored back into an int16
        result[row] = maximum
    return result


class SignalFftAutoScale(SignalKernel):
    output_count = 2

    def prepare_signal(self) -> None:
        source = self.op.input(0)
        output, scale_bits = self.op.outputs
        self.require_rank(source, 1, "input")
        self.require_rank(output, 1, "output")
        self.require_rank(scale_bits, 0, "scale_bit output")
        self.require_types((source, "int16", "input"), (output, "int16", "output"), (scale_bits, "int32", "scale_bit"))
        self.require(output.shape[0] <= source.shape[0], "output is longer than the input", output)

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        samples = x.shape[0]
        frame = x.reshape(samples, -1)[:, : output.shape[0]].astype(np.int64)
        peak = max_abs_16(frame)
        # MostSignificantBit32 sees the int16 peak converted to uint32 (sign-extended).
        scale = np.maximum(16 - most_significant_bit_32(peak & 0xFFFFFFFF) - 1, 0)
        scaled = (frame * (np.int64(1) << scale[:, None])).astype(np.int16)
        return [scaled.reshape(samples, *output.shape), scale.astype(np.int32).reshape(samples)]


KERNEL = SignalFftAutoScale
