"""SignalFilterBank: TFLM's signal library ``filter_bank.cc`` (``FilterbankAccumulateChannels``).

Channel ``i`` (of ``num_channels + 1``, the first one scratch) sums
``weights[ws_i + j] * input[fs_i + j]`` over its width, plus the ``unweights``
sum of the channel before it; the first channel is dropped. The C accumulates in
uint64 with each int16 weight converted to uint64 (negative weights wrap), so
the whole sum is taken modulo 2^64 -- a fixed (channels x bins) matrix product.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel


class SignalFilterBank(SignalKernel):
    required_options = ("num_channels",)
    input_count = 6

    def prepare_signal(self) -> None:
        op = self.op
        source, output = op.input(0), op.outputs[0]
        for index in range(6):
            self.require_rank(op.input(index), 1, f"input {index}")
        self.require_types((source, "uint32", "input"), *((op.input(i), "int16", f"input {i}") for i in range(1, 6)),
                           (output, "uint64", "output"))
        self.require_rank(output, 1, "output")
        channels = self.option_int32("num_channels")
        self.require(channels >= 0 and output.shape[0] <= channels + 1, f"{output.shape[0]} outputs for {channels} channels")
        weights, unweights = (self.constant(i).astype(np.int64) for i in (1, 2))
        starts, weight_starts, widths = (self.constant(i).astype(np.int64) for i in (3, 4, 5))
        self.require(min(starts.size, weight_starts.size, widths.size) >= channels + 1,
                     f"channel tables shorter than num_channels + 1 = {channels + 1}")
        bins = source.shape[0]
        matrix = np.zeros((channels + 1, bins), dtype=np.uint64)
        for channel in range(channels + 1):
            for j in range(int(widths[channel])):
                frequency, weight = int(starts[channel]) + j, int(weight_starts[channel]) + j
                self.require(0 <= frequency < bins and 0 <= weight < min(weights.size, unweights.size),
                             f"channel {channel} reads outside the spectrum or the weights")
                matrix[channel, frequency] += np.uint64(int(weights[weight]) & 0xFFFFFFFFFFFFFFFF)
                if channel + 1 <= channels:
                    matrix[channel + 1, frequency] += np.uint64(int(unweights[weight]) & 0xFFFFFFFFFFFFFFFF)
        self.matrix = matrix[1 : 1 + output.shape[0]]  # channel 0 is scratch

    def eval(self, inputs):
        x = inputs[0].astype(np.uint64)
        with np.errstate(over="ignore"):
            return [(x @ self.matrix.T).astype(np.uint64)]


KERNEL = SignalFilterBank
