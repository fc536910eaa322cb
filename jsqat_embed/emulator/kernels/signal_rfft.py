"""SignalRfft: TFLM's signal library ``rfft.cc`` over KISS FFT's ``kiss_fftr``.

Each row of ``input_length`` samples is copied into a work area, zero-padded to
``fft_length`` and transformed; the output holds ``fft_length/2 + 1`` complex
bins per row as interleaved (real, imaginary) pairs of the input's type. The
type option ``T`` picks the int16, int32 or float build.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._kiss_fft import RealFft
from jsqat_embed.emulator.kernels._signal import SignalKernel

#: TFLite TensorType values the option ``T`` carries
TENSOR_TYPES = {0: "float32", 2: "int32", 7: "int16"}


class SignalRfft(SignalKernel):
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
        self.input_length = source.shape[-1]
        self.output_length = output.shape[-1] // 2
        self.require(self.input_length <= self.fft_length, "input rows are longer than fft_length", source)
        rows = source.size // max(self.input_length, 1)
        self.require(self.output_length == self.fft_length // 2 + 1 and output.size == rows * 2 * self.output_length,
                     f"output rows must hold {self.fft_length // 2 + 1} complex bins", output)
        self.dtype = dtype
        self.transform = RealFft(self.fft_length, dtype)
        radices = sorted({p for p, _ in self.transform.complex_fft.stages})
        # KISS FFT's generic butterfly takes a heap buffer; TFLM's build patches the allocator
        # to return NULL, so lengths with a prime factor above 5 crash there (measured: SIGSEGV).
        self.require(all(p in (2, 3, 4, 5) for p in radices),
                     f"fft_length {self.fft_length}: radix {max(radices)} needs KISS FFT's heap scratch, "
                     "which TFLM's build lacks (it crashes)")

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        samples = x.shape[0]
        rows = x.reshape(-1, self.input_length)
        work = np.zeros((rows.shape[0], self.fft_length), dtype=rows.dtype)
        work[:, : self.input_length] = rows
        real, imag = self.transform(work)
        interleaved = np.stack([real, imag], axis=-1).astype(self.dtype)
        return [interleaved.reshape(samples, *output.shape)]


KERNEL = SignalRfft
