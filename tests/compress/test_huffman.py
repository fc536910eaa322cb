"""HUFFMAN DECODE: our encoder's files decoded by the real TFLM interpreter, value for value.

The oracle: constant tensors of chosen values are added to a small model as
extra subgraph outputs, Huffman-encoded, and decoded by a DECODE operator the
interpreter runs; what TFLM returns for those outputs must be the values.
The emulator's decoder must return the same, and mirror TFLM's refusals.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jsqat_embed.compress import huffman
from jsqat_embed.compress.decode_insert import insert_decode
from jsqat_embed.emulator import Emulator
from jsqat_embed.emulator.kernels.decode import huffman_decode
from jsqat_embed.errors import ModelFormatError, UnsupportedModelError
from jsqat_embed.graph.model import Tensor
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.writer import write_model
from jsqat_embed.verify.references import run_reference
from tests.emulator.test_op_grid import CASES
from tests.helpers import keras_model_tflite
from tests.tflite.test_writer import random_inputs


def _values(kind: str, size: int, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    if kind == "constant":
        return np.full(size, -7, dtype=dtype)
    if kind == "two":
        return rng.choice(np.array([info.min, info.max], dtype=dtype), size, p=[0.9, 0.1])
    if kind == "uniform":  # every value, flat: 8-bit (int8) codes
        return rng.integers(info.min, info.max, size, endpoint=True).astype(dtype)
    if kind == "geometric":  # very skewed: long codes, several levels of sub-tables
        return (np.minimum(rng.geometric(0.35, size), 120) * rng.choice([-1, 1], size)).astype(dtype)
    if kind == "pruned":  # zeros and a bell of kept values, as tfmot leaves weights
        kept = np.clip(np.round(rng.normal(0, 40, size)), info.min, info.max).astype(dtype)
        return np.where(rng.random(size) < 0.7, 0, kept).astype(dtype)
    if kind == "wide":  # int16: thousands of distinct values
        return np.clip(np.round(rng.laplace(0, 900, size)), info.min, info.max).astype(dtype)
    raise ValueError(kind)


def _decoded_by_tflm(arrays: list[np.ndarray], encodings: list[huffman.HuffmanTensor]):
    """(TFLM's outputs for the constants, the emulator's, the written file)."""
    base = keras_model_tflite("grid-add-v3", CASES["add"]).read_bytes()
    model = read_model(base)
    subgraph = model.main
    added = []
    for i, values in enumerate(arrays):
        tensor = Tensor(index=len(subgraph.tensors), name=f"huffman_{i}", shape=values.shape, dtype=str(values.dtype),
                        data=values)
        subgraph.tensors.append(tensor)
        subgraph.outputs.append(tensor)
        added.append(tensor)
    data = write_model(insert_decode(model, {t.index: (e.stream, e.ancillary) for t, e in zip(added, encodings)}))
    inputs = random_inputs(read_model(base), 2, seed=0)
    result = run_reference("tflm", data, inputs)
    assert result.ok, result.error
    emulated = Emulator(data).run(*inputs)
    return result.outputs[-len(arrays):], emulated[-len(arrays):], data


CASES_INT8 = [("constant", 100), ("two", 777), ("uniform", 5000), ("geometric", 20000), ("pruned", 4099), ("pruned", 1)]


def test_tflm_decodes_our_int8_and_int16_streams_value_for_value():
    arrays = [_values(kind, size, "int8", seed) for seed, (kind, size) in enumerate(CASES_INT8)]
    arrays += [_values("wide", 3000, "int16", 9), _values("pruned", 2048, "int16", 10), _values("constant", 5, "int16", 11)]
    arrays.append(_values("pruned", 3000, "int8", 12))  # 32-bit table entries for int8
    encodings = [huffman.encode(a) for a in arrays[:-1]] + [huffman.encode(arrays[-1], wide=True)]
    assert {e.entry_bytes for e in encodings[: len(CASES_INT8)]} == {2}
    assert {e.entry_bytes for e in encodings[len(CASES_INT8):]} == {4}
    assert max(_levels(e) for e in encodings) >= 3, "no case needed sub-tables of sub-tables"
    theirs, ours, _ = _decoded_by_tflm(arrays, encodings)
    for values, decoded, emulated in zip(arrays, theirs, ours):
        # TFLM's outputs carry the batch of samples the model ran: each sample holds the constant
        assert decoded.dtype == values.dtype
        assert all(np.array_equal(sample.reshape(-1), values) for sample in decoded.reshape(-1, values.size))
        assert np.array_equal(np.asarray(emulated).reshape(-1, values.size)[0], values)


def test_tensors_sharing_one_table_decode_in_tflm():
    arrays = [_values("pruned", size, "int8", seed) for seed, size in enumerate((1500, 2500, 900))]
    symbols, counts = np.unique(np.concatenate(arrays), return_counts=True)
    book = huffman.build_codebook(symbols, counts, "int8")
    encodings = [huffman.encode(a, book) for a in arrays]
    assert len({e.ancillary for e in encodings}) == 1
    theirs, ours, data = _decoded_by_tflm(arrays, encodings)
    tables = [t for t in read_model(data).main.tensors if t.name.endswith("_ancillary")]
    assert len(tables) == 1, "the shared table is one ancillary tensor"
    for values, decoded, emulated in zip(arrays, theirs, ours):
        assert np.array_equal(decoded.reshape(-1, values.size)[0], values)
        assert np.array_equal(np.asarray(emulated).reshape(-1, values.size)[0], values)


def test_tflm_refuses_a_16_bit_table_for_int16_and_so_does_the_emulator():
    values = _values("pruned", 64, "int16", 3)
    encoding = huffman.encode(values)
    ancillary = bytearray(encoding.ancillary)
    ancillary[5] &= 0xFE  # claim 16-bit entries
    base = keras_model_tflite("grid-add-v3", CASES["add"]).read_bytes()
    model = read_model(base)
    tensor = Tensor(index=len(model.main.tensors), name="t", shape=values.shape, dtype="int16", data=values)
    model.main.tensors.append(tensor)
    model.main.outputs.append(tensor)
    data = write_model(insert_decode(model, {tensor.index: (encoding.stream, bytes(ancillary))}))
    assert not run_reference("tflm", data, random_inputs(read_model(base), 1, seed=0)).ok
    with pytest.raises(UnsupportedModelError, match="16-bit Huffman tables decode int8 only"):
        Emulator(data)


# -- the format, without the interpreter ---------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(values=hnp.arrays(np.int8, st.integers(1, 600), elements=st.integers(-128, 127)),
       skew=st.integers(0, 3))
def test_streams_decode_back_to_the_values(values, skew):
    if skew:  # repeat the first values to make some symbols frequent
        values = np.concatenate([values, np.repeat(values[: skew], 50 * skew)])
    encoding = huffman.encode(values)
    decoded = huffman_decode(np.frombuffer(encoding.stream, np.uint8), np.frombuffer(encoding.ancillary, np.uint8),
                             values.size, "test")
    assert np.array_equal((decoded & 0xFF).astype(np.uint8).view(np.int8), values)
    assert len(encoding.stream) % 4 == 0
    # the stream is the code bits, padded to whole words with room for the decoder's look-ahead
    assert len(encoding.stream) * 8 >= encoding.stream_bits
    assert len(encoding.stream) == 4 * huffman.stream_words(encoding.stream_bits, _widest(encoding))


def _levels(encoding: huffman.HuffmanTensor) -> int:
    """How many table lookups the longest code word takes, from the tables' pointer entries."""
    entries = np.frombuffer(encoding.ancillary[16:], "<u2" if encoding.entry_bytes == 2 else "<u4").astype(np.int64)
    found, shift, mask = (1 << 15, 11, 0x7FF) if encoding.entry_bytes == 2 else (1 << 31, 27, 0x7FFFFFF)

    def depth(start: int, bits: int) -> int:
        deepest = 1
        for position in range(start, start + (1 << bits)):
            entry = int(entries[position])
            if not entry & found:
                deepest = max(deepest, 1 + depth(position + (entry & mask), ((entry >> shift) & 0xF) + 1))
        return deepest

    return depth(0, encoding.initial_bits)


