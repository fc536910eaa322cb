"""Padding arithmetic of TFLM's padding.h, shared by the emulator's kernels and the arena estimator."""

from __future__ import annotations


def output_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """``ComputeOutSize``: C integer division on non-negative values."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective) // stride


def padding_before(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """``ComputePadding``: the top/left padding the reference kernels use.

    The C divides a possibly negative numerator with truncation; it is clamped
    at zero afterwards, so flooring gives the same result.
    """
    effective = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + effective - in_size
    return max(total // 2, 0) if total > 0 else 0
