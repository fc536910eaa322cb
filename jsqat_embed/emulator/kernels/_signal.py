"""Shared parts of TFLM's signal-library kernels (``signal/src``, ``signal/micro/kernels``).

The custom ops read their parameters from a FlexBuffer map in Init; the
integer helpers here mirror ``msb_32.cc``/``msb_64.cc`` (the __GNUC__ branch the
host and Arm builds compile: the MSB index of 0 is 32, or 64), ``square_root_32.cc``
/ ``square_root_64.cc`` (bit-by-bit integer square roots with rounding) and
``log.cc`` (a 128-segment interpolated log2). Values are carried in int64 or
uint64 numpy arrays and wrapped where the C stores into narrower types.
"""

from __future__ import annotations

import math

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.tflite.flexbuffers import read_map

UINT32_MASK = 0xFFFFFFFF


class SignalKernel(Kernel):
    """A signal-library kernel: ``self.options`` holds the decoded custom options.

    Before the kernel's own checks (``prepare_signal``), what every signal kernel's Prepare and Init
    share: the numbers of inputs and outputs (``NumInputs``/``NumOutputs``), no input omitted (-1:
    TFLM's ``GetInput`` gives a null tensor, which Prepare refuses), and options TFLM reads as this
    emulator does. TFLM's Init reads them by position, not by name (``FlexbufferWrapper``: element i
    of the map's values, keys in alphabetical order, the raw bytes as an integer whatever their
    type), so the names it reads must be the map's first keys, and their values integers or booleans.
    """

    #: option names the kernel's Init reads (alphabetical: the positions TFLM reads them at)
    required_options: tuple[str, ...] = ()
    #: inputs and outputs the kernel's Prepare requires
    input_count: int = 1
    output_count: int = 1

    def prepare(self) -> None:
        op = self.op
        name = op.opcode
        if len(op.inputs) != self.input_count or len(op.outputs) != self.output_count:
            self.unsupported(f"{name} takes {self.input_count} input(s) and {self.output_count} output(s), "
                             f"got {len(op.inputs)} and {len(op.outputs)} (TFLM's Prepare checks it)")
        for index, tensor in enumerate(op.inputs):
            if tensor is None:
                self.unsupported(f"input {index} is omitted (-1); TFLM's {name} requires it")
        self.options = read_map(op.custom_options, op.describe())
        missing = [key for key in self.required_options if key not in self.options]
        if missing:
            self.unsupported(f"custom options lack {', '.join(missing)}")
        keys = sorted(self.options, key=lambda key: key.encode())
        if keys[:len(self.required_options)] != sorted(self.required_options, key=lambda key: key.encode()):
            self.unsupported(f"custom options {keys}: TFLM reads {list(self.required_options)} by position, as "
                             f"the first keys in alphabetical order, so other keys before them would be read "
                             f"in their place")
        for key in self.required_options:
            value = self.options[key]
            if not isinstance(value, (bool, int)):
                self.unsupported(f"custom option {key} is {value!r}, not an integer (TFLM would read the raw "
                                 f"bytes of its {type(value).__name__} as one)")
        self.prepare_signal()

    def prepare_signal(self) -> None:
        """Validate like the kernel's Prepare."""

    def option_int32(self, name: str) -> int:
        """``FlexbufferWrapper::ElementAsInt32``: the value truncated to int32."""
        return (int(self.options[name]) + (1 << 31)) % (1 << 32) - (1 << 31)

    def option_bool(self, name: str) -> bool:
        """``FlexbufferWrapper::ElementAsBool``: any nonzero value is true."""
        return int(self.options[name]) != 0

    def require(self, condition: bool, what: str, tensor=None) -> None:
        if not condition:
            self.unsupported(what, tensor)

    def require_types(self, *pairs) -> None:
        """``pairs``: (tensor, dtype, what) as TF_LITE_ENSURE_TYPES_EQ checks them."""
        for tensor, dtype, what in pairs:
            if tensor is None or tensor.dtype != dtype:
                found = "missing" if tensor is None else tensor.dtype
                self.unsupported(f"{what} must be {dtype}, got {found}", tensor)

    def require_rank(self, tensor, rank: int, what: str) -> None:
        if tensor is None or len(tensor.shape) != rank:
            self.unsupported(f"{what} must have {rank} dimension(s)", tensor)

    def samples_of(self, inputs) -> int:
        for index, value in enumerate(inputs):
            if value is not None and not self.is_constant(index):
                return value.shape[0]
        return 1


def most_significant_bit_32(x) -> np.ndarray:
    """``MostSignificantBit32`` (__GNUC__): 32 - clz(x), and 32 for x == 0."""
    x = np.asarray(x, dtype=np.int64) & UINT32_MASK
    _, exponent = np.frexp(x.astype(np.float64))  # exact for 32-bit values: the bit length
    return np.where(x == 0, 32, exponent).astype(np.int64)


