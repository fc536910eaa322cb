"""Unary int8/int16 kernels as tables, and TFLM's int16 interpolating LUTs.

For an element-wise op the output depends only on the input value, so
prepare() runs the kernel's exact integer arithmetic once on every value of
the input type (256 for int8, 65536 for int16) and eval() is a table lookup:
the same bytes as the C loop, at memory speed.

``lut_populate_int16`` / ``lut_lookup_int16`` mirror ``LUTPopulate<int16_t>``
and ``LUTLookup(int16_t, ...)`` (kernels/internal/common.h): a 513-entry table
sampled in Prepare with float32 math, read with 7-bit linear interpolation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
#: ``LUTSize<int16_t>()``: 512 interpolation intervals plus the end point
INT16_LUT_SIZE = 513


def all_values(dtype: str) -> np.ndarray:
    """Every value of an integer type, ascending, as int64."""
    info = np.iinfo(dtype)
    return np.arange(int(info.min), int(info.max) + 1, dtype=np.int64)


class LookupKernel(Kernel):
    """An element-wise op whose input and output share one type, int8 or int16."""

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        self.require_quantized(source)
        self.require_quantized(output)
        if source.dtype not in ("int8", "int16") or output.dtype != source.dtype:
            self.unsupported(f"{source.dtype} input with {output.dtype} output (int8 or int16, the same type)", output)
        self.dtype = source.dtype
        self.prepare_function(source, output)
        values = all_values(self.dtype)
        info = np.iinfo(self.dtype)
        self.table = np.clip(self.function(values), info.min, info.max).astype(self.dtype)
        self.table_offset = -int(info.min)

    def prepare_function(self, source, output) -> None:
        """Precompute the op's parameters (TFLM's Prepare)."""

    def function(self, values: np.ndarray) -> np.ndarray:
        """The op's integer arithmetic on int64 values of ``self.dtype``; returns unclamped int64 results."""
        raise NotImplementedError

    def eval(self, inputs):
        return [self.table[inputs[0].astype(np.int32) + self.table_offset]]


def lut_populate_int16(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                       transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``detail::LUTPopulateInt16<float>``: 513 int16 samples of ``transform`` over the input range.

    Every step is a float32 operation as in the C (numpy float32 arithmetic is
    IEEE single precision, round to nearest); ``transform`` maps float32 arrays
    to float32 arrays. Each sample is biased by half the error of linear
    interpolation at the interval's midpoint.
    """
    f32 = np.float32
    input_scale, output_scale = f32(input_scale), f32(output_scale)
    input_min = input_scale * f32(INT16_MIN - input_zero_point)
    input_max = input_scale * f32(INT16_MAX - input_zero_point)
    output_min = output_scale * f32(INT16_MIN - output_zero_point)
    output_max = output_scale * f32(INT16_MAX - output_zero_point)
    steps = INT16_LUT_SIZE - 1
    step = (input_max - input_min) / f32(steps)
    half_step = step / f32(2)
    output_scaling_inv = f32(INT16_MAX - INT16_MIN + 1) / (output_max - output_min)
    index = np.arange(steps, dtype=np.float32)
    start = input_min + index * step
    value = transform(start)
    value_midpoint = transform(start + half_step)
    value_next = transform(input_min + (index + f32(1)) * step)

    def round_f32(x):  # TfLiteRound on float: roundf
        return fixedpoint.round_half_away_from_zero(x).astype(np.float32)

    sample = round_f32(value * output_scaling_inv)
    midpoint_interpolated = round_f32((value_next * output_scaling_inv + sample) / f32(2))
    midpoint = round_f32(value_midpoint * output_scaling_inv)
    bias = round_f32((midpoint_interpolated - midpoint) / f32(2))
    lut = np.empty(INT16_LUT_SIZE, dtype=np.int64)
    lut[:steps] = np.clip(sample - bias, INT16_MIN, INT16_MAX).astype(np.int64)
    last = round_f32(transform(np.array([input_max], dtype=np.float32)) * output_scaling_inv)
    lut[steps] = int(np.clip(last, INT16_MIN, INT16_MAX)[0])
    return lut


def lut_lookup_int16(values, lut: np.ndarray) -> np.ndarray:
    """``LUTLookup(int16_t, const int16_t*)``: the upper 9 bits pick an interval, the lower 7 interpolate."""
    values = np.asarray(values, dtype=np.int64)
    index = 256 + (values >> 7)
    offset = values & 0x7F
    base = lut[index]
    slope = lut[index + 1] - base
    delta = (slope * offset + 64) >> 7
    return ((base + delta + (1 << 15)) & 0xFFFF) - (1 << 15)  # static_cast<int16_t>


def expf(x: np.ndarray) -> np.ndarray:
    """``std::exp(float)``: computed in double, rounded once to float32.

    glibc's expf is correctly rounded but for rare near-midpoint inputs; on the
    fixed inputs of TFLM's softmax tables the two agree (checked: both 513-entry
    int16 tables equal those of TFLM's LUTPopulate built with g++ on x86-64)."""
    return np.exp(np.asarray(x, dtype=np.float64)).astype(np.float32)
