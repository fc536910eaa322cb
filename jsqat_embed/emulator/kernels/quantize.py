"""QUANTIZE: float32 -> int8/int16 (``AffineQuantize``: float32 division, std::round)
and integer requantization (``Requantize``: ``MultiplyByQuantizedMultiplier`` of
the zero-point-free input by double(in_scale)/double(out_scale)) between the
type pairs quantize_common.cc's Eval implements."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel

#: input type -> output types EvalQuantizeReference handles
PAIRS = {"float32": ("int8", "int16"), "int32": ("int8", "int16"), "int16": ("int8", "int16", "int32"),
         "int8": ("int8", "uint8", "int16", "int32"), "uint8": ("int8",)}


class Quantize(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        self.require_quantized(output)
        if output.quantization.per_channel:
            self.unsupported("per-channel output quantization (TFLM requires one scale)", output)
        if output.dtype not in PAIRS.get(source.dtype, ()):
            self.unsupported(f"{source.dtype} -> {output.dtype} (TFLM's QUANTIZE does not implement it)", output)
        self.output_zero_point = output.zero_point
        self.output_scale = np.float32(output.scale)
        self.from_float = source.dtype == "float32"
        if self.from_float and self.output_scale == 0:
            # AffineQuantize divides by the scale: every input but 0 becomes inf, whose conversion to
            # int32 is undefined in C (the x86 wheel gives INT_MIN, Arm saturates)
            self.unsupported("output scale 0: TFLM's float -> int conversion of x / 0 is undefined", output)
        if not self.from_float:
            self.require_quantized(source)
            self.input_zero_point = source.zero_point
            effective = float(np.float32(source.scale)) / float(self.output_scale)
            self.multiplier, self.shift = fixedpoint.quantize_multiplier(effective)

    def eval(self, inputs):
        x = inputs[0]
        info = np.iinfo(self.op.outputs[0].dtype)
        if self.from_float:
            scaled = x.astype(np.float32) / self.output_scale
            if not np.all(np.isfinite(scaled)):
                scaled = np.nan_to_num(scaled, nan=0.0, posinf=info.max, neginf=info.min)
            rounded = fixedpoint.round_half_away_from_zero(scaled)  # float32 quotient, rounded exactly
            values = np.clip(rounded, -2.0**31, 2.0**31 - 1).astype(np.int64) + self.output_zero_point
        else:
            shifted = x.astype(np.int64) - self.input_zero_point
            values = fixedpoint.multiply_by_quantized_multiplier(shifted, self.multiplier, self.shift) + self.output_zero_point
        return [np.clip(values, info.min, info.max).astype(info.dtype)]


KERNEL = Quantize
