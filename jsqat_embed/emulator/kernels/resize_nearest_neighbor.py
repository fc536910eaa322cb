"""RESIZE_NEAREST_NEIGHBOR: TFLM's ``reference_ops::ResizeNearestNeighbor`` (int8, int16,
and float32 copied as 32-bit words).

Each output row and column takes one source index from ``GetNearestNeighbor``,
computed in float32 as C does: ``(index + offset) * scale`` with ``offset`` 0.5
for half-pixel centers, rounded half away from zero (``TfLiteRound``) with
align_corners, else floored, then clamped to the input.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.fixedpoint import round_half_away_from_zero
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import constant_ints, require_types, sampled

TYPES = ("float32", "int8", "int16")


def nearest_neighbors(size_in: int, size_out: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """``GetNearestNeighbor`` for every output coordinate (float32 arithmetic, as in C)."""
    if align_corners and size_out > 1:
        scale = np.float32(size_in - 1) / np.float32(size_out - 1)
    else:
        scale = np.float32(size_in) / np.float32(size_out)
    offset = np.float32(0.5 if half_pixel_centers else 0.0)
    position = (np.arange(size_out).astype(np.float32) + offset) * scale
    if align_corners:
        index = round_half_away_from_zero(position).astype(np.int64)  # exact: float32 -> float64 loses nothing
    else:
        index = np.floor(position).astype(np.int64)
    index = np.minimum(index, size_in - 1)
    if half_pixel_centers:
        index = np.maximum(index, 0)
    return index


class ResizeNearestNeighbor(Kernel):

    def prepare(self) -> None:
        source, size, output = self.op.input(0), self.op.input(1), self.op.outputs[0]
        require_types(self, source, TYPES, "input")
        if len(source.shape) != 4:
            self.unsupported(f"input rank {len(source.shape)} (TFLM requires 4)", source)
        if size is None or tuple(size.shape) != (2,):
            self.unsupported("the size input must be a 1-D int32 tensor of 2 elements", size)
        out_h, out_w = constant_ints(self, 1)  # TFLM: "Non-constant >size< tensor is not supported"
        batch, in_h, in_w, depth = source.shape
        if tuple(output.shape) != (batch, out_h, out_w, depth):
            self.unsupported(f"output shape {list(output.shape)} is not {[batch, out_h, out_w, depth]}", output)
        align = bool(self.op.options.get("align_corners", False))
        half = bool(self.op.options.get("half_pixel_centers", False))
        self.rows = nearest_neighbors(in_h, out_h, align, half)
        self.columns = nearest_neighbors(in_w, out_w, align, half)
        if min(self.rows.min(initial=0), self.columns.min(initial=0)) < 0:
            self.unsupported("a source index is negative (TFLM would read before the input)")

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        return [np.ascontiguousarray(x[:, :, self.rows][:, :, :, self.columns])]


KERNEL = ResizeNearestNeighbor
