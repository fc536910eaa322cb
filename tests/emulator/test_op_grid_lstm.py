"""UNIDIRECTIONAL_SEQUENCE_LSTM against the real TFLM: outputs byte for byte, arena to the byte.

The int8 cases are Keras ``LSTM`` layers converted to full int8 by the TF converter (8x8->16:
int8 activations, int16 cell state). Variants the converter will not emit are edits of those
converted models' flatbuffer trees, each a model TFLM accepts:

- 16x8 (int16 activations, int64 biases): TF 2.21's quantizer refuses it for this op
  ("Quantization to 16x8-bit not yet supported"), so the int8 model is requantized: the
  activation tensors (input, hidden state, output) become symmetric int16 over the same real
  range, biases int64 at input scale x weight scale. Weights and cell state are kept.
- batch-major with several batch rows (the converter's calibration fails on a batch above 1
  with return_sequences): the time-major model with ``time_major`` off and its state resized.
- other ``cell_clip`` values (Keras has no such option; the converter writes 10).

Each case runs 16 random inputs spanning the whole input type; TFLM is reset between samples
(the LSTM state persists across invocations otherwise), as the emulator runs each sample from
the reset state. Real public LSTM models from the corpus are checked the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator, fixedpoint
from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION, estimate_arena
from jsqat_embed.memory.kernel_memory import unidirectional_sequence_lstm
from jsqat_embed.tflite import codec, read_model
from jsqat_embed.verify.references import run_reference
from tests.corpus_models import corpus_params
from tests.helpers import assert_bit_exact_with_tflm, keras_model_tflite

LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"
SAMPLES = 16
# TensorType values of the TFLite schema
INT16, INT32, INT64 = 7, 2, 4


def _k():
    from jsqat_embed.training import zoo

    return zoo.keras()


def _model(shape, batch, body):
    k = _k()
    inputs = k.Input(shape, batch_size=batch)
    return k.Model(inputs, body(k, inputs))


def lstm(units, steps, features, return_sequences=True):
    return lambda: _model((steps, features), 1, lambda k, x: k.layers.LSTM(units, return_sequences=return_sequences)(x))


def time_major(units, steps, batch, features):
    # Keras's time-major LSTM reads (time, batch, features): the Keras batch dimension is time.
    return lambda: _model((batch, features), steps, lambda k, x: k.layers.LSTM(
        units, time_major=True, return_sequences=True)(x))


def stacked(head: bool):
    def body(k, x):
        y = k.layers.LSTM(10, return_sequences=True)(x)
        if head:
            return k.layers.Dense(3)(k.layers.LSTM(6)(y))
        return k.layers.LSTM(6, return_sequences=True)(y)

    return lambda: _model((6, 4), 1, body)


#: Keras models, converted once and cached (the key names the cache entry)
BASES: dict[str, Callable] = {
    "u8-t5-i3-seq": lstm(8, 5, 3),
    "u8-t5-i3-last": lstm(8, 5, 3, return_sequences=False),
    "u16-t12-i10-seq": lstm(16, 12, 10),
    "u4-t20-i1-seq": lstm(4, 20, 1),
    "u32-t3-i24-last": lstm(32, 3, 24, return_sequences=False),
    "timemajor-u8-t5-b2-i3": time_major(8, 5, 2, 3),
    "stacked-dense": stacked(head=True),
    "stacked-seq": stacked(head=False),
}


def _base(name: str) -> bytes:
    return keras_model_tflite(f"lstm-{name}-v1", BASES[name]).read_bytes()


def _lstm_ops(tree: dict) -> list[dict]:
    codes = tree["operator_codes"]
    return [op for op in tree["subgraphs"][0]["operators"]
            if max(codes[op.get("opcode_index", 0)].get("builtin_code", 0),
                   codes[op.get("opcode_index", 0)].get("deprecated_builtin_code", 0)) == 44]


def to_16x8(data: bytes) -> bytes:
    """The int8 LSTM model requantized as 16x8 (see the module docstring); every op must be an LSTM."""
    tree = codec.decode(data)
    subgraph = tree["subgraphs"][0]
    tensors, buffers = subgraph["tensors"], tree["buffers"]
    operators = _lstm_ops(tree)
    assert len(operators) == len(subgraph["operators"]), "16x8 conversion handles LSTM-only models"
    activations = sorted({int(i) for op in operators for i in (op["inputs"][0], op["inputs"][18], op["outputs"][0])})
    for index in activations:
        tensor = tensors[index]
        scale, zero_point = float(tensor["quantization"]["scale"][0]), int(tensor["quantization"]["zero_point"][0])
        largest = scale * max(abs(-128 - zero_point), abs(127 - zero_point))
        tensor["type"] = INT16
        tensor["quantization"]["scale"] = np.array([largest / 32767], dtype=np.float32)
        tensor["quantization"]["zero_point"] = np.array([0], dtype=np.int64)
    for op in operators:
        input_scale = np.float32(tensors[op["inputs"][0]]["quantization"]["scale"][0])
        for gate in range(4):
            weights, bias = tensors[op["inputs"][1 + gate]], tensors[op["inputs"][12 + gate]]
            assert bias["type"] == INT32
            old = np.frombuffer(buffers[bias["buffer"]]["data"], dtype="<i4").astype(np.float64)
            old_scale = float(bias["quantization"]["scale"][0])
            new_scale = np.float32(input_scale * np.float32(weights["quantization"]["scale"][0]))
            values = np.round(old * old_scale / float(new_scale)).astype("<i8")
            buffers.append({"data": values.tobytes()})
            bias["buffer"] = len(buffers) - 1
            bias["type"] = INT64
            bias["quantization"]["scale"] = np.array([new_scale], dtype=np.float32)
    return codec.encode(tree)


def with_options(data: bytes, **options) -> bytes:
    tree = codec.decode(data)
    for op in _lstm_ops(tree):
        op["builtin_options"].update(options)
    return codec.encode(tree)


def batch_major(data: bytes) -> bytes:
    """A time-major (T, B, I) model read as batch-major: T batch rows of B steps, state resized."""
    tree = codec.decode(data)
    tensors = tree["subgraphs"][0]["tensors"]
    for op in _lstm_ops(tree):
        assert op["builtin_options"].get("time_major")
        op["builtin_options"]["time_major"] = False
        rows = int(tensors[op["inputs"][0]]["shape"][0])
        for state in (op["inputs"][18], op["inputs"][19]):
            tensors[state]["shape"] = np.array([rows, tensors[state]["shape"][-1]], dtype=np.int32)
    return codec.encode(tree)


CASES: dict[str, Callable[[], bytes]] = {name: (lambda n=name: _base(n)) for name in BASES}
CASES.update({
    "batchmajor-u8-t2-b5-i3": lambda: batch_major(_base("timemajor-u8-t5-b2-i3")),
    "u16-t12-i10-seq-clip0.05": lambda: with_options(_base("u16-t12-i10-seq"), cell_clip=0.05),
    "u16-t12-i10-seq-noclip": lambda: with_options(_base("u16-t12-i10-seq"), cell_clip=0.0),
    "16x8-u8-t5-i3-seq": lambda: to_16x8(_base("u8-t5-i3-seq")),
    "16x8-u16-t12-i10-seq": lambda: to_16x8(_base("u16-t12-i10-seq")),
    "16x8-u4-t20-i1-seq-clip0.05": lambda: to_16x8(with_options(_base("u4-t20-i1-seq"), cell_clip=0.05)),
    "16x8-timemajor-u8-t5-b2-i3": lambda: to_16x8(_base("timemajor-u8-t5-b2-i3")),
    "16x8-batchmajor-u8-t2-b5-i3": lambda: to_16x8(batch_major(_base("timemajor-u8-t5-b2-i3"))),
    "16x8-stacked-seq": lambda: to_16x8(_base("stacked-seq")),
})


def _arena_matches(data: bytes) -> None:
    estimate = estimate_arena(read_model(data), HOST, "reference", recording_allocator=True,
                              tflm_version=HOST_TFLM_VERSION)
    recorded = run_reference("tflm", data)
    assert recorded.ok, recorded.error
    assert (estimate.head, estimate.tail, estimate.total) == (
        recorded.allocations["head"], recorded.allocations["tail"], recorded.allocations["total"])


@pytest.mark.parametrize("name", list(CASES))
def test_lstm_bit_exact_and_arena(name):
    data = CASES[name]()
    model = read_model(data)
    assert LSTM in {op.opcode for op in model.operators}
    assert_bit_exact_with_tflm(data, samples=SAMPLES, seed=zlib.crc32(name.encode()) % 1000)
    _arena_matches(data)


def test_grid_covers_both_types_both_layouts_and_clipping():
    """The variants really are what their names say (an edit that silently did nothing would show)."""
    seen = set()
    for name, make in CASES.items():
        for op in read_model(make()).operators:
            if op.opcode == LSTM:
                seen.add((op.inputs[0].dtype, op.inputs[12].dtype, bool(op.options["time_major"]),
                          op.inputs[0].shape[1 if op.options["time_major"] else 0] > 1, op.options["cell_clip"] > 0))
    assert {("int8", "int32"), ("int16", "int64")} <= {s[:2] for s in seen}
    assert {True, False} <= {s[2] for s in seen}  # time-major and batch-major
    assert (False, True) in {(s[2], s[3]) for s in seen}  # batch-major with several batch rows
    assert {True, False} <= {s[4] for s in seen}  # clipping on and off


def test_cell_clip_is_reached():
    """With cell_clip 0.05 the emulated cell state really saturates at the quantized clip."""
    data = CASES["u16-t12-i10-seq-clip0.05"]()
    emulator = Emulator(data)
    kernel = next(k for k in emulator.kernels if k.op.opcode == LSTM)
    assert 0 < kernel.quantized_cell_clip < 32767
    inputs = [np.random.default_rng(1).integers(-128, 128, size=(8, *t.shape[1:]), dtype=np.int8)
              for t in emulator.inputs]
    clipped = emulator.run(*inputs)[0]
    unclipped = Emulator(CASES["u16-t12-i10-seq-noclip"]()).run(*inputs)[0]
    assert not np.array_equal(clipped, unclipped)


LSTM_CORPUS = dict(tflm="runs", where=lambda m: LSTM in m.ops and m.kind != "float")


@pytest.mark.parametrize("model", corpus_params(**LSTM_CORPUS))
def test_corpus_lstm_models_bit_exact_and_arena(model):
    data = model.path.read_bytes()
    assert_bit_exact_with_tflm(data, samples=SAMPLES, seed=7)
    _arena_matches(data)


@pytest.mark.parametrize("model", corpus_params(tflm="runs", where=lambda m: LSTM in m.ops and m.kind == "float"))
def test_float_lstm_is_refused_with_the_reason(model):
    with pytest.raises(UnsupportedModelError, match="UNIDIRECTIONAL_SEQUENCE_LSTM.*float32"):
        Emulator(model.path)


def test_arena_rule_requests_tflm_makes():
    """OpDataLSTM from Init, no Prepare data, four scratch buffers of batch x units int16
    (unidirectional_sequence_lstm.cc)."""
    op = next(op for op in read_model(CASES["16x8-timemajor-u8-t5-b2-i3"]()).operators if op.opcode == LSTM)
    memory = unidirectional_sequence_lstm(op, "reference")
    assert (memory.params, memory.init, memory.prepare, memory.scratch) == (
        "TfLiteUnidirectionalSequenceLSTMParams", ["OpDataLSTM"], [], [2 * 8 * 2] * 4)
    assert not memory.estimated
    cmsis = unidirectional_sequence_lstm(op, "cmsis-nn")
    # CMSIS-NN's wrapper: its own OpData at Init, eight bias arrays of 8 x units in Prepare, three scratch
    # buffers (checked under QEMU by tests/memory/test_arena_qemu.py, hence exact)
    assert not cmsis.estimated and len(cmsis.scratch) == 3 and cmsis.prepare == [8 * 8] * 8


def _logistic_int16_scalar(x: int) -> int:
    """Scalar transliteration of reference_integer_ops::Logistic(int16), multiplier 0, shift 0."""
    value = x * 3
    magnitude = abs(value)
    index = magnitude >> 9
    table = fixedpoint.SIGMOID_TABLE_UINT16
    if index >= 255:
        result = 0x7FFF << 10
    else:
        low, high = int(table[index]), int(table[index + 1])
        result = (low << 9) + (magnitude & 0x1FF) * (high - low)
    result = result + (1 << 9) if value >= 0 else (1 << 25) - result + (1 << 9) - 1
    return result >> 10


def _tanh_int16_scalar(x: int, multiplier: int, shift: int) -> int:
    """Scalar transliteration of reference_integer_ops::Tanh(int16)."""
    if multiplier == 0:
        multiplier, shift = 3 << shift, 0
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    value = (x * multiplier + rounding) >> shift
    magnitude = abs(value)
    index = magnitude >> 8
    table = fixedpoint.SIGMOID_TABLE_UINT16
    if index >= 255:
        result = 0xFFFF << 8
    else:
        low, high = int(table[index]), int(table[index + 1])
        result = (low << 8) + (magnitude & 0xFF) * (high - low)
    result = result - (1 << 23) + (1 << 7) if value >= 0 else -result + (1 << 23) + (1 << 7) - 1
    return result >> 8


def test_int16_lookup_functions_match_a_scalar_transliteration_on_every_input():
    every = np.arange(-32768, 32768, dtype=np.int64)
    assert fixedpoint.logistic_int16(every, 0, 0).tolist() == [_logistic_int16_scalar(int(v)) for v in every]
    for multiplier, shift in ((0, 0), (3, 3), (0, 1)):  # cell scale 2^-12, 2^-15, 2^-11
        assert fixedpoint.tanh_int16(every, multiplier, shift).tolist() == [
            _tanh_int16_scalar(int(v), multiplier, shift) for v in every]
