"""GreedyMemoryPlanner rules on hand-made buffer sets, with offsets worked out by hand."""

from __future__ import annotations

from jsqat_embed.memory.planner import Buffer, greedy_plan


def _buffers(*specs):
    return [Buffer(label=str(i), size=size, first_used=first, last_used=last, offline_offset=offline)
            for i, (size, first, last, offline) in enumerate(specs)]


def test_disjoint_lifetimes_share_offset_zero():
    buffers = _buffers((64, 0, 1, -1), (48, 2, 3, -1))
    assert greedy_plan(buffers) == 64
    assert [b.offset for b in buffers] == [0, 0]


def test_overlapping_buffers_stack_largest_first():
    # sizes 32, 64, 16 all alive at scope 1: placed 64 @0, 32 @64, 16 @96
    buffers = _buffers((32, 0, 1, -1), (64, 1, 2, -1), (16, 1, 1, -1))
    assert greedy_plan(buffers) == 112
    assert [b.offset for b in buffers] == [64, 0, 96]


def test_a_buffer_takes_the_first_gap_that_is_large_enough():
    # A (64, 0-1) @0; B (48, 2-3) @0 (no overlap with A); C (32, 1-2) overlaps both:
    # the gap below A/B is none, so C goes after the largest end among them: 64.
    buffers = _buffers((64, 0, 1, -1), (48, 2, 3, -1), (32, 1, 2, -1))
    assert greedy_plan(buffers) == 96
    assert [b.offset for b in buffers] == [0, 0, 64]


def test_equal_sizes_place_the_later_buffer_first():
    # TFLM lists online buffers in reverse order before its stable size sort.
    buffers = _buffers((32, 0, 1, -1), (32, 0, 1, -1))
    greedy_plan(buffers)
    assert [b.offset for b in buffers] == [32, 0]


def test_offline_offsets_are_kept_and_online_buffers_avoid_them():
    buffers = _buffers((32, 0, 1, 0), (16, 0, 1, -1))
    assert greedy_plan(buffers) == 48
    assert [b.offset for b in buffers] == [0, 32]


def test_gap_between_two_live_buffers_is_reused():
    # X (16, 0-3) @0 is forced offline at 0, Y (16, 0-3) offline at 48; Z (32, 1-2) fits the gap [16, 48).
    buffers = _buffers((16, 0, 3, 0), (16, 0, 3, 48), (32, 1, 2, -1))
    assert greedy_plan(buffers) == 64
    assert buffers[2].offset == 16
