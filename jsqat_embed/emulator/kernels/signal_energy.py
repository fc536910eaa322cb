"""SignalEnergy: TFLM's signal library ``energy.cc`` (``SpectrumToEnergy``).

For bins ``start_index <= i < end_index`` of an interleaved int16 spectrum,
``real^2 + imag^2`` as uint32. TFLM leaves the other output elements unwritten
(whatever the arena held); the emulator writes zeros there, which only matters
to a model that reads them (the audio front ends slice them away).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel


class SignalEnergy(SignalKernel):
    required_options = ("end_index", "start_index")

    def prepare_signal(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        self.require_rank(source, 1, "input")
        self.require_rank(output, 1, "output")
        self.require_types((source, "int16", "input"), (output, "uint32", "output"))
        self.start = self.option_int32("start_index")
        self.end = self.option_int32("end_index")
        self.require(0 <= self.start <= self.end and self.end <= output.shape[0] and 2 * self.end <= source.shape[0],
                     f"bins [{self.start}, {self.end}) outside the {output.shape[0]}-bin output")

    def eval(self, inputs):
        x = inputs[0].astype(np.int64)
        output = self.op.outputs[0]
        samples = x.shape[0]
        energy = np.zeros((samples, output.shape[0]), dtype=np.uint32)
        bins = x[:, 2 * self.start : 2 * self.end].reshape(samples, -1, 2)
        # int32 products summed with int32 wrap-around, stored as uint32: the low 32 bits.
        energy[:, self.start : self.end] = ((bins[..., 0] ** 2 + bins[..., 1] ** 2) & 0xFFFFFFFF).astype(np.uint32)
        return [energy]


KERNEL = SignalEnergy
