"""gemmlowp's fixed-point math (fixedpoint/fixedpoint.h), vectorized over int64 arrays.

Values are the raw int32 of ``FixedPoint<int32_t, integer_bits>`` carried in
int64; :func:`wrap` reproduces int32 wrap-around where the C adds plainly
(``FixedPoint`` ``operator+`` on int32 does not saturate). The functions keep
gemmlowp's names so they can be read side by side with the C.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)

wrap = wrap_int32
multiply = saturating_rounding_doubling_high_mul  # FixedPoint operator*


def saturating_rounding_multiply_by_pot(x, exponent: int):
    """``SaturatingRoundingMultiplyByPOT<exponent>``: saturating left shift, or rounding right shift."""
    x = np.asarray(x, dtype=np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    shifted = wrap(x << exponent)
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))


def rescale(x, src_integer_bits: int, dst_integer_bits: int):
    """``Rescale<dst>(FixedPoint<int32, src>)``."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def one(integer_bits: int) -> int:
    """``FixedPoint<int32, integer_bits>::One()``: the largest raw value when 1.0 is not representable."""
    return INT32_MAX if integer_bits == 0 else 1 << (31 - integer_bits)


def rounding_half_sum(a, b):
    """``RoundingHalfSum`` (int32): (a + b + sign) / 2 with C's truncating division."""
    total = np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)
    numerator = total + np.where(total >= 0, 1, -1)
    half = np.abs(numerator) // 2
    return np.where(numerator < 0, -half, half)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    one_third = 715827883
    x = wrap(np.asarray(a, dtype=np.int64) + (1 << 28))
    x2 = multiply(x, x)
    x3 = multiply(x2, x)
    x4 = multiply(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(wrap(multiply(wrap(x4_over_4 + x3), one_third) + x2), -1)
    return wrap(constant_term + multiply(constant_term, wrap(x + poly)))


# (exponent, Q0.31 of exp(-2^exponent)) of gemmlowp's barrel shifter
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits: int):
    """``exp_on_negative_values(FixedPoint<int32, integer_bits>)`` -> Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = wrap((a & (one_quarter - 1)) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where((remainder & bit) != 0, multiply(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))  # -32.0 in this format
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, one(0), result)


def one_over_one_plus_x_for_x_in_0_1(a):
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps."""
    # x approximates 1/half_denominator in Q2.29; halving it (ExactMulByPot<-1>) gives 1/(1+a)
    return rescale(_newton_raphson_half_denominator(a), 1, 0)


def count_leading_zeros_32(x):
    """``CountLeadingZeros`` of uint32 values (32 for zero)."""
    x = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    bits = np.zeros_like(x)
    nonzero = x > 0
    bits[nonzero] = np.floor(np.log2(x[nonzero])).astype(np.int64) + 1
    # log2 of values just below a power of two can round up in float64: correct it
    too_big = nonzero & ((np.int64(1) << np.clip(bits - 1, 0, 62)) > x)
    bits[too_big] -= 1
    return 32 - bits


