"""TFLM's fixed-point arithmetic, vectorized over numpy int64 arrays.

Each function carries the name of the C function it mirrors (gemmlowp's
``fixedpoint.h`` and TFLM's ``kernels/internal/common.h`` /
``quantization_util.cc``) and reproduces TFLM's default build: the
*double-rounding* path (``TFLITE_SINGLE_ROUNDING`` off).

Where C and Python differ:
- C integer division truncates toward zero; Python's ``//`` floors. We divide
  magnitudes and restore the sign.
- C ``>>`` on a negative int32 is an arithmetic shift (what every compiler TFLM
  supports does); numpy's ``>>`` on signed ints is too.
- int32 overflow in C wraps in practice; :func:`wrap_int32` makes that explicit
  where TFLM relies on it.

Values are carried in int64 arrays so intermediate products never overflow; the
results are range-checked where C would saturate.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def wrap_int32(x):
    """Two's-complement wrap to int32, as C's int32 arithmetic does in practice."""
    x = np.asarray(x, dtype=np.int64)
    if x.size == 0 or (x.min() >= INT32_MIN and x.max() <= INT32_MAX):
        return x  # nothing overflowed: skip two full-array casts
    # numpy's int64 -> int32 cast keeps the low 32 bits, like a C cast.
    return x.astype(np.int32).astype(np.int64)


def tflite_round(x: float) -> float:
    """``TfLiteRound``: std::round, half away from zero (Python's round() is half-even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def round_half_away_from_zero(x):
    """``std::round`` element-wise, exactly (floor(|x| + 0.5) is off by one just below 0.5)."""
    x = np.asarray(x, dtype=np.float64)
    whole = np.trunc(x)
    return whole + np.where(np.abs(x - whole) >= 0.5, np.sign(x), 0.0)


def quantize_multiplier(double_multiplier: float) -> tuple[int, int]:
    """``QuantizeMultiplier`` (quantization_util.cc): double -> (int32 multiplier, shift)."""
    if double_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(double_multiplier)
    q_fixed = int(tflite_round(q * (1 << 31)))
    if q_fixed > (1 << 31):
        raise ValueError(f"multiplier {double_multiplier} cannot be quantized")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def quantize_multiplier_greater_than_one(double_multiplier: float) -> tuple[int, int]:
    """``QuantizeMultiplierGreaterThanOne``."""
    if not double_multiplier > 1.0:
        raise ValueError(f"multiplier {double_multiplier} must be > 1")
    return quantize_multiplier(double_multiplier)


def quantize_multiplier_smaller_than_one_exp(double_multiplier: float) -> tuple[int, int]:
    """``QuantizeMultiplierSmallerThanOneExp``: returns (multiplier, left_shift <= 0)."""
    if not 0.0 < double_multiplier < 1.0:
        raise ValueError(f"multiplier {double_multiplier} must be in (0, 1)")
    multiplier, shift = quantize_multiplier(double_multiplier)
    if shift > 0:
        raise ValueError(f"multiplier {double_multiplier} gave positive shift {shift}")
    return multiplier, shift


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` for int32 a, b (broadcasting).

    gemmlowp adds a nudge of 2^30 (or 1 - 2^30 when a*b < 0) and divides by
    2^31 truncating toward zero; for both signs that equals the floor of
    (a*b + 2^30) / 2^31, which is one add and an arithmetic shift here.
    The only overflow, INT32_MIN * INT32_MIN, saturates to INT32_MAX.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    result = a * b
    result += 1 << 30
    result >>= 31
    # Check the (usually small) multiplier side first: the overflow needs both.
    small, large = (a, b) if a.size <= b.size else (b, a)
    if np.any(small == INT32_MIN) and np.any(large == INT32_MIN):
        result = np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, result)
    return result


def rounding_divide_by_pot(x, exponent):
    """gemmlowp ``RoundingDivideByPOT``: round-half-away-from-zero division by 2^exponent.

    gemmlowp adds one when the remainder exceeds half the divisor (half minus
    one for negative x); that is the floor of (x + half - [x < 0]) / 2^exponent
    for exponent >= 1, and x itself for exponent 0.
    """
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    half = (np.int64(1) << exponent) >> 1
    if np.all(exponent > 0):
        result = x >> 63  # -1 where x < 0, else 0
        result += x
        result += half
        result >>= exponent
        return result
    return (x + half - ((x < 0) & (exponent > 0))) >> exponent


def multiply_by_quantized_multiplier(x, quantized_multiplier, shift):
    """``MultiplyByQuantizedMultiplier(int32_t x, ...)``, double-rounding path (common.cc).

    ``quantized_multiplier`` and ``shift`` may be arrays broadcasting against x
    (per-channel). The left shift happens in int32 and wraps like C does.
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left_shift = np.maximum(shift, 0)
    right_shift = np.maximum(-shift, 0)
    shifted = wrap_int32(x * (np.int64(1) << left_shift)) if np.any(left_shift > 0) else wrap_int32(x)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, quantized_multiplier), right_shift)


def multiply_by_quantized_multiplier_smaller_than_one_exp(x, quantized_multiplier, left_shift):
    """``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (double rounding)."""
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, quantized_multiplier), -np.asarray(left_shift))


def multiply_by_quantized_multiplier_greater_than_one(x, quantized_multiplier, left_shift):
    """``MultiplyByQuantizedMultiplierGreaterThanOne`` (double rounding)."""
    x = np.asarray(x, dtype=np.int64)
    shifted = wrap_int32(x * (np.int64(1) << np.asarray(left_shift, dtype=np.int64)))
    return saturating_rounding_doubling_high_mul(shifted, quantized_multiplier)


def saturating_left_shift(x, exponent):
    """gemmlowp ``SaturatingLeftShift`` / ``ShiftLeft`` on int32 with saturation."""
    x = np.asarray(x, dtype=np.int64) << np.asarray(exponent, dtype=np.int64)
    return np.clip(x, INT32_MIN, INT32_MAX)


def activation_range_quantized(activation: str, scale: float, zero_point: int, dtype: str = "int8") -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` (kernel_util.cc): fused activation -> [qmin, qmax]."""
    info = np.iinfo(dtype)
    qmin, qmax = int(info.min), int(info.max)

    def quantize(value: float) -> int:
        # float32 division, as the C does (scale is a float, f a float)
        return zero_point + int(tflite_round(float(np.float32(value) / np.float32(scale))))

    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    if activation == "NONE":
        return qmin, qmax
    raise ValueError(f"fused activation {activation} is not supported for quantized kernels")