def most_significant_bit_64(x) -> np.ndarray:
    """``MostSignificantBit64`` (__GNUC__): 64 - clzll(x), and 64 for x == 0."""
    x = np.asarray(x, dtype=np.uint64)
    high = (x >> np.uint64(32)).astype(np.int64)
    low = (x & np.uint64(UINT32_MASK)).astype(np.int64)
    high_bits = np.frexp(high.astype(np.float64))[1]
    low_bits = np.frexp(low.astype(np.float64))[1]
    bits = np.where(high > 0, 32 + high_bits, low_bits)
    return np.where((high == 0) & (low == 0), 64, bits).astype(np.int64)


def square_root_32(num) -> np.ndarray:
    """``Sqrt32``: rounded integer square root of uint32 values (uint16 result)."""
    num = np.asarray(num, dtype=np.int64) & UINT32_MASK
    nonzero = num != 0
    max_bit_number = (32 - most_significant_bit_32(num)) | 1
    shift = np.where(nonzero, 31 - max_bit_number, 0)
    bit = np.int64(1) << shift
    iterations = np.where(nonzero, (31 - max_bit_number) // 2 + 1, 0)
    res = np.zeros_like(num)
    for step in range(int(iterations.max(initial=0))):
        active = iterations > step
        take = active & (num >= res + bit)
        num = np.where(take, num - (res + bit), num)
        res = np.where(take, (res >> 1) + bit, np.where(active, res >> 1, res))
        bit = np.where(active, bit >> 2, bit)
    res = np.where((num > res) & (res != 0xFFFF), res + 1, res)
    return np.where(nonzero, res, 0) & 0xFFFF


def square_root_64(num) -> np.ndarray:
    """``Sqrt64``: uint64 -> uint32; values below 2^32 take the 32-bit routine (as the C does)."""
    num = np.asarray(num, dtype=np.uint64)
    small = (num >> np.uint64(32)) == 0
    result = square_root_32(np.where(small, num, 0).astype(np.int64))
    if np.all(small):
        return result
    big = np.where(small, np.uint64(1) << np.uint64(32), num)
    max_bit_number = (64 - most_significant_bit_64(big)) | 1
    bit = np.uint64(1) << (63 - max_bit_number).astype(np.uint64)
    iterations = (63 - max_bit_number) // 2 + 1
    res = np.zeros_like(big)
    for step in range(int(iterations.max(initial=0))):
        active = iterations > step
        take = active & (big >= res + bit)
        big = np.where(take, big - (res + bit), big)
        res = np.where(take, (res >> np.uint64(1)) + bit, np.where(active, res >> np.uint64(1), res))
        bit = np.where(active, bit >> np.uint64(2), bit)
    res = np.where((big > res) & (res != np.uint64(UINT32_MASK)), res + np.uint64(1), res)
    return np.where(small, result, (res & np.uint64(UINT32_MASK)).astype(np.int64))


# log.cc's table: 65536 * (log2(1 + i/128) - i/128), rounded, for i = 0..128, and a padding 0.
_LOG_SEGMENTS_LOG2 = 7
_LOG_SCALE_LOG2 = 16
_LOG_COEFF = 45426  # 65536 * ln(2), rounded
LOG_LUT = np.array(
    [int(math.floor(65536 * (math.log2(1 + i / 128) - i / 128) + 0.5)) for i in range(129)] + [0], dtype=np.int64)


def log2_fraction_part_32(x, log2x) -> np.ndarray:
    """``Log2FractionPart32``: the interpolated fractional part of log2(x) in Q16."""
    x = np.asarray(x, dtype=np.int64)
    log2x = np.asarray(log2x, dtype=np.int64)
    frac = x - (np.int64(1) << log2x)  # fits int32: x < 2^(log2x + 1)
    frac = np.where(log2x < _LOG_SCALE_LOG2, frac << np.maximum(_LOG_SCALE_LOG2 - log2x, 0),
                    frac >> np.maximum(log2x - _LOG_SCALE_LOG2, 0))
    frac = (frac + (1 << 31)) % (1 << 32) - (1 << 31)  # the C holds it in an int32
    base_seg = (frac & UINT32_MASK) >> (_LOG_SCALE_LOG2 - _LOG_SEGMENTS_LOG2)
    seg_unit = (1 << _LOG_SCALE_LOG2) >> _LOG_SEGMENTS_LOG2
    c0 = LOG_LUT[base_seg]
    c1 = LOG_LUT[base_seg + 1]
    rel_pos = ((c1 - c0) * (frac - seg_unit * base_seg)) >> _LOG_SCALE_LOG2
    return (frac + c0 + rel_pos) & UINT32_MASK


def log_32(x, out_scale: int) -> np.ndarray:
    """``Log32``: round(out_scale * ln(x)) in the C's integer steps, for x > 1 (uint32)."""
    x = np.asarray(x, dtype=np.int64)
    integer = most_significant_bit_32(x) - 1
    fraction = log2_fraction_part_32(x, integer)
    log2 = ((integer << _LOG_SCALE_LOG2) + fraction) & UINT32_MASK
    rounding = (1 << _LOG_SCALE_LOG2) // 2
    loge = ((_LOG_COEFF * log2 + rounding) >> _LOG_SCALE_LOG2) & UINT32_MASK
    return (((out_scale & UINT32_MASK) * loge + rounding) & UINT32_MASK) >> _LOG_SCALE_LOG2
