"""SignalFilterBankSpectralSubtraction: TFLM's signal library ``filter_bank_spectral_subtraction.cc``.

Per channel: a low-pass noise estimate (``(signal << smoothing_bits) * smoothing
+ noise * (1 - smoothing)``, >> spectral_subtraction_bits; odd channels use the
alternate coefficients), the signal minus the estimate (never below
``min_signal_remaining`` of the signal), and the estimate as a second output.

The noise estimate is kernel state (reset to zero by Prepare and Reset); the
emulator runs each sample from that reset state.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel

U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF


class SignalFilterBankSpectralSubtraction(SignalKernel):
    required_options = ("alternate_one_minus_smoothing", "alternate_smoothing", "clamping", "min_signal_remaining",
                        "num_channels", "one_minus_smoothing", "smoothing", "smoothing_bits",
                        "spectral_subtraction_bits")
    output_count = 2

    def prepare_signal(self) -> None:
        source = self.op.input(0)
        output, noise = self.op.outputs
        for tensor, what in ((source, "input"), (output, "output"), (noise, "noise estimate")):
            self.require_rank(tensor, 1, what)
        self.require_types((source, "uint32", "input"), (output, "uint32", "output"), (noise, "uint32", "noise estimate"))
        self.channels = self.option_int32("num_channels")
        self.require(0 <= self.channels <= min(source.shape[0], output.shape[0]) and noise.shape[0] <= self.channels,
                     f"num_channels {self.channels} does not match the tensors")
        u32 = lambda name: self.option_int32(name) & U32  # noqa: E731 (config fields are uint32)
        even = np.arange(self.channels) % 2 == 0
        self.smoothing = np.where(even, u32("smoothing"), u32("alternate_smoothing")).astype(np.uint64)
        self.one_minus = np.where(even, u32("one_minus_smoothing"), u32("alternate_one_minus_smoothing")).astype(np.uint64)
        self.min_signal_remaining = np.uint64(u32("min_signal_remaining"))
        self.smoothing_bits = u32("smoothing_bits")
        self.subtraction_bits = u32("spectral_subtraction_bits")
        self.require(self.smoothing_bits < 32 and self.subtraction_bits < 64, "shift options out of range")
        self.clamping = self.option_bool("clamping")

    def eval(self, inputs):
        x = inputs[0].astype(np.uint64)[:, : self.channels]
        output, noise_tensor = self.op.outputs
        samples = x.shape[0]
        noise = np.zeros((samples, self.channels), dtype=np.uint64)  # the reset state
        bits = np.uint64(self.subtraction_bits)
        with np.errstate(over="ignore"):
            scaled_up = (x << np.uint64(self.smoothing_bits)) & np.uint64(U32)
            noise = ((scaled_up * self.smoothing + noise * self.one_minus) >> bits) & np.uint64(U32)
            estimate = np.minimum(noise, scaled_up)
            if self.clamping:
                noise = estimate
            floor = ((x * self.min_signal_remaining) >> bits) & np.uint64(U32)
        subtracted = (scaled_up - estimate) >> np.uint64(self.smoothing_bits)
        result = np.zeros((samples, output.shape[0]), dtype=np.uint32)
        result[:, : self.channels] = np.maximum(subtracted, floor)
        noise_out = np.zeros((samples, noise_tensor.shape[0]), dtype=np.uint32)
        noise_out[:] = noise[:, : noise_tensor.shape[0]]
        return [result, noise_out]


KERNEL = SignalFilterBankSpectralSubtraction
