"""SOFTMAX: TFLM's quantized ``reference_ops::Softmax`` (int8 in, int8 or int16 out)
and ``reference_ops::SoftmaxInt16`` (int16 in and out).

int8 input, per row: differences to the row maximum are rescaled by beta*scale
into Q5.26, exponentiated with gemmlowp's ``exp_on_negative_values``, summed in
Q12.19, and each exponential is multiplied by the sum's fixed-point reciprocal.
The exponential depends only on the difference (256 possible values for int8),
so it is tabulated in prepare(); everything else is vectorized over rows.

int16 input: differences are rescaled so [-65535, 0] spans [-10, 0] and read
from an interpolated exp table; the sum's reciprocal comes from a second table
of 1/(1+x) (both 513-entry tables built in Prepare, the same for every model).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from jsqat_embed.emulator import fixedpoint, gemmlowp
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._lookup import INT16_MAX, INT16_MIN, expf, lut_lookup_int16, lut_populate_int16

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12


def preprocess_softmax_scaling(beta: float, input_scale: float, input_integer_bits: int) -> tuple[int, int]:
    """``PreprocessSoftmaxScaling`` (double-rounding build)."""
    max_real_multiplier = float((1 << 31) - 1)
    real = min(beta * input_scale * (1 << (31 - input_integer_bits)), max_real_multiplier)
    return fixedpoint.quantize_multiplier_greater_than_one(real)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """``CalculateInputRadius``."""
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1) * (1 << (total_signed_bits - input_integer_bits))
                          / (1 << input_left_shift))
    return int(math.floor(max_input_rescaled))


@functools.lru_cache(maxsize=1)
def int16_tables() -> tuple[np.ndarray, np.ndarray]:
    """softmax_common.cc's two int16 LUTs: exp over [-10, 0] and 1/(1+x) over [0, 1]."""
    steps = np.float32(INT16_MAX - INT16_MIN)  # the C's int32 range, converted to float
    exp_lut = lut_populate_int16(np.float32(10.0) / steps, INT16_MAX, np.float32(2.0) / steps, 0, expf)
    reciprocal_lut = lut_populate_int16(np.float32(1.0) / steps, INT16_MIN, np.float32(2.0) / steps, 0,
                                        lambda v: np.float32(1.0) / (np.float32(1.0) + v))
    return exp_lut, reciprocal_lut


