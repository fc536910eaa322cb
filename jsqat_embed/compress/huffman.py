"""HUFFMAN encoding for TFLM's DECODE operator (decode type 1).

TFLM decodes Huffman-coded constants (``kernels/decode_state_huffman.cc``) but
ships no encoder (the tflite-micro package's ``compression/huffman.py`` is a
stub). This module writes what that decoder reads. The format, from the
decoder's source:

- encoded tensor: the concatenated code words of the elements in element
  order, read as 32-bit words whose bytes are in big-endian order, so the bit
  stream is plain "most significant bit of byte 0 first"; its length is a
  multiple of 4 bytes, and it is long enough that the decoder's look-ahead
  past the last code word stays inside it (see :func:`stream_words`);
- ancillary tensor: the 16-byte DECODE common metadata (byte 0 decode type 1,
  byte 1 DCM version 1, byte 4 Huffman version 1, byte 5 ``(log2(N) - 1) << 4``
  for a first table of N entries, plus bit 0 set for 32-bit table entries),
  then the decode tables, little-endian 16-bit (int8 only) or 32-bit (int8 or
  int16) entries;
- decoding an element: read ``log2(N)`` bits, look them up in the first table;
  an entry with its top bit clear points to a sub-table at ``its position +
  offset``, whose index width is ``count + 1`` bits (the 4-bit count field):
  read that many more bits and look up again; an entry with its top bit set
  holds the value (the low 8 or 16 bits) and, in the count field, how many of
  the bits read last belong to this code word: the rest are put back.

Field layout of an entry: 16-bit = found (bit 15), count (bits 14-11), value
or offset (bits 10-0); 32-bit = found (bit 31), count (bits 30-27), value or
offset (bits 26-0). Offsets only point forward; a sub-table is at most
2047 entries after the 16-bit entry pointing at it. A count of 16 cannot be
written, so no table here is wider than 15 bits.

Codes are canonical Huffman codes of this very tensor's values (one table for
the whole tensor, whatever its quantization: values are stored as they are,
zero points included). The encoder tries length limits and table widths and
keeps the smallest total of stream + tables; a tensor with a single distinct
value costs one 32-bit word (every code word is 0 bits long).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from jsqat_embed.errors import UnsupportedModelError

DECODE_TYPE_HUFFMAN = 1
DCM_VERSION = 1
HUFFMAN_VERSION = 1
DCM_BYTES = 16
MAX_TABLE_BITS = 15  # a symbol entry's 4-bit count cannot say 16
DTYPES = ("int8", "int16")  # the decoder's output types; 16-bit tables decode int8 only

#: entry layouts: (found bit, count shift, value mask)
ENTRY_16 = (1 << 15, 11, 0x07FF)
ENTRY_32 = (1 << 31, 27, 0x07FFFFFF)


@dataclass
class HuffmanTensor:
    stream: bytes  # the encoded tensor
    ancillary: bytes
    entry_bytes: int  # 2 or 4
    table_entries: int
    initial_bits: int
    stream_bits: int  # code bits, without the padding words
    longest_code: int

    @property
    def encoded_bytes(self) -> int:
        return len(self.stream) + len(self.ancillary)


def value_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, their counts), as np.unique gives them; by counting for 8/16-bit integers."""
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind in "iu" and values.dtype.itemsize <= 2 and values.size:
        low = int(np.iinfo(values.dtype).min)
        counts = np.bincount(values.astype(np.int64) - low, minlength=1)
        present = np.flatnonzero(counts)
        return (present + low).astype(values.dtype), counts[present]
    return np.unique(values, return_counts=True)


def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise UnsupportedModelError(f"{dtype} tensor: TFLM's Huffman decoder writes int8 and int16 only")


# -- code lengths ----------------------------------------------------------------------------------

def huffman_lengths(counts: list[float]) -> list[int]:
    """Code lengths of a Huffman code for ``counts`` (all > 0); one symbol gets length 0."""
    n = len(counts)
    if n == 1:
        return [0]
    heap = [(count, index) for index, count in enumerate(counts)]
    heapq.heapify(heap)
    parent = list(range(2 * n - 1))
    node = n
    while len(heap) > 1:
        first, left = heapq.heappop(heap)
        second, right = heapq.heappop(heap)
        parent[left] = parent[right] = node
        heapq.heappush(heap, (first + second, node))
        node += 1
    depth = [0] * (2 * n - 1)
    for index in range(2 * n - 3, -1, -1):  # parents are created after their children
        depth[index] = depth[parent[index]] + 1
    return depth[:n]


