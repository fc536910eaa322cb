"""DIV: TFLM's ``kernels/div.cc`` with ``reference_ops::Div`` / ``BroadcastDivSlow``.

- float32: IEEE division, then the activation clamp; with no activation the
  clamp is [-FLT_MAX, FLT_MAX], so infinities come out as +-FLT_MAX (NaN stays).
- int32 (unquantized): C division, truncating toward zero, then the clamp. A
  zero divisor traps in TFLM (SIGFPE); the emulator refuses the input instead.
- int8: ``DivElementwise``: the divisor's reciprocal from ``GetReciprocal``
  (gemmlowp's 1/(1+x) Newton-Raphson), the dividend normalised by its leading
  sign bits, and one ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` with the
  combined shift. A divisor equal to its zero point runs the same arithmetic
  (TFLM only DCHECKs it), and so does the emulator. The output multiplier is
  s1 / (s2 * s_out) in double, as the tflite-micro wheel forms it (90b983c's
  source divides in float first; the two differ in the last bits of the
  multiplier, which moves rounding ties). A combined shift of 32 or more reaches
  gemmlowp's ``RoundingDivideByPOT`` past its 31-bit contract; the emulator
  reproduces what the x86-64 code computes then (shift counts taken modulo the
  register width). Measured against the wheel on all 65 536 input pairs for
  five scale/zero-point sets, zero divisors included.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint, gemmlowp
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _elementwise
from jsqat_embed.errors import InputDataError

FLT_MAX = np.finfo(np.float32).max
INT32 = np.iinfo(np.int32)


def _activation_range(activation: str, low, high):
    """``CalculateActivationRange`` for float32 / int32."""
    ranges = {"NONE": (low, high), "RELU": (0, high), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}
    if activation not in ranges:
        raise ValueError(f"fused activation {activation}")
    return ranges[activation]


class Div(Kernel):

    def prepare(self) -> None:
        op = self.op
        self.operands = [op.input(0), op.input(1)]
        output = op.outputs[0]
        if any(t is None for t in self.operands) or any(t.dtype != output.dtype for t in self.operands):
            self.unsupported("both inputs and the output must have the same type")
        self.kind = output.dtype
        activation = op.options.get("fused_activation_function", "NONE")
        if self.kind == "float32":
            if activation not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
                self.unsupported(f"fused activation {activation}")
            low, high = _activation_range(activation, -FLT_MAX, FLT_MAX)
            self.clamp = (np.float32(low), np.float32(high))
        elif self.kind == "int32":
            if any(t.quantization is not None for t in self.operands):
                self.unsupported("int32 DIV needs unquantized inputs (TFLM: only int32 unquantized DIV)")
            if activation not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
                self.unsupported(f"fused activation {activation}")
            self.clamp = _activation_range(activation, INT32.min, INT32.max)
        elif self.kind == "int8":
            for tensor in (*self.operands, output):
                self.require_quantized(tensor)
            s1, s2, so = (float(np.float32(t.scale)) for t in (*self.operands, output))
            self.multiplier, self.shift = fixedpoint.quantize_multiplier(s1 / (s2 * so))
            # The dividend's headroom is at least 23 bits (|x - zp| <= 255) and a zero
            # divisor adds one: beyond this shift the total shift turns positive.
            if self.shift > 21:
                self.unsupported(f"output multiplier shift {self.shift}: scales too far apart for TFLM's int8 DIV")
            self.offsets = (-self.operands[0].zero_point, -self.operands[1].zero_point)
            self.output_zero_point = output.zero_point
            self.clamp = fixedpoint.activation_range_quantized(activation, output.scale, output.zero_point)
        else:
            self.unsupported(f"type {self.kind} (TFLM's DIV takes float32, int32 and int8)")

    def eval(self, inputs):
        output = self.op.outputs[0]
        a, b = _elementwise.aligned(inputs, self.operands, [self.is_constant(0), self.is_constant(1)])
        samples = max(a.shape[0], b.shape[0])
        if self.kind == "float32":
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                quotient = a.astype(np.float32) / b.astype(np.float32)
            result = np.minimum(np.maximum(quotient, self.clamp[0]), self.clamp[1]).astype(np.float32)
        elif self.kind == "int32":
            result = self._int32(a.astype(np.int64), b.astype(np.int64))
        else:
            result = self._int8(a, b)
        result = np.broadcast_to(result, (samples, *result.shape[1:]))
        return [np.ascontiguousarray(result).reshape(samples, *output.shape)]

    def _int32(self, a, b):
        if np.any(b == 0):
            raise InputDataError(f"{self.op.describe()}: integer division by zero (TFLM's DIV traps with SIGFPE)")
        if np.any((a == INT32.min) & (b == -1)):
            raise InputDataError(f"{self.op.describe()}: INT32_MIN / -1 overflows (TFLM's DIV traps with SIGFPE)")
        quotient = np.abs(a) // np.abs(b)
        quotient = np.where((a < 0) != (b < 0), -quotient, quotient)
        return np.clip(quotient, *self.clamp).astype(np.int32)

    def _int8(self, a, b):
        dividend = a.astype(np.int64) + self.offsets[0]
        divisor = b.astype(np.int64) + self.offsets[1]
        dividend, divisor = np.broadcast_arrays(dividend, divisor)
        negative = divisor < 0
        dividend = np.where(negative, -dividend, dividend)
        divisor = np.where(negative, -divisor, divisor)
        reciprocal, reciprocal_shift = gemmlowp.get_reciprocal(divisor, 31)
        headroom = count_leading_sign_bits_32(dividend)
        unscaled = fixedpoint.multiply_by_quantized_multiplier_greater_than_one(dividend, reciprocal, headroom)
        total_shift = self.shift - reciprocal_shift - headroom
        high = fixedpoint.saturating_rounding_doubling_high_mul(unscaled, self.multiplier)
        result = rounding_divide_by_pot_any_exponent(high, -total_shift)
        return np.clip(result + self.output_zero_point, *self.clamp).astype(np.int8)


def rounding_divide_by_pot_any_exponent(x, exponent):
    """gemmlowp ``RoundingDivideByPOT`` on int32 for exponents 0..63, as x86-64 runs it.

    Within 0..31 this is the usual round-half-away-from-zero shift. Beyond, the C
    still forms ``mask = (1ll << exponent) - 1`` (a 64-bit shift, truncated to
    int32: all ones) and shifts the int32 right by ``exponent``, which the
    processor takes modulo 32.
    """
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    if np.all((exponent >= 0) & (exponent <= 31)):
        return fixedpoint.rounding_divide_by_pot(x, exponent)
    mask = (((np.int64(1) << (exponent & 63)) - 1 + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> (exponent & 31)) + (remainder > threshold)


def count_leading_sign_bits_32(x):
    """``CountLeadingSignBits`` of int32 values (gcc's __builtin_clrsb; 31 for zero)."""
    x = np.asarray(x, dtype=np.int64)
    magnitude = np.where(x < 0, ~x, x)  # clrsb counts the bits equal to the sign after it
    return gemmlowp.count_leading_zeros_32(magnitude) - 1


KERNEL = Div
