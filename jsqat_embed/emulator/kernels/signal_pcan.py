"""SignalPCAN: TFLM's signal library ``pcan.cc`` (``ApplyPcanAutoGainControlFixed``).

Per-channel automatic gain control: a gain from the noise estimate through the
piecewise-polynomial lookup table (``WideDynamicFunction``), the channel times
the gain shifted by ``snr_shift``, then ``PcanShrink`` (x^2/4 below 2, x - 1
above, in the C's fixed-point formats).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel, most_significant_bit_32

U32 = 0xFFFFFFFF
PCAN_SNR_BITS = 12
PCAN_OUTPUT_BITS = 6


def _int32(x):
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) & U32) - (1 << 31)


def wide_dynamic_function(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``WideDynamicFunction``: the int16 gain for uint32 values x."""
    x = np.asarray(x, dtype=np.int64)
    interval = most_significant_bit_32(x)
    base = np.clip(4 * interval - 6, 0, lut.size - 3)
    shifted = np.where(interval < 11, (x << np.maximum(11 - interval, 0)) & U32, x >> np.maximum(interval - 11, 0))
    frac = shifted & 0x3FF
    lut0, lut1, lut2 = lut[base], lut[base + 1], lut[base + 2]
    result = _int32(lut2 * frac) >> 5
    result = _int32(result + _int32((lut1 & U32) << 5))
    result = _int32(result * frac)
    result = _int32(result + (1 << 14)) >> 15
    result = result + lut0
    gain = ((result + (1 << 15)) & 0xFFFF) - (1 << 15)  # returned as int16
    small = np.clip(x, 0, 2)
    return np.where(x <= 2, lut[small], gain)


def pcan_shrink(x: np.ndarray) -> np.ndarray:
    """``PcanShrink`` on uint32 values."""
    x = np.asarray(x, dtype=np.int64)
    square = ((x * x) & U32) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    linear = ((x >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1 << PCAN_OUTPUT_BITS)) & U32
    return np.where(x < (2 << PCAN_SNR_BITS), square, linear)


class SignalPCAN(SignalKernel):
    required_options = ("snr_shift",)
    input_count = 3

    def prepare_signal(self) -> None:
        op = self.op
        source, noise, lut, output = op.input(0), op.input(1), op.input(2), op.outputs[0]
        for tensor, what in ((source, "input"), (noise, "noise estimate"), (lut, "gain LUT"), (output, "output")):
            self.require_rank(tensor, 1, what)
        self.require_types((source, "uint32", "input"), (noise, "uint32", "noise estimate"), (lut, "int16", "gain LUT"),
                           (output, "uint32", "output"))
        self.channels = source.shape[0]
        self.require(output.shape[0] == source.shape[0] and noise.shape[0] >= self.channels,
                     "input, noise estimate and output must have one value per channel")
        self.lut = self.constant(2).astype(np.int64)
        # The largest interval (32) reads lut[4 * 32 - 6 + 2]; the emulator clips, TFLM would read past the table.
        self.require(self.lut.size >= 125, f"gain LUT of {self.lut.size} entries (the C indexes up to 124)", lut)
        self.snr_shift = self.option_int32("snr_shift")
        self.require(0 <= self.snr_shift < 64, f"snr_shift {self.snr_shift} out of range")

    def eval(self, inputs):
        x, noise = inputs[0], inputs[1]
        samples = self.samples_of(inputs)
        x = np.broadcast_to(np.asarray(x, dtype=np.int64), (samples, self.channels))
        noise = np.broadcast_to(np.asarray(noise, dtype=np.int64)[..., : self.channels], (samples, self.channels))
        gain = wide_dynamic_function(noise, self.lut) & U32  # int16 -> uint32 sign-extends
        snr = (x.astype(np.uint64) * gain.astype(np.uint64)) >> np.uint64(self.snr_shift)
        snr = (snr & np.uint64(U32)).astype(np.int64)
        return [pcan_shrink(snr).astype(np.uint32)]


KERNEL = SignalPCAN
