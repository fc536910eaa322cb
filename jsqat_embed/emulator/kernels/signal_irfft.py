"""SignalIrfft: TFLM's signal library ``irfft.cc`` over KISS FFT's ``kiss_fftri``.

Each row of ``fft_length/2 + 1`` complex bins (interleaved real, imaginary pairs
of the tensor's type) becomes ``fft_length`` real samples. The fixed-point builds
scale down by each stage's radix as the forward transform does; the float build
is unscaled and TFLM divides its output by ``fft_length``. The type option ``T``
picks the int16, int32 or float build.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._kiss_fft import RealInverseFft
from jsqat_embed.emulator.kernels._signal import SignalKernel
from jsqat_embed.emulator.kernels.signal_rfft import TENSOR_TYPES


class SignalIrfft(SignalKernel):
    required_options = ("T", "fft_length")

    def prepare_signal(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        dtype = TENSOR_TYPES.get(self.option_int32("T"))
        self.require(dtype is not None, f"type option T={self.options['T']} (TFLM builds int16, int32 and float)")
        self.require(len(source.shape) == len(output.shape) and len(source.shape) >= 1, "input and output ranks differ")
        self.require_types((source, dtype, "input"), (output, dtype, "output"))
        self.fft_length = self.option_int32("fft_length")
        self.require(self.fft_length > 0 and self.fft_length % 2 == 0,
                     f"fft_length {self.fft_length} (KISS FFT's real transform needs an even length)")
        self.bins = source.shape[-1] // 2
        rows = source.size // max(2 * self.bins, 1)
        # kiss_fftri reads fft_length/2 + 1 bins and writes fft_length samples per row.
        self.require(self.bins == self.fft_length // 2 + 1, f"input rows must hold {self.fft_length // 2 + 1} complex bins")
        self.require(output.shape[-1] == self.fft_length and output.size == rows * self.fft_length,
                     f"output rows must hold fft_length = {self.fft_length} samples", output)
        self.dtype = dtype
        self.transform = RealInverseFft(self.fft_length, dtype)
        radices = sorted({p for p, _ in self.transform.complex_fft.stages})
        self.require(all(p in (2, 3, 4, 5) for p in radices),
                     f"fft_length {self.fft_length}: radix {max(radices)} needs KISS FFT's heap scratch, "
                     "which TFLM's build lacks (it crashes)")

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        samples = x.shape[0]
        bins = x.reshape(-1, self.bins, 2)
        signal = self.transform(bins[..., 0], bins[..., 1]).astype(self.dtype)
        if self.dtype == "float32":  # irfft_float.cc divides by fft_length (KISS FFT leaves it unscaled)
            signal = signal / np.float32(self.fft_length)
        return [signal.reshape(samples, *output.shape)]


KERNEL = SignalIrfft