class Softmax(Kernel):

    def prepare(self) -> None:
        input_tensor, output = self.op.input(0), self.op.outputs[0]
        for tensor in (input_tensor, output):
            self.require_quantized(tensor)
        self.input_dtype = input_tensor.dtype
        if input_tensor.dtype == "int16":
            self.prepare_int16(input_tensor, output)
            return
        if output.dtype == "int8":
            if output.zero_point != -128 or np.float32(output.scale) != np.float32(1 / 256):
                self.unsupported("int8 output must have scale 1/256 and zero point -128 (TFLM requires it)", output)
        elif output.dtype == "int16":
            off_scale = abs(np.float32(output.scale) - np.float32(1 / 65536)) > np.float32(0.001 / 65536)
            if output.zero_point != -32768 or off_scale:
                self.unsupported("int16 output of an int8 input must have scale 1/65536 and zero point -32768 "
                                 "(TFLM requires it)", output)
        else:
            self.unsupported(f"output type {output.dtype}", output)
        self.output_dtype = output.dtype
        beta = float(np.float32(self.op.options.get("beta", 1.0)))
        scale = float(np.float32(input_tensor.scale))
        if beta * scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) <= 1.0:
            # TFLM's QuantizeMultiplierGreaterThanOne check fails here and aborts the process
            self.unsupported(
                f"input scale {scale:.3g} x beta {beta:g} is too small: TFLM's SOFTMAX Prepare aborts "
                f"(beta*scale*2^26 must exceed 1; the model was likely converted untrained)", input_tensor)
        multiplier, left_shift = preprocess_softmax_scaling(beta, scale, SCALED_DIFF_INTEGER_BITS)
        self.diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, left_shift)
        diffs = np.arange(-255, 1, dtype=np.int64)
        rescaled = fixedpoint.multiply_by_quantized_multiplier_greater_than_one(diffs, multiplier, left_shift)
        exp = gemmlowp.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
        valid = diffs >= self.diff_min
        self.exp_table = np.where(valid, exp, 0)  # index: diff + 255
        self.accum_table = np.where(valid, gemmlowp.rescale(exp, 0, ACCUMULATION_INTEGER_BITS), 0)
        self.valid_table = valid

    def prepare_int16(self, input_tensor, output) -> None:
        if output.dtype != "int16":
            self.unsupported(f"int16 input needs an int16 output, not {output.dtype} (TFLM requires it)", output)
        if input_tensor.zero_point != 0 or output.zero_point != 0:
            self.unsupported("int16 input and output zero points must be 0 (TFLM requires it)")
        if abs(np.float32(output.scale) - np.float32(1 / 32768)) > np.float32(0.001 / 32768):
            self.unsupported("int16 output scale must be 1/32768 (TFLM requires it)", output)
        beta = float(np.float32(self.op.options.get("beta", 1.0)))
        # scale the input differences so that [-65535, 0] is [-10.0, 0.0]
        real = float(np.float32(input_tensor.scale)) * beta / (10.0 / 65535.0)
        multiplier, shift = fixedpoint.quantize_multiplier(real)
        exp_lut, self.reciprocal_lut = int16_tables()
        diffs = np.arange(-65535, 1, dtype=np.int64)
        scaled = fixedpoint.multiply_by_quantized_multiplier(diffs, multiplier, shift)
        self.exp_table = lut_lookup_int16(np.clip(scaled + 32767, INT16_MIN, INT16_MAX), exp_lut)  # index: diff + 65535

    def eval_int16(self, x):
        output = self.op.outputs[0]
        depth = x.shape[-1]
        rows = x.reshape(-1, depth).astype(np.int64)
        exps = self.exp_table[rows - rows.max(axis=1, keepdims=True) + 65535]
        sum_of_exps = exps.sum(axis=1, keepdims=True)  # Q16.15, positive (the maximum contributes ~1.0)
        headroom_plus_one = gemmlowp.count_leading_zeros_32(sum_of_exps)
        shifted_sum = ((sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14
        # 1/(1+x) of x = sum - 1, recentred from [0, 65535] to the table's [-32768, 32767]
        recentred = np.clip(shifted_sum - ((1 << 15) + (1 << 16)), INT16_MIN, INT16_MAX)
        reciprocal = lut_lookup_int16(recentred, self.reciprocal_lut)
        right_shift = 31 - headroom_plus_one
        result = (exps * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
        result = np.clip(result, 0, INT16_MAX).astype(np.int16)
        return [result.reshape(x.shape[0], *output.shape)]

    def eval(self, inputs):
        x = inputs[0]
        if self.input_dtype == "int16":
            return self.eval_int16(x)
        output = self.op.outputs[0]
        depth = x.shape[-1]
        rows = x.reshape(-1, depth).astype(np.int64)
        index = rows - rows.max(axis=1, keepdims=True) + 255
        sum_of_exps = gemmlowp.wrap(self.accum_table[index].sum(axis=1, keepdims=True))
        shifted_scale, num_bits_over_unit = gemmlowp.get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
        bits = 8 if self.output_dtype == "int8" else 16
        exponent = num_bits_over_unit + 31 - bits
        unsaturated = fixedpoint.rounding_divide_by_pot(gemmlowp.multiply(shifted_scale, self.exp_table[index]), exponent)
        info = np.iinfo(self.output_dtype)
        result = np.clip(unsaturated + info.min, info.min, info.max)
        result = np.where(self.valid_table[index], result, info.min).astype(self.output_dtype)
        return [result.reshape(x.shape[0], *output.shape)]


KERNEL = Softmax
