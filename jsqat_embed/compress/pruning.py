"""PRUNING encoding for TFLM's DECODE operator (decode type 2), and what it costs.

Layout, as ``kernels/decode_state_prune.cc`` reads it:

- encoded tensor: uint8 bitmask, ceil(N/8) bytes; element k is bit ``7 - k % 8``
  of byte ``k // 8`` (most significant bit first); 1 = take the next value from
  the value table, 0 = the element equals its zero point;
- ancillary tensor: the 16-byte DECODE common metadata (byte 0 decode type 2,
  byte 1 DCM version 1, byte 4 pruning version 1, the rest zero), then the kept
  values in element order, in the tensor's own type.

Zero points come from the decoded tensor's quantization: per channel for int8
when the channel axis is the first or the last dimension, one value otherwise
(which must be zero for types other than int8). Float tensors compare bit
patterns, so -0.0 is kept as a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jsqat_embed.compress.huffman import value_counts
from jsqat_embed.errors import UnsupportedModelError

DECODE_TYPE_PRUNING = 2
DCM_VERSION = 1
PRUNING_VERSION = 1
DCM_BYTES = 16


@dataclass
class PrunedTensor:
    bitmask: bytes
    ancillary: bytes
    elements: int
    kept: int

    @property
    def encoded_bytes(self) -> int:
        return len(self.bitmask) + len(self.ancillary)


def zero_point_map(values: np.ndarray, zero_points: np.ndarray, axis: int) -> np.ndarray:
    """The zero point of every element, broadcast along ``axis`` (a scalar if one zero point)."""
    zero_points = np.asarray(zero_points).reshape(-1)
    if zero_points.size <= 1:
        return np.full(values.shape, zero_points[0] if zero_points.size else 0, dtype=np.int64)
    shape = [1] * values.ndim
    shape[axis] = zero_points.size
    return np.broadcast_to(zero_points.reshape(shape), values.shape)


def check_prunable(values: np.ndarray, zero_points: np.ndarray, axis: int, dtype: str) -> None:
    """Raise UnsupportedModelError for what TFLM's PRUNING decoder would reject or decode wrongly."""
    channels = np.asarray(zero_points).size
    if dtype not in ("int8", "int16", "int32", "int64", "float32", "bool"):
        raise UnsupportedModelError(f"DECODE pruning does not support {dtype} tensors")
    if channels > 1 and axis not in (0, values.ndim - 1):
        raise UnsupportedModelError(
            f"per-channel axis {axis} of a rank-{values.ndim} tensor: DECODE pruning needs the first or last axis")
    if channels <= 1 and axis != 0 and values.ndim > 1:
        raise UnsupportedModelError(
            f"per-tensor quantization declares quantized_dimension {axis}: TFLM's pruning decoder refuses it")
    if dtype != "int8" and np.any(np.asarray(zero_points) != 0):
        raise UnsupportedModelError(f"{dtype} tensor with non-zero zero points: DECODE pruning needs zero points of 0")
    if channels > 1 and values.shape[axis] != channels:
        raise UnsupportedModelError(f"{channels} zero points for {values.shape[axis]} channels on axis {axis}")


def keep_mask(values: np.ndarray, zero_points: np.ndarray, axis: int) -> np.ndarray:
    """True where an element differs from its zero point (bit patterns for floats)."""
    if values.dtype.kind == "f":
        return values.view(np.uint32 if values.itemsize == 4 else np.uint64) != 0
    return values.astype(np.int64) != zero_point_map(values, zero_points, axis)


def encode(values: np.ndarray, zero_points: np.ndarray, axis: int) -> PrunedTensor:
    """The bitmask and ancillary bytes of ``values`` (the tensor's own dtype and shape)."""
    values = np.ascontiguousarray(values)
    mask = keep_mask(values, zero_points, axis).reshape(-1)
    bitmask = np.packbits(mask.astype(np.uint8), bitorder="big").tobytes()
    header = bytearray(DCM_BYTES)
    header[0] = DECODE_TYPE_PRUNING
    header[1] = DCM_VERSION
    header[4] = PRUNING_VERSION
    kept = values.reshape(-1)[mask]
    ancillary = bytes(header) + kept.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
    return PrunedTensor(bitmask=bitmask, ancillary=ancillary, elements=values.size, kept=int(mask.sum()))


def decode(encoded: PrunedTensor, dtype: np.dtype, shape: tuple[int, ...], zero_points: np.ndarray, axis: int) -> np.ndarray:
    """Inverse of :func:`encode` (for tests and the report's round-trip check)."""
    count = int(np.prod(shape, dtype=np.int64))
    mask = np.unpackbits(np.frombuffer(encoded.bitmask, np.uint8), bitorder="big")[:count].astype(bool)
    kept = np.frombuffer(encoded.ancillary[DCM_BYTES:], dtype=np.dtype(dtype).newbyteorder("<"))
    if np.dtype(dtype).kind == "f":
        out = np.zeros(count, dtype=dtype)
    else:
        out = zero_point_map(np.empty(shape, dtype=dtype), zero_points, axis).reshape(-1).astype(dtype)
    out[mask] = kept
    return out.reshape(shape)


def ideal_bytes(elements: int, kept: int, itemsize: int) -> int:
    """The plain bitmask-plus-values size, without the 16-byte header: the issue's 'bitmask ideal'."""
    return math.ceil(elements / 8) + kept * itemsize


def entropy_bound_bytes(values: np.ndarray, zero_points: np.ndarray, axis: int) -> float:
    """Empirical entropy of the mask (N x H(p)) plus that of the kept values (nnz x H(values)), in bytes.

    A lower bound for any code that stores which elements are kept and their
    values independently, with the symbol statistics of this very tensor.
    """
    mask = keep_mask(values, zero_points, axis).reshape(-1)
    total = mask.size
    kept = int(mask.sum())
    bits = 0.0
    if 0 < kept < total:
        p = kept / total
        bits += total * -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    if kept:
        _, counts = value_counts(values.reshape(-1)[mask])
        probabilities = counts / kept
        bits += kept * float(-(probabilities * np.log2(probabilities)).sum())
    return bits / 8
