"""SOFTMAX, int8 in, int8 or int16 out: TFLM's quantized ``reference_ops::Softmax``.

Per row: differences to the row maximum are rescaled by beta*scale into Q5.26,
exponentiated with gemmlowp's ``exp_on_negative_values``, summed in Q12.19, and
each exponential is multiplied by the sum's fixed-point reciprocal. The
exponential depends only on the difference (256 possible values for int8), so
it is tabulated in prepare(); everything else is vectorized over rows.
"""

from __future__ import annotations

import math

import numpy as np

from jsqat_embed.emulator import fixedpoint, gemmlowp
from jsqat_embed.emulator.kernel import Kernel

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


class Softmax(Kernel):

    def prepare(self) -> None:
        input_tensor, output = self.op.input(0), self.op.outputs[0]
        for tensor in (input_tensor, output):
            self.require_quantized(tensor)
        if output.dtype == "int8":
            if output.zero_point != -128 or np.float32(output.scale) != np.float32(1 / 256):
                self.unsupported("int8 output must have scale 1/256 and zero point -128 (TFLM requires it)", output)
        elif output.dtype == "int16":
            if output.zero_point != -32768:
                self.unsupported("int16 output must have zero point -32768 (TFLM requires it)", output)
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

    def eval(self, inputs):
        x = inputs[0]
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
