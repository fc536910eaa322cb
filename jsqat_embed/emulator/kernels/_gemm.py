"""Exact integer products through floating-point BLAS, and the requantization step
shared by CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV (int8, and
16x8: int16 activations, int8 weights).

Why floating point: numpy's integer matmul does not use BLAS and is an order of
magnitude slower. A float product of integers is exact as long as every partial
sum stays below 2^mantissa (2^24 for float32, 2^53 for float64), whatever order
BLAS adds in. We bound |sum| by K * max|a| * max|b| per layer and pick float32
only when that bound is below 2^24; otherwise float64 (exact up to K ~ 2^38 for
int8 operands, far beyond any model).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint

FLOAT32_EXACT = 1 << 24
FLOAT64_EXACT = 1 << 53
#: working-set budget of one im2col chunk
CHUNK_BYTES = 64 << 20


def exact_dtype(depth: int, max_abs_a: int, max_abs_b: int) -> np.dtype:
    """float32 if every partial sum of a depth-``depth`` dot product is exact in it, else float64."""
    bound = depth * max_abs_a * max_abs_b
    if bound < FLOAT32_EXACT:
        return np.dtype(np.float32)
    if bound < FLOAT64_EXACT:
        return np.dtype(np.float64)
    raise ValueError(f"dot products of depth {depth} cannot be computed exactly")


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float, channels: int):
    """The (multiplier, shift) arrays of ``PopulateConvolutionQuantizationParams``.

    effective = double(input_scale) * double(filter_scale) / double(output_scale),
    evaluated left to right in double as the C does; a single filter scale is
    broadcast over the channels.
    """
    multipliers = np.empty(channels, dtype=np.int64)
    shifts = np.empty(channels, dtype=np.int64)
    scales = filter_scales if filter_scales.size > 1 else np.repeat(filter_scales, channels)
    for channel in range(channels):
        effective = float(np.float32(input_scale)) * float(np.float32(scales[channel])) / float(np.float32(output_scale))
        multipliers[channel], shifts[channel] = fixedpoint.quantize_multiplier(effective)
    fixedpoint.require_defined_left_shift(shifts)  # refused at load rather than at the first inference
    return multipliers, shifts


def requantize(accumulator: np.ndarray, multipliers, shifts, output_zero_point: int, activation_min: int,
               activation_max: int, dtype: str = "int8", int64_accumulator: bool = False) -> np.ndarray:
    """Accumulators (channels last) -> output type, as the reference kernels finish.

    int32 accumulators go through ``MultiplyByQuantizedMultiplier(int32_t ...)``;
    the 16x8 kernels' int64 accumulators (``int64_accumulator``) through its int64
    overload, which rounds differently.
    """
    if int64_accumulator:
        scaled = fixedpoint.multiply_by_quantized_multiplier_int64(accumulator, multipliers, shifts)
    else:
        scaled = fixedpoint.multiply_by_quantized_multiplier(accumulator, multipliers, shifts)
    return np.clip(scaled + output_zero_point, activation_min, activation_max).astype(dtype)


def int16_accumulator_is_int64(kernel, bias_index: int = 2) -> bool:
    """Which accumulator a 16x8 CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV uses in TFLM.

    int32 when the bias is int32, or when there is no bias and the options'
    ``quantized_bias_type`` says INT32 (``requires_int32_accum`` in conv.cc and
    fully_connected.cc); int64 otherwise.
    """
    bias = kernel.tensor(bias_index)
    if bias is not None:
        if bias.dtype not in ("int32", "int64"):
            kernel.unsupported(f"bias type {bias.dtype} with int16 input (TFLM: \"Bias type not supported\")", bias)
        return bias.dtype == "int64"
    return kernel.op.options.get("quantized_bias_type", "FLOAT32") != "INT32"


def rows_per_chunk(row_bytes: int) -> int:
    return max(1, CHUNK_BYTES // max(1, row_bytes))
