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
    if exponent.ndim == 0 and exponent == 0:
        return x.copy()  # division by 1 (a fresh array, as on the other paths)
    half = (np.int64(1) << exponent) >> 1
    if np.all(exponent > 0):
        result = x >> 63  # -1 where x < 0, else 0
        result += x
        result += half
        result >>= exponent
        return result
    return (x + half - ((x < 0) & (exponent > 0))) >> exponent


#: The largest left shift ``1 << shift`` has one meaning on every target: the C shifts an int, so
#: 32 and more is undefined (x86 masks the count to 5 bits, Arm shifts everything out).
MAX_LEFT_SHIFT = 31


class UndefinedInTFLM(ValueError):
    """TFLM's C is undefined for these operands (its result differs between targets): the model is refused."""


def require_defined_left_shift(shift) -> None:
    """Raise :class:`UndefinedInTFLM` when ``MultiplyByQuantizedMultiplier`` would shift left by 32 or more: an
    effective scale of 2^31 or more (e.g. an output scale of 1e-30), for which TFLM's result is
    undefined behaviour in C and differs between targets; such a model is refused, not guessed."""
    largest = int(np.max(shift, initial=0))
    if largest > MAX_LEFT_SHIFT:
        raise UndefinedInTFLM(f"effective scale needs a left shift of {largest} (> {MAX_LEFT_SHIFT}) in "
                         f"MultiplyByQuantizedMultiplier, undefined in TFLM's C (degenerate quantization scales)")


def multiply_by_quantized_multiplier(x, quantized_multiplier, shift):
    """``MultiplyByQuantizedMultiplier(int32_t x, ...)``, double-rounding path (common.cc).

    ``quantized_multiplier`` and ``shift`` may be arrays broadcasting against x
    (per-channel). The left shift happens in int32 and wraps like C does; a shift
    beyond :data:`MAX_LEFT_SHIFT` is refused (:func:`require_defined_left_shift`).
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    require_defined_left_shift(shift)
    left_shift = np.maximum(shift, 0)
    right_shift = np.maximum(-shift, 0)
    shifted = wrap_int32(x * (np.int64(1) << left_shift)) if np.any(left_shift > 0) else wrap_int32(x)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, quantized_multiplier), right_shift)


def multiply_by_quantized_multiplier_int64(x, quantized_multiplier, shift):
    """``MultiplyByQuantizedMultiplier(int64_t x, int32_t, int)`` (common.cc, double-rounding build).

    The overload the 16x8 kernels call on int64 accumulators: the multiplier is
    first rounded to 16 bits (``(m + 2^15) >> 16``, or 0x7FFF from 0x7FFF0000 up),
    then one rounding shift by ``15 - shift`` with the half added (round half up,
    toward +infinity, as the C's add-then-arithmetic-shift does). The C truncates
    the int64 result to int32; so does this.
    """
    x = np.asarray(x, dtype=np.int64)
    quantized_multiplier = np.asarray(quantized_multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    reduced = np.where(quantized_multiplier < 0x7FFF0000, (quantized_multiplier + (1 << 15)) >> 16, 0x7FFF)
    total_shift = 15 - shift
    if np.any(total_shift < 1):  # the C shifts by total_shift - 1: a negative count is undefined
        raise UndefinedInTFLM(f"effective scale needs a shift of {int(np.max(shift))} (> 14) in the int64 "
                              f"MultiplyByQuantizedMultiplier, undefined in TFLM's C (degenerate quantization scales)")
    result = x * reduced  # |x| < 2^47 by the C's contract: no int64 overflow
    result += np.int64(1) << (total_shift - 1)
    result >>= total_shift
    return wrap_int32(result)


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


def _sigmoid_table_uint16() -> np.ndarray:
    """TFLM's ``sigmoid_table_uint16`` (kernels/internal/common.h), computed rather than copied: sigmoid on
    [0, 10.67) in 256 steps of 1/24, in Q0.16, each entry raised by half the error that linear interpolation
    makes at the middle of its step, rounded to nearest; the last entry saturates at 65535. Equal entry for
    entry to TFLM's table (the LSTM and int16 LOGISTIC/TANH tests check every int16 input against TFLM)."""
    steps = np.arange(257, dtype=np.float64) / 24.0
    values = 65536.0 / (1.0 + np.exp(-steps))
    middle = 65536.0 / (1.0 + np.exp(-(steps[:-1] + 1.0 / 48.0)))
    corrected = values[:-1] + (middle - (values[:-1] + values[1:]) / 2.0) / 2.0
    table = np.floor(corrected + 0.5).astype(np.int64)
    table[-1] = 65535
    return table


SIGMOID_TABLE_UINT16 = _sigmoid_table_uint16()


def _int16_lut_input(values, input_multiplier: int, input_left_shift: int):
    """The rescaling both int16 LUT functions start with; multiplier 0 means a power-of-two scale (x3 << shift)."""
    if input_multiplier == 0:
        input_multiplier, input_left_shift = 3 << input_left_shift, 0
    rounding = (1 << (input_left_shift - 1)) if input_left_shift > 0 else 0
    # int32 arithmetic; the arithmetic right shift floors, like C's >> on a negative int32
    return (np.asarray(values, dtype=np.int64) * input_multiplier + rounding) >> input_left_shift


def logistic_int16(values, input_multiplier: int, input_left_shift: int):
    """``reference_integer_ops::Logistic`` for int16 (integer_ops/logistic.h): Q3.12-ish in, Q0.15 out.

    Table interpolation on |x| with 9 fractional bits, mirrored for x < 0 as
    1 - sigmoid(|x|); the final ``>> 10`` truncates (values are non-negative).
    """
    x = _int16_lut_input(values, input_multiplier, input_left_shift)
    magnitude = np.abs(x)
    index = magnitude >> 9
    saturated = index >= 255
    safe = np.minimum(index, 254)
    low, high = SIGMOID_TABLE_UINT16[safe], SIGMOID_TABLE_UINT16[safe + 1]
    result = np.where(saturated, 0x7FFF << 10, (low << 9) + (magnitude & 0x1FF) * (high - low))
    result = np.where(x >= 0, result + (1 << 9), (1 << (16 + 9)) - result + (1 << 9) - 1)
    return (result >> 10).astype(np.int16)


def tanh_int16(values, input_multiplier: int, input_left_shift: int):
    """``reference_integer_ops::Tanh`` for int16 (integer_ops/tanh.h): tanh(x) = 2 sigmoid(2x) - 1 from the same table.

    8 fractional bits of interpolation; the final ``>> 8`` is an arithmetic shift
    of a possibly negative int32 (floor).
    """
    x = _int16_lut_input(values, input_multiplier, input_left_shift)
    magnitude = np.abs(x)
    index = magnitude >> 8
    saturated = index >= 255
    safe = np.minimum(index, 254)
    low, high = SIGMOID_TABLE_UINT16[safe], SIGMOID_TABLE_UINT16[safe + 1]
    result = np.where(saturated, 0xFFFF << 8, (low << 8) + (magnitude & 0xFF) * (high - low))
    result = np.where(x >= 0, result - (1 << (14 + 9)) + (1 << (9 - 2)), -result + (1 << (14 + 9)) + (1 << (9 - 2)) - 1)
    return (result >> (9 - 1)).astype(np.int16)
