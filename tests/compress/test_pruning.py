"""The PRUNING encoding: layout bit for bit, round trips, zero points, and what TFLM refuses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jsqat_embed.compress import pruning
from jsqat_embed.errors import UnsupportedModelError


def test_layout_of_a_small_tensor_worked_by_hand():
    values = np.array([0, 5, 0, 0, -3, 0, 0, 0, 7, 0], dtype=np.int8)
    encoded = pruning.encode(values, np.array([0]), 0)
    # keep-mask 0100 1000 | 10(000000): MSB first
    assert encoded.bitmask == bytes([0b01001000, 0b10000000])
    assert encoded.ancillary[:16] == bytes([2, 1, 0, 0, 1] + [0] * 11)
    assert encoded.ancillary[16:] == np.array([5, -3, 7], dtype=np.int8).tobytes()
    assert encoded.kept == 3 and encoded.encoded_bytes == 2 + 16 + 3


def test_per_channel_zero_points_on_the_first_and_last_axis():
    values = np.array([[4, 4, 9], [-2, 1, -2]], dtype=np.int8)  # channel 0 zp 4, channel 1 zp -2
    first = pruning.encode(values, np.array([4, -2]), 0)
    assert np.unpackbits(np.frombuffer(first.bitmask, np.uint8))[:6].tolist() == [0, 0, 1, 0, 1, 0]
    last = pruning.encode(values.T.copy(), np.array([4, -2]), 1)
    assert last.kept == 2
    np.testing.assert_array_equal(pruning.decode(last, np.int8, (3, 2), np.array([4, -2]), 1), values.T)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int8, hnp.array_shapes(min_dims=1, max_dims=4, max_side=9)),
       st.floats(min_value=0, max_value=1))
def test_round_trip_any_int8_tensor(values, density):
    rng = np.random.default_rng(0)
    values = np.where(rng.random(values.shape) < density, values, 0).astype(np.int8)
    encoded = pruning.encode(values, np.array([0]), 0)
    np.testing.assert_array_equal(pruning.decode(encoded, np.int8, values.shape, np.array([0]), 0), values)
    assert encoded.kept == int(np.count_nonzero(values))
    assert encoded.encoded_bytes == -(-values.size // 8) + 16 + encoded.kept


def test_float_negative_zero_is_kept():
    values = np.array([0.0, -0.0, 1.5], dtype=np.float32)
    encoded = pruning.encode(values, np.array([0]), 0)
    assert encoded.kept == 2
    np.testing.assert_array_equal(pruning.decode(encoded, np.float32, (3,), np.array([0]), 0).view(np.uint32),
                                  values.view(np.uint32))


@pytest.mark.parametrize("values, zero_points, axis, dtype, message", [
    (np.zeros((2, 3, 4), np.int8), np.zeros(3), 1, "int8", "first or last axis"),
    (np.zeros((2, 3), np.int16), np.array([1]), 0, "int16", "non-zero zero points"),
    (np.zeros((1, 3, 3, 4), np.int8), np.array([0]), 3, "int8", "quantized_dimension 3"),
    (np.zeros((4,), np.uint8), np.array([0]), 0, "uint8", "does not support uint8"),
])
def test_what_tflm_would_reject_is_refused(values, zero_points, axis, dtype, message):
    with pytest.raises(UnsupportedModelError, match=message):
        pruning.check_prunable(values, zero_points, axis, dtype)


def test_entropy_bound_is_below_the_bitmask_ideal_and_exact_for_a_simple_case():
    values = np.array([0, 1, 0, 1, 0, 1, 0, 1], dtype=np.int8)  # mask entropy 1 bit each, one value: 0 bits
    assert pruning.entropy_bound_bytes(values, np.array([0]), 0) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    dense = rng.integers(-127, 128, size=4096).astype(np.int8)
    sparse = np.where(rng.random(4096) < 0.3, dense, 0).astype(np.int8)
    encoded = pruning.encode(sparse, np.array([0]), 0)
    assert pruning.entropy_bound_bytes(sparse, np.array([0]), 0) < pruning.ideal_bytes(4096, encoded.kept, 1)