def limited_lengths(counts: list[float], limit: int) -> list[int]:
    """Code lengths no longer than ``limit`` (``2**limit >= len(counts)``).

    Huffman's lengths with the too-long code words folded up the way JPEG's
    Annex K.3 does it (a pair at the deepest level becomes one code word one
    level up, whose place it takes together with a shorter code word moved one
    level down), then handed out shortest first to the most frequent values:
    the code stays complete.
    """
    n = len(counts)
    lengths = huffman_lengths(counts)
    longest = max(lengths)
    if longest <= limit:
        return lengths
    if (1 << limit) < n:
        raise ValueError(f"{n} symbols cannot have codes of at most {limit} bits")
    per_length = [0] * (longest + 1)
    for length in lengths:
        per_length[length] += 1
    for deepest in range(longest, limit, -1):
        while per_length[deepest] > 0:
            shorter = deepest - 2
            while per_length[shorter] == 0:
                shorter -= 1
            per_length[deepest] -= 2
            per_length[deepest - 1] += 1
            per_length[shorter + 1] += 2
            per_length[shorter] -= 1
    out = [0] * n
    order = iter(sorted(range(n), key=lambda s: (-counts[s], s)))
    for length in range(1, limit + 1):
        for _ in range(per_length[length]):
            out[next(order)] = length
    return out


def canonical_codes(lengths: list[int]) -> list[int]:
    """Canonical code words for ``lengths`` (shorter first, then by symbol order)."""
    codes = [0] * len(lengths)
    code, previous = 0, 0
    for symbol in sorted(range(len(lengths)), key=lambda s: (lengths[s], s)):
        length = lengths[symbol]
        code <<= length - previous
        codes[symbol] = code
        code += 1
        previous = length
    return codes


# -- decode tables -----------------------------------------------------------------------------------

@dataclass
class _Table:
    bits: int  # index width: the table has 2**bits entries
    symbols: list[tuple[int, int, int, int]]  # (first entry, entries, symbol index, code bits used here)
    children: list[tuple[int, "_Table"]]  # (entry index, sub-table)


#: best (entries, width) per code-length histogram: the same subtrees recur across tensors and
#: limits (a few thousand small tuples for a whole model)
_WIDTH_MEMO: dict[tuple[int, ...], tuple[int, int]] = {}


def _plan_tables(codes: list[tuple[int, int, int]]) -> tuple[int, _Table]:
    """The fewest-entries table tree for canonical ``codes`` = [(code, length, symbol)], lengths >= 1.

    A canonical code's subtree is fixed by how many code words it has of each
    length, so the search for each node's best index width is memoized on that
    histogram alone.
    """
    memo = _WIDTH_MEMO

    def best_width(histogram: tuple[int, ...]) -> tuple[int, int]:
        found = memo.get(histogram)
        if found is not None:
            return found
        best = None
        for width in range(min(len(histogram), MAX_TABLE_BITS), 0, -1):
            cost = 1 << width
            if best is not None and cost >= best[0]:
                continue
            for child, times in _children(histogram, width):
                cost += times * best_width(child)[0]
                if best is not None and cost >= best[0]:
                    break
            if best is None or cost < best[0]:
                best = (cost, width)
        memo[histogram] = best
        return best

    def build(items: list[tuple[int, int, int]]) -> _Table:
        _, width = best_width(_histogram([length for _, length, _ in items]))
        symbols, groups = [], {}
        for code, length, symbol in items:
            if length <= width:
                symbols.append((code << (width - length), 1 << (width - length), symbol, length))
            else:
                rest = length - width
                groups.setdefault(code >> rest, []).append((code & ((1 << rest) - 1), rest, symbol))
        children = [(prefix, build(group)) for prefix, group in sorted(groups.items())]
        return _Table(width, symbols, children)

    items = sorted(codes)
    return best_width(_histogram([length for _, length, _ in items]))[0], build(items)


def _histogram(lengths: list[int]) -> tuple[int, ...]:
    counts = [0] * max(lengths)
    for length in lengths:
        counts[length - 1] += 1
    return tuple(counts)


