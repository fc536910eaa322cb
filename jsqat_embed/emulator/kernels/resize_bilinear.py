"""RESIZE_BILINEAR: TFLM's ``reference_ops::ResizeBilinearInteger`` (int8) and
``reference_ops::ResizeBilinear<float>`` (float32); TFLM's Eval takes no other type.

int8 works in 10-bit fixed point: source coordinates are ``y * scale_10`` (plus
``scale_10 / 2 - 512`` with half-pixel centers), the four neighbours are weighted
by products of 10-bit fractions (a 20-bit sum in int64), and the sum is rounded
half away from zero and divided by 2^20 with C's truncating division (TFLM's
default build: ``TFLITE_SINGLE_ROUNDING`` off). No float is involved and the
result is cast, not clamped. Fractions may be negative at the image's top/left
edge with half-pixel centers, exactly as in C. float32 repeats the C
expression's float32 operations in the same order.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import constant_ints, require_types, sampled

TYPES = ("float32", "int8")
ONE_10 = 1 << 10


def _c_div(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """C's integer division (truncation toward zero) for a positive denominator."""
    magnitude = np.abs(numerator) // denominator
    return np.where(numerator < 0, -magnitude, magnitude)


def interpolation_values_integer(size_out: int, scale_10: int, half_pixel_centers: bool, size_in: int):
    """``ComputeInterpolationValuesInteger`` for every output coordinate: (scaled, lower, upper)."""
    value = np.arange(size_out, dtype=np.int64)
    scaled = value * scale_10 + (scale_10 // 2 - (1 << 9) if half_pixel_centers else 0)
    lower = np.maximum(_c_div(scaled, ONE_10), 0)
    upper = np.minimum(_c_div(scaled + ONE_10 - 1, ONE_10), size_in - 1)
    return scaled, lower, upper


def interpolation_values_float(size_out: int, scale: np.float32, half_pixel_centers: bool, size_in: int):
    """``ComputeInterpolationValues`` in float32 for every output coordinate: (scaled, lower, upper)."""
    value = np.arange(size_out).astype(np.float32)
    if half_pixel_centers:
        scaled = (value + np.float32(0.5)) * scale - np.float32(0.5)
    else:
        scaled = value * scale
    lower = np.maximum(np.floor(scaled).astype(np.int64), 0)
    upper = np.minimum(np.ceil(scaled).astype(np.int64), size_in - 1)
    return scaled.astype(np.float32), lower, upper


class ResizeBilinear(Kernel):

    def prepare(self) -> None:
        source, size, output = self.op.input(0), self.op.input(1), self.op.outputs[0]
        require_types(self, source, TYPES, "input")
        if len(source.shape) != 4:
            self.unsupported(f"input rank {len(source.shape)} (TFLM requires 4)", source)
        if size is None or len(size.shape) != 1:
            self.unsupported("the size input must be a 1-D int32 tensor", size)
        out_h, out_w = constant_ints(self, 1)  # TFLM: "Non-constant >size< tensor is not supported"
        self.align_corners = bool(self.op.options.get("align_corners", False))
        self.half_pixel_centers = bool(self.op.options.get("half_pixel_centers", False))
        if self.align_corners and self.half_pixel_centers:
            self.unsupported("If half_pixel_centers is True, align_corners must be False.")
        batch, in_h, in_w, depth = source.shape
        if tuple(output.shape) != (batch, out_h, out_w, depth):
            self.unsupported(f"output shape {list(output.shape)} is not {[batch, out_h, out_w, depth]}", output)
        if min(out_h, out_w) < 1:
            self.unsupported(f"output size {[out_h, out_w]}")
        if source.dtype == "float32":
            self._prepare_float(in_h, in_w, out_h, out_w)
        else:
            self._prepare_integer(in_h, in_w, out_h, out_w)
        for name, indices, limit in (("row", (self.y0, self.y1), in_h), ("column", (self.x0, self.x1), in_w)):
            if any(i.min() < 0 or i.max() >= limit for i in indices):
                self.unsupported(f"a source {name} falls outside the input (TFLM would read past it)")

    def _scale_10(self, size_in: int, size_out: int) -> int:
        if self.align_corners and size_out > 1:
            return (ONE_10 * (size_in - 1) + (size_out - 1) // 2) // (size_out - 1)
        return (ONE_10 * size_in + size_out // 2) // size_out

    def _prepare_integer(self, in_h: int, in_w: int, out_h: int, out_w: int) -> None:
        input_y, self.y0, self.y1 = interpolation_values_integer(
            out_h, self._scale_10(in_h, out_h), self.half_pixel_centers, in_h)
        input_x, self.x0, self.x1 = interpolation_values_integer(
            out_w, self._scale_10(in_w, out_w), self.half_pixel_centers, in_w)
        # 10-bit fractions of the upper/right neighbour; the lower/left one gets 1024 minus it.
        fy = input_y - ONE_10 * self.y0
        fx = input_x - ONE_10 * self.x0
        self.row_weights = ((ONE_10 - fy)[:, None, None], fy[:, None, None])  # (out_h, 1, 1)
        self.column_weights = ((ONE_10 - fx)[:, None], fx[:, None])  # (out_w, 1)

    def _scale_float(self, size_in: int, size_out: int) -> np.float32:
        if self.align_corners and size_out > 1:
            return np.float32(size_in - 1) / np.float32(size_out - 1)
        return np.float32(size_in) / np.float32(size_out)

    def _prepare_float(self, in_h: int, in_w: int, out_h: int, out_w: int) -> None:
        input_y, self.y0, self.y1 = interpolation_values_float(
            out_h, self._scale_float(in_h, out_h), self.half_pixel_centers, in_h)
        input_x, self.x0, self.x1 = interpolation_values_float(
            out_w, self._scale_float(in_w, out_w), self.half_pixel_centers, in_w)
        one = np.float32(1)
        fy = input_y - self.y0.astype(np.float32)  # (input_y - y0): float minus int, in float
        fx = input_x - self.x0.astype(np.float32)
        self.fractions = ((one - fy)[:, None, None], fy[:, None, None]), ((one - fx)[None, :, None], fx[None, :, None])

    def _neighbours(self, x: np.ndarray) -> dict:
        rows = (x[:, :, self.y0], x[:, :, self.y1])
        columns = (self.x0, self.x1)
        return {(r, c): rows[r][:, :, :, columns[c]] for r in (0, 1) for c in (0, 1)}

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        if x.dtype == np.float32:
            return [self._eval_float(x)]
        # C sums four int64 products v * wy * wx; integer sums are exact in any order, so
        # interpolate the columns of every input row first, then the rows (the same sum, fewer products).
        wide = x.astype(np.int64)
        (wx0, wx1), (wy0, wy1) = self.column_weights, self.row_weights
        columns = wide[:, :, :, self.x0] * wx0 + wide[:, :, :, self.x1] * wx1
        output_20 = columns[:, :, self.y0] * wy0 + columns[:, :, self.y1] * wy1
        rounding = np.where(output_20 > 0, 1 << 19, -(1 << 19))
        interpolated = _c_div(output_20 + rounding, 1 << 20)
        return [interpolated.astype(x.dtype)]  # static_cast<T>: wraps, no clamp

    def _eval_float(self, x: np.ndarray) -> np.ndarray:
        near = self._neighbours(x)
        (wy0, wy1), (wx0, wx1) = self.fractions
        total = near[0, 0] * wy0 * wx0
        total = total + near[1, 0] * wy1 * wx0
        total = total + near[0, 1] * wy0 * wx1
        total = total + near[1, 1] * wy1 * wx1
        return (total + np.float32(0.0)).astype(np.float32)  # + rounding_offset (0 for float)


KERNEL = ResizeBilinear
