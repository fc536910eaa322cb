"""LUT encoding for TFLM's DECODE operator (decode type 0).

Layout, as ``kernels/decode_state_lut.cc`` reads it:

- encoded tensor: one index per element into its channel's value table,
  ``bitwidth`` bits each (1-7), packed most significant bit first, the last
  byte zero-padded;
- ancillary tensor: the 16-byte DECODE common metadata (byte 0 decode type 0,
  byte 1 DCM version 1, byte 4 LUT version 1, byte 5 ``axis << 4 | bitwidth``
  with axis 0xF meaning one table for the whole tensor, byte 6 the table stride
  in elements, the rest zero), then the value tables, ``stride`` values each in
  the tensor's own type, one per channel, zero-padded.

The decoder picks per-channel tables from the decoded tensor's scale count, so
per-channel quantized weights must use per-channel tables along their
quantized dimension, which the kernels support only as the first or last axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jsqat_embed.errors import UnsupportedModelError

DECODE_TYPE_LUT = 0
DCM_VERSION = 1
LUT_VERSION = 1
DCM_BYTES = 16
PER_TENSOR_AXIS = 0xF
MAX_BITWIDTH = 7
MAX_STRIDE = 128


@dataclass
class LutTensor:
    indices: bytes  # the encoded tensor
    ancillary: bytes
    bitwidth: int
    stride: int  # values per table

    @property
    def encoded_bytes(self) -> int:
        return len(self.indices) + len(self.ancillary)


def check_axis(shape: tuple[int, ...], axis: int | None) -> None:
    """Raise UnsupportedModelError when the kernels cannot decode per-channel tables on ``axis``."""
    if axis is None:
        return
    rank = len(shape)
    if not 0 <= axis < rank or axis not in (0, rank - 1) or axis > 14:
        raise UnsupportedModelError(
            f"per-channel axis {axis} of a rank-{rank} tensor: DECODE LUT needs the first or last axis")


def _rows(values: np.ndarray, axis: int | None) -> np.ndarray:
    """One row per table: the channels along ``axis`` (first axis moved there), or the whole tensor."""
    moved = values[np.newaxis] if axis is None else np.moveaxis(values, axis, 0)
    return moved.reshape(moved.shape[0], -1)


def table_sizes(values: np.ndarray, axis: int | None) -> int:
    """The number of distinct values of the largest table (one per channel along ``axis``, or one)."""
    rows = _rows(values, axis)
    if rows.size == 0:
        return 0
    if rows.dtype.kind in "iu" and rows.dtype.itemsize == 1:  # count per row instead of sorting
        keyed = rows.astype(np.int64) - int(np.iinfo(rows.dtype).min) + 256 * np.arange(rows.shape[0])[:, None]
        return int((np.bincount(keyed.reshape(-1), minlength=256 * rows.shape[0]).reshape(-1, 256) > 0).sum(axis=1).max())
    ordered = np.sort(rows, axis=1)
    return int((1 + (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1)).max())


def bitwidth_for(distinct: int) -> int:
    return max(1, math.ceil(math.log2(distinct))) if distinct > 1 else 1


def encode(values: np.ndarray, axis: int | None) -> LutTensor:
    """Index and ancillary bytes of ``values`` (its own dtype), tables per channel along ``axis``."""
    values = np.ascontiguousarray(values)
    check_axis(values.shape, axis)
    rows = _rows(values, axis)
    count, width = rows.shape
    # each row's sorted distinct values, all rows at once: offset the rows apart, then one np.unique
    span = int(rows.max()) - int(rows.min()) + 1 if rows.size else 1
    keyed = rows.astype(np.int64) - (int(rows.min()) if rows.size else 0) + np.arange(count, dtype=np.int64)[:, None] * span
    distinct, inverse = np.unique(keyed, return_inverse=True)
    row_of = distinct // span
    first = np.searchsorted(row_of, np.arange(count))
    sizes = np.diff(np.append(first, distinct.size))
    stride = int(sizes.max()) if count else 1
    if stride > MAX_STRIDE:
        raise UnsupportedModelError(f"{stride} distinct values per table: DECODE LUT holds at most {MAX_STRIDE}")
    bitwidth = bitwidth_for(stride)
    row_indices = inverse.reshape(count, width) - first[:, None]
    # indices back in the tensor's own element order
    moved_shape = (count, *(values.shape if axis is None else np.moveaxis(values, axis, 0).shape[1:]))
    per_row = row_indices.reshape(moved_shape)
    indices = (per_row[0] if axis is None else np.moveaxis(per_row, 0, axis)).reshape(-1).astype(np.uint8)
    bits = (indices[:, np.newaxis] >> np.arange(bitwidth - 1, -1, -1, dtype=np.uint8)) & 1
    packed = np.packbits(bits.reshape(-1).astype(np.uint8), bitorder="big").tobytes()

    header = bytearray(DCM_BYTES)
    header[0] = DECODE_TYPE_LUT
    header[1] = DCM_VERSION
    header[4] = LUT_VERSION
    header[5] = ((PER_TENSOR_AXIS if axis is None else axis) << 4) | bitwidth
    header[6] = stride
    tables = np.zeros((count, stride), dtype=values.dtype.newbyteorder("<"))
    position = np.arange(distinct.size) - first[row_of]
    tables[row_of, position] = (distinct - row_of * span + (int(rows.min()) if rows.size else 0)).astype(values.dtype)
    return LutTensor(indices=packed, ancillary=bytes(header) + tables.tobytes(), bitwidth=bitwidth, stride=stride)


def decode(encoded: LutTensor, dtype: np.dtype, shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    """Inverse of :func:`encode` (for tests)."""
    count = int(np.prod(shape, dtype=np.int64))
    bits = np.unpackbits(np.frombuffer(encoded.indices, np.uint8), bitorder="big")[: count * encoded.bitwidth]
    weights = 1 << np.arange(encoded.bitwidth - 1, -1, -1)
    indices = (bits.reshape(count, encoded.bitwidth) * weights).sum(axis=1)
    tables = np.frombuffer(encoded.ancillary[DCM_BYTES:], dtype=np.dtype(dtype).newbyteorder("<"))
    tables = tables.reshape(-1, encoded.stride)
    if axis is None:
        return tables[0][indices].reshape(shape).astype(dtype)
    channel = np.indices(shape)[axis].reshape(-1)
    return tables[channel, indices].reshape(shape).astype(dtype)