def get_reciprocal(x, x_integer_digits: int):
    """``GetReciprocal`` (common.h): (Q0.31 reciprocal of x's mantissa, num_bits_over_unit)."""
    x = np.asarray(x, dtype=np.int64)
    headroom_plus_one = count_leading_zeros_32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = wrap(((x & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def _newton_raphson_half_denominator(a):
    """The Newton-Raphson core shared by the two division helpers: x ~ 1 / half_denominator in Q2.29."""
    half_denominator = rounding_half_sum(a, one(0))
    x = wrap(1515870810 + multiply(half_denominator, -1010580540))
    for _ in range(3):
        one_minus_half_denominator_times_x = wrap(one(2) - multiply(half_denominator, x))
        x = wrap(x + rescale(multiply(x, one_minus_half_denominator_times_x), 4, 2))
    return x


def one_minus_x_over_one_plus_x_for_x_in_0_1(a):
    """(1 - a) / (1 + a) for a in (0, 1), Q0.31."""
    return rescale(wrap(_newton_raphson_half_denominator(a) - one(2)), 2, 0)


def logistic(a, integer_bits: int):
    """``gemmlowp::logistic(FixedPoint<int32, integer_bits>)`` -> Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    absolute = np.where(positive, a, wrap(-a))
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap(-absolute), integer_bits))
    if_negative = wrap(one(0) - if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def tanh(a, integer_bits: int):
    """``gemmlowp::tanh(FixedPoint<int32, integer_bits>)`` -> Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    negative = a < 0
    n = np.where(negative, a, wrap(-a))
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap(-t), t))


# -- TFLM's additions on top of gemmlowp (kernels/internal/common.h) ----------------------------


def saturating_rounding_multiply_by_pot_param(x, exponent):
    """``SaturatingRoundingMultiplyByPOTParam`` for exponent >= 0 (may be an array): a left shift
    that saturates to the int32 limits."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    threshold = (np.int64(1) << (31 - exponent)) - 1
    shifted = wrap(x << exponent)
    result = np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))
    return np.where(exponent == 0, x, result)


def saturating_add_non_gemmlowp(a, b):
    """``SaturatingAddNonGemmlowp`` (int32): the sum clamped to the int32 range."""
    return np.clip(np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64), INT32_MIN, INT32_MAX)


def saturating_sub(a, b):
    """``SaturatingSub`` (int32): the difference clamped to the int32 range."""
    return np.clip(np.asarray(a, dtype=np.int64) - np.asarray(b, dtype=np.int64), INT32_MIN, INT32_MAX)


def log_x_for_x_greater_than_or_equal_to_1(x, output_integer_bits: int, input_integer_bits: int):
    """``log_x_for_x_greater_than_or_equal_to_1_impl<Out, In>``: ln(x) for x >= 1, Q(In) in, Q(Out) out.

    The input is normalized to [sqrt(1/2), 1) two ways (r_a, r_b) so the power of
    two lands within a quarter of an integer; the remaining log is a rational
    approximation around sqrt(sqrt(1/2)). Accumulates with one extra integer bit.
    """
    accum_bits = output_integer_bits + 1
    log_2, sqrt_sqrt_half, sqrt_half, one_quarter = 1488522236, 1805811301, 1518500250, 536870912
    alpha_n, alpha_d, alpha_i, alpha_f = 117049297, 127690142, 1057819769, 638450708
    shifted_quarter = rescale(one_quarter, 0, accum_bits)

    z_a = np.asarray(x, dtype=np.int64)
    z_a_headroom_plus_1 = count_leading_zeros_32(z_a)
    r_a_tmp = saturating_rounding_multiply_by_pot_param(z_a, z_a_headroom_plus_1 - 1)
    r_a_raw = saturating_rounding_multiply_by_pot_param(multiply(r_a_tmp, sqrt_half), 1)
    z_a_pow_2_adj = saturating_add_non_gemmlowp(
        saturating_rounding_multiply_by_pot_param(input_integer_bits - z_a_headroom_plus_1, 31 - accum_bits),
        shifted_quarter)

    z_b = multiply(z_a, sqrt_half)
    z_b_headroom = count_leading_zeros_32(z_b) - 1
    r_b_raw = saturating_rounding_multiply_by_pot_param(z_a, z_b_headroom)
    z_b_pow_2_adj = saturating_sub(
        saturating_rounding_multiply_by_pot_param(input_integer_bits - z_b_headroom, 31 - accum_bits),
        shifted_quarter)

    r = np.minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)

    p = rounding_half_sum(r, sqrt_sqrt_half)
    q = wrap(r - sqrt_sqrt_half)
    q = wrap(q + q)
    common_sq = multiply(q, q)
    num = wrap(multiply(q, r) + multiply(multiply(q, common_sq), alpha_n))
    denom_minus_one_0 = wrap(multiply(p, wrap(wrap(alpha_i + q) + multiply(alpha_d, common_sq))) + multiply(alpha_f, q))
    recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one_0)
    num_scaled = rescale(num, 0, accum_bits)
    return rescale(wrap(multiply(z_pow_2_adj, log_2) + multiply(num_scaled, recip_denom)), accum_bits,
                   output_integer_bits)
