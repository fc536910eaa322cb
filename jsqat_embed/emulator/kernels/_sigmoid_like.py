"""LOGISTIC and TANH share their Prepare (logistic_common.cc / tanh.cc).

int8: the input rescaled into Q4.27, with an input radius beyond which the
output saturates; the op itself is gemmlowp's fixed-point logistic/tanh.

int16: symmetric (zero point 0) input and a Q0.15 output (scale 2^-15); the
input is rescaled to 1/(3*4096) per step, either by 3 << shift when its scale is
a power of two (multiplier 0 tells the kernel so) or by a 15-bit multiplier, and
the op reads TFLM's 256-entry sigmoid table with linear interpolation
(``fixedpoint.logistic_int16`` / ``tanh_int16``).
"""

from __future__ import annotations

import math

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernels._lookup import LookupKernel
from jsqat_embed.emulator.kernels.softmax import calculate_input_radius

INPUT_INTEGER_BITS = 4
INT16_INPUT_INTEGER_BITS = 3
INT16_OUTPUT_FRACTIONAL_BITS = 15


def checked_log2(x: float) -> tuple[bool, int]:
    """``CheckedLog2`` (quantization_util.cc), in float as the C: (is a power of two, rounded log2)."""
    f32 = np.float32
    x_log2 = f32(np.log(np.float64(f32(x)))) * (f32(1.0) / f32(math.log(2.0)))
    rounded = f32(fixedpoint.tflite_round(float(x_log2)))
    fraction = f32(x_log2 - rounded)
    return bool(abs(fraction) < f32(1e-3)), int(rounded)


class SigmoidLike(LookupKernel):
    #: input shifts for which a power-of-two input scale takes TFLM's "POT" path
    int16_pot_shifts: tuple[int, ...] = (0,)

    def prepare_function(self, source, output) -> None:
        if self.dtype == "int16":
            self.prepare_int16(source, output)
            return
        real = float(np.float32(source.scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
        q, self.input_left_shift = math.frexp(real)
        self.input_multiplier = int(fixedpoint.wrap_int32(int(fixedpoint.tflite_round(q * (1 << 31)))))
        self.input_range_radius = calculate_input_radius(INPUT_INTEGER_BITS, self.input_left_shift, 31)
        self.input_zero_point = source.zero_point
        self.check_output(output)

    def prepare_int16(self, source, output) -> None:
        if source.zero_point != 0 or output.zero_point != 0:
            self.unsupported("int16 input and output zero points must be 0 (TFLM requires it)")
        power_of_two, log2_scale = checked_log2(source.scale)
        shift = (15 - INT16_INPUT_INTEGER_BITS) + log2_scale
        if power_of_two and shift in self.int16_pot_shifts:
            self.int16_multiplier, self.int16_shift = 0, shift  # the kernel then uses 3 << shift
        else:
            multiplier = float(np.float32(source.scale)) * 4096.0 * 3.0
            shift = 0
            while multiplier <= 32767.0 / 2.0 and shift <= 30:
                shift += 1
                multiplier *= 2.0
            self.int16_multiplier, self.int16_shift = int(multiplier), shift
        output_pot, output_log2 = checked_log2(output.scale)
        if not output_pot or output_log2 != -INT16_OUTPUT_FRACTIONAL_BITS:
            self.unsupported("int16 output scale must be 2^-15 (TFLM requires it)", output)

    def check_output(self, output) -> None:
        """TFLM's int8 output quantization requirements."""

    def in_q4(self, values):
        return fixedpoint.multiply_by_quantized_multiplier(values, self.input_multiplier, self.input_left_shift)

