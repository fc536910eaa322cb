"""SignalFilterBankSquareRoot: TFLM's signal library ``filter_bank_square_root.cc``.

``Sqrt64(channel) >> scale_bits`` per channel (uint64 in, uint32 out); the shift
comes from the second input (SignalFftAutoScale's scale output).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel, square_root_64


class SignalFilterBankSquareRoot(SignalKernel):
    input_count = 2

    def prepare_signal(self) -> None:
        source, scale_bits, output = self.op.input(0), self.op.input(1), self.op.outputs[0]
        self.require_rank(source, 1, "input")
        self.require_rank(scale_bits, 0, "scale_bits")
        self.require_rank(output, 1, "output")
        self.require_types((source, "uint64", "input"), (scale_bits, "int32", "scale_bits"), (output, "uint32", "output"))
        self.require(output.shape[0] >= source.shape[0], "output shorter than the input", output)

    def eval(self, inputs):
        x, shift = inputs[0], inputs[1]
        output = self.op.outputs[0]
        samples = self.samples_of(inputs)
        roots = square_root_64(np.broadcast_to(x, (samples, *x.shape[-1:])))
        shift = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1, 1), (samples, 1))
        # A uint32 shifted by an int: a shift outside 0..31 is undefined in C; x86 masks the count.
        result = (roots >> (shift & 31)) & 0xFFFFFFFF
        out = np.zeros((samples, output.shape[0]), dtype=np.uint32)
        out[:, : result.shape[1]] = result
        return [out]


KERNEL = SignalFilterBankSquareRoot
