"""LOG_SOFTMAX, int8: TFLM's ``reference_ops::LogSoftmax`` (``LogSoftmaxQuantized``, log_softmax.h).

Per row of the last axis: differences to the row maximum, rescaled into Q5.26,
are exponentiated (gemmlowp's ``exp_on_negative_values``) and summed in Q12.19
(differences below ``diff_min`` skipped); the sum's log in Q5.26 is subtracted
from each rescaled difference and the result brought to the fixed output
quantization (scale 16/256, zero point 127). Differences at or below a
threshold derived from the log-sum give -128. The per-difference terms depend
only on the difference (256 values), so prepare() tabulates them.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint, gemmlowp
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels.softmax import calculate_input_radius, preprocess_softmax_scaling

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12
OUTPUT_INTEGER_BITS = 4
OUTPUT_SCALE = np.float32(16.0 / 256)
OUTPUT_ZERO_POINT = 127


class LogSoftmax(Kernel):

    def prepare(self) -> None:
        input_tensor, output = self.op.input(0), self.op.outputs[0]
        if input_tensor.dtype != "int8" or output.dtype != "int8":
            self.unsupported(f"{input_tensor.dtype} -> {output.dtype}: int8 only is emulated")
        for tensor in (input_tensor, output):
            self.require_quantized(tensor)
        if tuple(input_tensor.shape) != tuple(output.shape):
            self.unsupported("input and output shapes differ (TFLM requires them equal)", output)
        if np.float32(output.scale) != OUTPUT_SCALE or output.zero_point != OUTPUT_ZERO_POINT:
            self.unsupported("int8 output must have scale 16/256 and zero point 127 (TFLM requires it)", output)
        scale = float(np.float32(input_tensor.scale))
        if scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) <= 1.0:
            self.unsupported(f"input scale {scale:.3g} is too small: TFLM's Prepare aborts (scale*2^26 must exceed 1)",
                             input_tensor)
        # PreprocessLogSoftmaxScalingExp, beta 1
        multiplier, left_shift = preprocess_softmax_scaling(1.0, scale, SCALED_DIFF_INTEGER_BITS)
        reverse = (1 << (31 - left_shift)) / float(multiplier)
        self.reverse_divisor, self.reverse_left_shift = fixedpoint.quantize_multiplier_smaller_than_one_exp(reverse)
        self.diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, left_shift)
        diffs = np.arange(-255, 1, dtype=np.int64)  # index: diff + 255
        self.diff_in_q5 = fixedpoint.multiply_by_quantized_multiplier(diffs, multiplier, left_shift)
        exp_in_q12 = gemmlowp.rescale(gemmlowp.exp_on_negative_values(self.diff_in_q5, SCALED_DIFF_INTEGER_BITS),
                                      0, ACCUMULATION_INTEGER_BITS)
        self.exp_in_q12 = np.where(diffs >= self.diff_min, exp_in_q12, 0)

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        depth = x.shape[-1]
        rows = x.reshape(-1, depth).astype(np.int64)
        diffs = rows - rows.max(axis=1, keepdims=True)
        index = diffs + 255
        sum_of_exps = gemmlowp.wrap(self.exp_in_q12[index].sum(axis=1, keepdims=True))
        log_sum = gemmlowp.log_x_for_x_greater_than_or_equal_to_1(
            sum_of_exps, SCALED_DIFF_INTEGER_BITS, ACCUMULATION_INTEGER_BITS)
        shifted_log_sum = gemmlowp.wrap(log_sum + fixedpoint.INT32_MIN)
        adjusted_diff_min = np.maximum(self.diff_min - 1, fixedpoint.multiply_by_quantized_multiplier(
            shifted_log_sum, self.reverse_divisor, self.reverse_left_shift))
        scaled = fixedpoint.rounding_divide_by_pot(
            fixedpoint.wrap_int32(self.diff_in_q5[index] - log_sum),
            31 - SCALED_DIFF_INTEGER_BITS - OUTPUT_INTEGER_BITS) + 127
        result = np.where(diffs > adjusted_diff_min, np.clip(scaled, -128, 127), -128).astype(np.int8)
        return [result.reshape(x.shape[0], *output.shape)]


KERNEL = LogSoftmax
