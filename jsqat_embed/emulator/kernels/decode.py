"""TFLM_DECODE (custom op): expand compressed constant tensors, as TFLM's decode.cc.

Inputs come in pairs (encoded tensor, ancillary tensor); each pair gives one
output. The ancillary tensor starts with a 16-byte Decode Common Metadata
header: byte 0 the decode type, byte 1 the DCM version, byte 4 the type's own
version; type-specific data follows from byte 16.

- LUT (type 0): byte 5 low bits = index bit width (1..7), byte 6 = value-table
  stride per channel; indices packed MSB first; value tables in the output type.
- PRUNING (type 2): the encoded tensor is a bitmask, MSB first, one bit per
  element: 1 takes the next value of the table (from byte 16, in element order,
  in the output type), 0 is the element's zero point.
- HUFFMAN (type 1): the encoded tensor is a bit stream read in 32-bit
  big-endian words; byte 5 holds the first table's index width minus one (high
  nibble) and the 32-bit-entries flag (bit 0); multi-level decode tables from
  byte 16 (``decode_state_huffman.cc``; the format is described in
  :mod:`jsqat_embed.compress.huffman`). One table for the whole tensor, values
  stored as they are: no zero points, no channels.

Channels follow the *output* tensor's quantization: per-channel along dimension
0, or along the last dimension ("alternate axis"). Only constants feed DECODE,
so the emulator runs it once, at load.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.errors import ModelFormatError

HEADER_BYTES = 16
TYPE_LUT = 0
TYPE_HUFFMAN = 1
TYPE_PRUNE = 2


def _bits(encoded: np.ndarray, count: int, width: int, owner: str) -> np.ndarray:
    needed = count * width
    if encoded.size * 8 < needed:
        raise ModelFormatError(f"{owner}: encoded data holds {encoded.size * 8} bits, {needed} needed")
    return np.unpackbits(encoded.astype(np.uint8).reshape(-1), bitorder="big")[:needed]


class Decode(Kernel):

    def prepare(self) -> None:
        op = self.op
        if len(op.inputs) != 2 * len(op.outputs) or not op.outputs:
            self.unsupported(f"{len(op.inputs)} inputs for {len(op.outputs)} outputs (pairs expected)")
        for i in range(len(op.inputs)):
            self.constant(i)  # DECODE reads constants only
        for output in op.outputs:
            if output.dtype not in ("int8", "int16", "int32", "float32", "uint8"):
                self.unsupported(f"decoded type {output.dtype}", output)

    def _channels(self, output) -> tuple[int, bool, np.ndarray]:
        quant = output.quantization
        if quant is None:
            return 1, False, np.zeros(1, dtype=np.int64)
        channels = quant.channels
        alternate = channels > 1 and quant.axis == len(output.shape) - 1
        if channels > 1 and not alternate and quant.axis != 0:
            self.unsupported(f"quantized dimension {quant.axis}: DECODE supports axis 0 or the last axis", output)
        return channels, alternate, quant.zero_point.astype(np.int64)

    def _channel_of(self, count: int, channels: int, alternate: bool) -> np.ndarray:
        positions = np.arange(count)
        if channels == 1:
            return np.zeros(count, dtype=np.int64)
        return positions % channels if alternate else positions // (count // channels)

    def eval(self, inputs):
        outputs = []
        for pair, output in enumerate(self.op.outputs):
            encoded = np.asarray(self.constant(2 * pair)).reshape(-1)
            ancillary = np.asarray(self.constant(2 * pair + 1)).reshape(-1).astype(np.uint8)
            owner = f"{self.op.describe()} output '{output.name}'"
            if ancillary.size < HEADER_BYTES:
                raise ModelFormatError(f"{owner}: ancillary data is {ancillary.size} bytes, shorter than the 16-byte header")
            decode_type, type_version = int(ancillary[0]), int(ancillary[4])
            if decode_type == TYPE_LUT:
                values = self._lut(encoded, ancillary, output, owner, type_version)
            elif decode_type == TYPE_PRUNE:
                values = self._prune(encoded, ancillary, output, owner, type_version)
            elif decode_type == TYPE_HUFFMAN:
                values = self._huffman(encoded, ancillary, output, owner, type_version)
            else:
                self.unsupported(f"decode type {decode_type} is not one TFLM decodes", output)
            outputs.append(values.reshape(output.shape))
        return outputs

    def _lut(self, encoded, ancillary, output, owner, version):
        if version != 1:
            raise ModelFormatError(f"{owner}: LUT version {version} is not supported")
        width = int(ancillary[5]) & 0x07
        stride = int(ancillary[6])
        if not 1 <= width <= 7 or stride < 1:
            raise ModelFormatError(f"{owner}: LUT bit width {width} / stride {stride} invalid")
        count = output.size
        channels, alternate, _ = self._channels(output)
        dtype = np.dtype(output.dtype).newbyteorder("<")
        table_bytes = ancillary[HEADER_BYTES:]
        usable = (table_bytes.size // dtype.itemsize) * dtype.itemsize
        table = table_bytes[:usable].view(dtype)
        if table.size < channels * stride:
            raise ModelFormatError(f"{owner}: value tables hold {table.size} values, {channels} x {stride} needed")
        bits = _bits(encoded, count, width, owner).reshape(count, width).astype(np.int64)
        indices = bits @ (1 << np.arange(width - 1, -1, -1))
        if count and indices.max() >= stride:
            raise ModelFormatError(f"{owner}: LUT index {int(indices.max())} beyond the table stride {stride}")
        channel = self._channel_of(count, channels, alternate)
        return table[channel * stride + indices].astype(output.dtype)

    def _prune(self, encoded, ancillary, output, owner, version):
        if version != 1:
            raise ModelFormatError(f"{owner}: pruning version {version} is not supported")
        count = output.size
        channels, alternate, zero_points = self._channels(output)
        if output.dtype != "int8" and np.any(zero_points != 0):
            self.unsupported("non-zero zero points are only allowed for int8 (TFLM requires it)", output)
        mask = _bits(encoded, count, 1, owner).astype(bool)
        dtype = np.dtype(output.dtype).newbyteorder("<")
        kept = int(mask.sum())
        table_bytes = ancillary[HEADER_BYTES:]
        if table_bytes.size < kept * dtype.itemsize:
            raise ModelFormatError(f"{owner}: value table holds {table_bytes.size // dtype.itemsize} values, mask keeps {kept}")
        table = table_bytes[: kept * dtype.itemsize].view(dtype)
        if channels > 1 and np.any(zero_points != 0):
            fill = zero_points[self._channel_of(count, channels, alternate)]
        else:
            fill = np.full(count, zero_points[0] if zero_points.size else 0)
        values = fill.astype(output.dtype)
        values[mask] = table.astype(output.dtype)
        return values

    def _huffman(self, encoded, ancillary, output, owner, version):
        if version != 1:
            raise ModelFormatError(f"{owner}: Huffman version {version} is not supported")
        wide = bool(ancillary[5] & HUFFMAN_32BIT_ENTRIES)
        if not wide and output.dtype != "int8":
            self.unsupported(f"16-bit Huffman tables decode int8 only, not {output.dtype} (TFLM's Setup refuses it)",
                             output)
        if output.dtype not in ("int8", "int16"):
            self.unsupported(f"Huffman decoding writes int8 or int16, not {output.dtype}", output)
        values = huffman_decode(encoded.astype(np.uint8), ancillary, output.size, owner)
        mask = 0xFF if output.dtype == "int8" else 0xFFFF
        return (values & mask).astype(np.uint8 if mask == 0xFF else np.uint16).view(output.dtype)


HUFFMAN_32BIT_ENTRIES = 0x01
_MAX_LEVELS = 64  # a table walk longer than this loops: TFLM would never finish


def huffman_decode(stream: np.ndarray, ancillary: np.ndarray, count: int, owner: str) -> np.ndarray:
    """The raw table values (uint32) TFLM's Huffman decoder writes for ``count`` elements.

    TFLM walks the bit stream one element at a time. Here the table walk is
    done for every bit position at once (numpy), then the chain of element
    starts is followed from bit 0: the same result as the sequential decoder,
    including its put-back rule (an element consumes the widths of the tables
    it passed through plus ``min(last width, count field)`` bits). Reads past
    the encoded tensor's last whole 32-bit word, table indices past the table
    and looping tables are errors (TFLM would read out of bounds or hang).
    """
    if count == 0:
        return np.zeros(0, dtype=np.uint32)
    wide = bool(ancillary[5] & HUFFMAN_32BIT_ENTRIES)
    initial = (int(ancillary[5]) >> 4) + 1
    if wide:
        found_bit, shift, value_mask, dtype = 1 << 31, 27, 0x07FFFFFF, "<u4"
    else:
        found_bit, shift, value_mask, dtype = 1 << 15, 11, 0x07FF, "<u2"
    table_bytes = ancillary[HEADER_BYTES:]
    usable = table_bytes.size // np.dtype(dtype).itemsize * np.dtype(dtype).itemsize
    table = table_bytes[:usable].view(dtype).astype(np.int64)
    if table.size == 0:
        raise ModelFormatError(f"{owner}: the Huffman ancillary data holds no table")
    readable = (stream.size // 4) * 32  # the decoder loads whole 32-bit words
    if readable == 0:
        raise ModelFormatError(f"{owner}: the Huffman stream is {stream.size} bytes, less than one 32-bit word")

    # 32 stream bits from every bit position (zeros past the end)
    padded = np.concatenate([stream[: readable // 8], np.zeros(8, np.uint8)]).astype(np.uint64)
    positions = readable + 64
    byte = np.arange(positions) >> 3
    byte = np.minimum(byte, padded.size - 5)
    forty = ((padded[byte] << np.uint64(32)) | (padded[byte + 1] << np.uint64(24)) | (padded[byte + 2] << np.uint64(16))
             | (padded[byte + 3] << np.uint64(8)) | padded[byte + 4])
    window = ((forty >> (np.uint64(8) - (np.arange(positions) & 7).astype(np.uint64))) & np.uint64(0xFFFFFFFF))
    window = window.astype(np.int64)
    window[readable:] = 0

    starts = np.arange(readable)
    consumed = np.zeros(readable, np.int64)
    width = np.full(readable, initial, np.int64)
    offset = window[starts] >> (32 - initial)
    bad = offset >= table.size
    value = table[np.minimum(offset, table.size - 1)]
    reach = consumed + width
    for _ in range(_MAX_LEVELS):
        active = ((value & found_bit) == 0) & ~bad
        if not active.any():
            break
        consumed[active] += width[active]
        width[active] = ((value[active] >> shift) & 0xF) + 1
        at = np.minimum(starts[active] + consumed[active], positions - 1)
        offset[active] += (value[active] & value_mask) + (window[at] >> (32 - width[active]))
        bad |= offset >= table.size
        value[active] = table[np.minimum(offset[active], table.size - 1)]
        reach = np.maximum(reach, consumed + width)
    else:
        bad |= (value & found_bit) == 0
    bad |= starts + reach > readable
    residual = (value >> shift) & 0xF
    following = np.minimum(starts + consumed + np.minimum(width, residual), readable)
    # position ``readable`` (past the stream) is a dead end that keeps pointing at itself
    following = np.append(following, readable).tolist()
    bad = np.append(bad, True)

    chain = [0] * count
    position = 0
    for element in range(count):  # the one sequential part: each element starts where the last one ended
        chain[element] = position
        position = following[position]
    chain = np.asarray(chain)
    broken = np.flatnonzero(bad[chain])
    if broken.size:
        element = int(broken[0])
        raise ModelFormatError(
            f"{owner}: Huffman element {element} at stream bit {int(chain[element])} reads past the stream's "
            f"{readable} bits or past the {table.size}-entry table")
    return (value[chain] & value_mask).astype(np.uint32)


KERNEL = Decode