def _widest(encoding: huffman.HuffmanTensor) -> int:
    """The widest table index, read back from the tables: pointers' count fields and the first table."""
    entries = np.frombuffer(encoding.ancillary[16:], "<u2" if encoding.entry_bytes == 2 else "<u4").astype(np.int64)
    found, shift = (1 << 15, 11) if encoding.entry_bytes == 2 else (1 << 31, 27)
    pointers = entries[(entries & found) == 0]
    return max([encoding.initial_bits] + [int(((p >> shift) & 0xF) + 1) for p in pointers])


@pytest.mark.parametrize("kind", ["uniform", "geometric", "pruned"])
def test_huffman_stays_within_gallagers_bound_of_the_entropy_and_tables_are_small(kind):
    values = _values(kind, 50_000, "int8", 4)
    encoding = huffman.encode(values)
    entropy = huffman.stream_entropy_bytes(values)
    _, counts = np.unique(values, return_counts=True)
    most_likely = counts.max() / values.size
    # a Huffman code spends at most p_max + 0.086 bits per value above the entropy (Gallager, 1978)
    assert entropy <= len(encoding.stream) <= entropy + values.size * (most_likely + 0.0861) / 8 + 8
    assert encoding.table_entries <= 600  # at most 255 values: a few hundred entries at most
    assert encoding.initial_bits <= huffman.MAX_TABLE_BITS


def test_a_constant_tensor_costs_one_word():
    encoding = huffman.encode(np.full(10_000, 3, np.int8))
    assert len(encoding.stream) == 4 and encoding.table_entries == 2


def test_length_limits_keep_codes_complete_and_within_the_limit():
    rng = np.random.default_rng(0)
    counts = list(rng.integers(1, 10_000, 200) * (rng.random(200) ** 6) + 1)
    for limit in range(8, 20):
        lengths = huffman.limited_lengths(counts, limit)
        assert max(lengths) <= limit
        assert sum(2.0 ** -length for length in lengths) == pytest.approx(1.0)


def test_the_emulator_refuses_streams_that_would_read_past_their_end():
    values = _values("pruned", 1000, "int8", 5)
    encoding = huffman.encode(values)
    with pytest.raises(ModelFormatError, match="reads past"):
        huffman_decode(np.frombuffer(encoding.stream[:-8], np.uint8), np.frombuffer(encoding.ancillary, np.uint8),
                       values.size, "test")


def test_int32_values_are_refused():
    with pytest.raises(UnsupportedModelError, match="int8 and int16 only"):
        huffman.encode(np.arange(10, dtype=np.int32))
