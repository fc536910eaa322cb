"""Fixed-point primitives against slow, literal big-integer transcriptions of gemmlowp.

The references below follow gemmlowp's C code step by step (nudge, truncating
division, mask/remainder/threshold) on Python ints; the vectorized versions in
the emulator use shorter equivalent forms, so this is where they must agree.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jsqat_embed.emulator import fixedpoint

INT32 = st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1)


def c_trunc_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def reference_srdhm(a: int, b: int) -> int:
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_trunc_div(ab + nudge, 1 << 31)


def reference_rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def reference_mbqm(x: int, multiplier: int, shift: int) -> int:
    left = max(shift, 0)
    right = max(-shift, 0)
    shifted = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap, as C
    return reference_rounding_divide_by_pot(reference_srdhm(shifted, multiplier), right)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(INT32, INT32), min_size=1, max_size=40))
def test_saturating_rounding_doubling_high_mul(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    got = fixedpoint.saturating_rounding_doubling_high_mul(a, b)
    assert got.tolist() == [reference_srdhm(x, y) for x, y in pairs]


def test_srdhm_saturates_at_the_single_overflow():
    got = fixedpoint.saturating_rounding_doubling_high_mul(np.array([-(1 << 31), 5]), np.array([-(1 << 31), -(1 << 31)]))
    assert got.tolist() == [reference_srdhm(-(1 << 31), -(1 << 31)), reference_srdhm(5, -(1 << 31))]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(INT32, st.integers(min_value=0, max_value=31)), min_size=1, max_size=40))
def test_rounding_divide_by_pot(pairs):
    x = np.array([p[0] for p in pairs], dtype=np.int64)
    exponent = np.array([p[1] for p in pairs], dtype=np.int64)
    got = fixedpoint.rounding_divide_by_pot(x, exponent)
    assert got.tolist() == [reference_rounding_divide_by_pot(v, e) for v, e in pairs]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(INT32, st.integers(min_value=0, max_value=(1 << 31) - 1),
                          st.integers(min_value=-31, max_value=10)), min_size=1, max_size=40))
def test_multiply_by_quantized_multiplier(triples):
    x = np.array([t[0] for t in triples], dtype=np.int64)
    multiplier = np.array([t[1] for t in triples], dtype=np.int64)
    shift = np.array([t[2] for t in triples], dtype=np.int64)
    got = fixedpoint.multiply_by_quantized_multiplier(x, multiplier, shift)
    assert got.tolist() == [reference_mbqm(*t) for t in triples]


@given(st.lists(st.integers(min_value=-(1 << 40), max_value=1 << 40), min_size=1, max_size=20))
def test_wrap_int32_is_twos_complement(values):
    got = fixedpoint.wrap_int32(np.array(values, dtype=np.int64))
    assert got.tolist() == [((v + (1 << 31)) % (1 << 32)) - (1 << 31) for v in values]