def _children(histogram: tuple[int, ...], width: int) -> list[tuple[tuple[int, ...], int]]:
    """(code-length histogram, how many such sub-tables) below a ``width``-bit table.

    Canonical code words of a subtree run left to right by length and every
    sub-table of a complete code is full (Kraft sum 1), so consecutive longer
    code words fill one sub-table after the other.
    """
    deepest = len(histogram) - width
    if deepest <= 0:
        return []
    full = 1 << deepest
    out: list[tuple[tuple[int, ...], int]] = []
    current, filled = [0] * deepest, 0
    for rest in range(1, deepest + 1):
        count = histogram[width + rest - 1]
        weight = 1 << (deepest - rest)
        per_table = full // weight
        if count and filled:
            take = min(count, (full - filled) // weight)
            current[rest - 1] += take
            filled += take * weight
            count -= take
            if filled == full:
                out.append((_trim(current), 1))
                current, filled = [0] * deepest, 0
        if count >= per_table:
            alone = [0] * rest
            alone[rest - 1] = per_table
            out.append((tuple(alone), count // per_table))
            count %= per_table
        if count:
            current[rest - 1] += count
            filled += count * weight
    if filled:
        raise AssertionError("incomplete canonical code")
    return out


def _trim(counts: list[int]) -> tuple[int, ...]:
    end = len(counts)
    while end and not counts[end - 1]:
        end -= 1
    return tuple(counts[:end])


def _layout(root: _Table, values: list[int], entry: tuple[int, int, int]) -> list[int] | None:
    """Table entries, sub-tables in breadth-first order; None when an offset does not fit."""
    found_bit, count_shift, value_mask = entry
    order, queue = [], [root]
    while queue:
        table = queue.pop(0)
        order.append(table)
        queue.extend(child for _, child in table.children)
    base, position = {}, 0
    for table in order:
        base[id(table)] = position
        position += 1 << table.bits
    entries = [None] * position
    for table in order:
        start = base[id(table)]
        for first, count, symbol, used in table.symbols:
            word = found_bit | (used << count_shift) | (values[symbol] & value_mask)
            entries[start + first: start + first + count] = [word] * count
        for prefix, child in table.children:
            offset = base[id(child)] - (start + prefix)
            if offset > value_mask:
                return None
            entries[start + prefix] = ((child.bits - 1) << count_shift) | offset
    if any(e is None for e in entries):
        raise AssertionError("incomplete Huffman code: a table entry decodes nothing")
    return entries


def _widest(table: _Table) -> int:
    return max([table.bits] + [_widest(child) for _, child in table.children])


def stream_words(stream_bits: int, widest_table: int) -> int:
    """32-bit words the decoder reads for ``stream_bits`` of code words.

    At the last code word it reads a whole table index (``widest_table`` bits
    at most) and puts back what it did not use, and it always loads a first
    word: the stream is padded so that no read leaves it.
    """
    return max(1, math.ceil((stream_bits + widest_table - 1) / 32))


# -- the encoder ---------------------------------------------------------------------------------------

@dataclass
class Codebook:
    """A Huffman code and its decode tables: one tensor's, or shared by several (same ancillary bytes)."""

    symbols: np.ndarray  # the values it codes, ascending (int64)
    lengths: list[int]
    codes: list[int]
    widest_table: int
    ancillary: bytes
    entry_bytes: int
    table_entries: int
    initial_bits: int

    def index_of(self, values: np.ndarray) -> np.ndarray:
        """Symbol index of each value; UnsupportedModelError if a value has no code."""
        flat = np.asarray(values).reshape(-1).astype(np.int64)
        where = np.clip(np.searchsorted(self.symbols, flat), 0, len(self.symbols) - 1)
        if flat.size and not np.array_equal(self.symbols[where], flat):
            raise UnsupportedModelError("a value has no code in this Huffman table")
        return where

    def stream_bytes(self, counts: np.ndarray) -> int:
        """Encoded-tensor bytes for ``counts`` (per symbol of this codebook)."""
        bits = int(np.dot(np.asarray(counts, dtype=np.int64), np.asarray(self.lengths, dtype=np.int64)))
        return 4 * stream_words(bits, self.widest_table)


def build_codebook(symbols: np.ndarray, counts: np.ndarray, dtype: str, *, wide: bool = False) -> Codebook:
    """The smallest stream + tables for values with these ``counts`` (all > 0), over length limits.

    ``wide``: 32-bit table entries even for int8 (TFLM decodes both; 16-bit ones are half the size).
    """
    check_dtype(dtype)
    symbols = np.asarray(symbols, dtype=np.int64)
    counts = [float(c) for c in counts]
    byte_mask = 0xFF if dtype == "int8" else 0xFFFF
    raw_values = [int(v) & byte_mask for v in symbols]
    entry_sizes = (2, 4) if dtype == "int8" and not wide else (4,)

    if len(symbols) == 1:  # every code word is empty: read one bit and put it back
        lengths, codes, root = [0], [0], _Table(1, [(0, 2, 0, 0)], [])
    else:
        unlimited = huffman_lengths(counts)
        longest = max(unlimited)
        shortest = max(1, math.ceil(math.log2(len(symbols))))
        candidates = []
        for limit in range(longest, shortest - 1, -1):
            lengths = unlimited if limit == longest else limited_lengths(counts, limit)
            codes = canonical_codes(lengths)
            entries, root = _plan_tables([(codes[s], lengths[s], s) for s in range(len(symbols))])
            bits = sum(c * l for c, l in zip(counts, lengths))
            size = 4 * stream_words(math.ceil(bits), _widest(root)) + entries * entry_sizes[0]
            candidates.append((size, limit, lengths, codes, root))
            if len(candidates) >= 3 and size > candidates[-2][0] > candidates[-3][0]:
                break  # two steps worse in a row: tighter limits only lengthen the stream further
        _, _, lengths, codes, root = min(candidates, key=lambda c: (c[0], -c[1]))

    for entry_bytes, layout in ((2, ENTRY_16), (4, ENTRY_32)):
        if entry_bytes not in entry_sizes:
            continue
        entries = _layout(root, raw_values, layout)
        if entries is not None:
            break
    else:
        raise UnsupportedModelError(f"{len(symbols)} distinct values: the Huffman tables need offsets beyond 27 bits")
    header = bytearray(DCM_BYTES)
    header[0] = DECODE_TYPE_HUFFMAN
    header[1] = DCM_VERSION
    header[4] = HUFFMAN_VERSION
    header[5] = ((root.bits - 1) << 4) | (1 if entry_bytes == 4 else 0)
    table = np.asarray(entries, dtype="<u2" if entry_bytes == 2 else "<u4").tobytes()
    return Codebook(symbols=symbols, lengths=lengths, codes=codes, widest_table=_widest(root),
                    ancillary=bytes(header) + table, entry_bytes=entry_bytes, table_entries=len(entries),
                    initial_bits=root.bits)


def encode(values: np.ndarray, book: Codebook | None = None, *, wide: bool = False) -> HuffmanTensor:
    """Stream and ancillary bytes of ``values`` (int8 or int16, element order as stored).

    ``book``: a codebook shared with other tensors (it must code every value);
    by default the tensor's own (``wide``: see :func:`build_codebook`).
    """
    values = np.ascontiguousarray(values).reshape(-1)
    check_dtype(str(values.dtype))
    if values.size == 0:
        raise UnsupportedModelError("an empty tensor has nothing to Huffman-code")
    if book is None:
        symbols, counts = value_counts(values)
        book = build_codebook(symbols, counts, str(values.dtype), wide=wide)
    stream, stream_bits = _pack(book.index_of(values), book.lengths, book.codes, book.widest_table)
    return HuffmanTensor(stream=stream, ancillary=book.ancillary, entry_bytes=book.entry_bytes,
                         table_entries=book.table_entries, initial_bits=book.initial_bits,
                         stream_bits=stream_bits, longest_code=max(book.lengths))


def _pack(symbol_of: np.ndarray, lengths: list[int], codes: list[int], widest_table: int) -> tuple[bytes, int]:
    """The code words of the elements back to back, most significant bit first, padded to whole words."""
    longest = max(lengths)
    length = np.asarray(lengths, dtype=np.int64)[symbol_of]
    total = int(length.sum())
    words = stream_words(total, widest_table)
    if longest == 0:
        return bytes(4 * words), 0
    # one row of code bits per symbol (left-aligned), then each element's row, cut to its length
    table = np.zeros((len(lengths), longest), dtype=np.uint8)
    for symbol, (code, bits) in enumerate(zip(codes, lengths)):
        for j in range(bits):
            table[symbol, j] = (code >> (bits - 1 - j)) & 1
    rows = table[symbol_of]
    stream = rows[np.arange(longest)[np.newaxis, :] < length[:, np.newaxis]]
    padded = np.zeros(words * 32, dtype=np.uint8)
    padded[:total] = stream
    return np.packbits(padded, bitorder="big").tobytes(), total


def stream_entropy_bytes(values: np.ndarray) -> float:
    """N x H(values) / 8: the floor of any code that codes each element on its own with this tensor's statistics."""
    _, counts = value_counts(values)
    p = counts / counts.sum()
    return float(counts.sum() * -(p * np.log2(p)).sum()) / 8
