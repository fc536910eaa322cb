"""SignalFilterBankLog: TFLM's signal library ``filter_bank_log.cc`` (``FilterbankLog``).

``output_scale * ln(channel << input_correction_bits)`` through ``Log32``,
saturated to INT16_MAX; channels whose scaled value is 0 or 1 give 0.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernels._signal import SignalKernel, log_32

U32 = 0xFFFFFFFF


class SignalFilterBankLog(SignalKernel):
    required_options = ("input_correction_bits", "output_scale")

    def prepare_signal(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        self.require_rank(source, 1, "input")
        self.require_rank(output, 1, "output")
        self.require_types((source, "uint32", "input"), (output, "int16", "output"))
        self.require(output.shape[0] >= source.shape[0], "output shorter than the input", output)
        self.correction_bits = self.option_int32("input_correction_bits") & U32
        self.output_scale = self.option_int32("output_scale") & U32
        self.require(self.correction_bits < 32, f"input_correction_bits {self.correction_bits} out of range")

    def eval(self, inputs):
        x = inputs[0].astype(np.int64)
        output = self.op.outputs[0]
        scaled = (x << self.correction_bits) & U32
        logs = log_32(np.maximum(scaled, 2), self.output_scale)
        values = np.where(scaled > 1, np.minimum(logs, 32767), 0)
        result = np.zeros((x.shape[0], output.shape[0]), dtype=np.int16)
        result[:, : values.shape[1]] = values
        return [result]


KERNEL = SignalFilterBankLog
