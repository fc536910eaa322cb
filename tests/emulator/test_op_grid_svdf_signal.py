"""SVDF, CAST, DIV and TFLM's signal-library (audio front end) ops against the real TFLM.

The TF converter emits none of these from Keras layers, so the single-op cases
are built by hand (tests/op_models.py, written by the project's writer); the
real models are TFLM's own audio_preprocessor (int8 and float) and the SVDF
keyword models from tests/corpus. Every case: the emulator's outputs equal the
tflite-micro wheel's byte for byte on >= 16 inputs spanning the input types'
whole ranges (plus edge values), and the host arena estimate equals the arena
the wheel records.

TFLM keeps state across invocations (SVDF's variable tensor, the spectral
subtraction's noise estimate); the oracle resets the interpreter between
samples, as the emulator runs each sample from the reset state. The streaming
test chains the SVDF kernel's steps against TFLM invoked frame after frame.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION, estimate_arena
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.references import run_reference
from tests.op_models import T, op, op_model

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SAMPLES = 16


# -- comparison ---------------------------------------------------------------------------------

def full_range(dtype: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values spanning the whole range of ``dtype`` (floats: mixed magnitudes and signs)."""
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype == "float32":
        magnitude = 10.0 ** rng.uniform(-3, 3, size=shape)
        return (magnitude * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=np.dtype(dtype))


def model_inputs(data: bytes, samples: int = SAMPLES, seed: int = 0, edges: dict | None = None) -> list[np.ndarray]:
    """``samples`` random samples per model input; ``edges`` maps an input position to rows placed first."""
    rng = np.random.default_rng(seed)
    arrays = []
    for position, tensor in enumerate(read_model(data).inputs):
        shape = (samples * tensor.shape[0], *tensor.shape[1:]) if tensor.shape else (samples,)
        values = full_range(tensor.dtype, shape, rng)
        for row, edge in enumerate((edges or {}).get(position, [])):
            values.reshape(samples, -1)[row] = np.asarray(edge, dtype=tensor.dtype).reshape(-1)
        arrays.append(values)
    return arrays


def assert_matches_tflm(data: bytes, inputs: list[np.ndarray], *, arena: bool = True) -> None:
    """Emulator == TFLM byte for byte on ``inputs``; host arena estimate == TFLM's recorded arena."""
    ours = Emulator(data).run(*inputs)
    reference = run_reference("tflm", data, inputs)
    assert reference.ok, reference.error
    assert len(ours) == len(reference.outputs)
    for index, (mine, theirs) in enumerate(zip(ours, reference.outputs)):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape, (index, mine.dtype, mine.shape, theirs.shape)
        if mine.tobytes() != theirs.tobytes():
            differ = mine.reshape(mine.shape[0], -1) != theirs.reshape(theirs.shape[0], -1)
            raise AssertionError(f"output {index}: {int(differ.sum())} of {differ.size} values differ "
                                 f"(first at {np.argwhere(differ)[0].tolist()}: ours {mine.reshape(differ.shape)[differ][0]}, "
                                 f"TFLM {theirs.reshape(differ.shape)[differ][0]})")
    if arena:
        estimate = estimate_arena(read_model(data), HOST, "reference", recording_allocator=True,
                                  tflm_version=HOST_TFLM_VERSION)
        recorded = reference.allocations
        assert (estimate.head, estimate.tail, estimate.total) == (recorded["head"], recorded["tail"], recorded["total"])


# -- SVDF ---------------------------------------------------------------------------------------

def svdf_model(batch=1, inputs=12, units=4, rank=1, memory=5, state_dtype="int16", input_zp=5, output_zp=-3,
               state_zp=0, activation="NONE", seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    filters = units * rank
    if state_dtype == "float32":
        f = np.float32
        x = T("x", (batch, inputs), "float32")
        wf = T("wf", (filters, inputs), "float32", data=rng.normal(0, 0.5, (filters, inputs)).astype(f))
        wt = T("wt", (filters, memory), "float32", data=rng.normal(0, 0.5, (filters, memory)).astype(f))
        bias = T("b", (units,), "float32", data=rng.normal(0, 0.5, units).astype(f))
        state = T("state", (batch, memory * filters), "float32", variable=True)
        y = T("y", (batch, units), "float32")
    else:
        info = np.iinfo(state_dtype)
        state_scale = 0.06 if state_dtype == "int8" else 0.06 / 256
        time_scale = 1.0 / info.max
        x = T("x", (batch, inputs), "int8", scale=0.02, zero_point=input_zp)
        wf = T("wf", (filters, inputs), "int8", scale=0.012, data=rng.integers(-127, 128, (filters, inputs)))
        wt = T("wt", (filters, memory), state_dtype, scale=time_scale,
               data=rng.integers(info.min + 1, info.max + 1, (filters, memory)))
        bias_scale = float(np.float32(state_scale) * np.float32(time_scale))
        bias = T("b", (units,), "int32", scale=bias_scale, data=rng.integers(-20_000, 20_000, units))
        state = T("state", (batch, memory * filters), state_dtype, scale=state_scale, zero_point=state_zp, variable=True)
        y = T("y", (batch, units), "int8", scale=0.05 * rank, zero_point=output_zp)
    return op_model([op("SVDF", [x, wf, wt, bias, state], [y], rank=rank, fused_activation_function=activation,
                        asymmetric_quantize_inputs=False)])


SVDF_CASES = {
    "int16-state-rank1": dict(),
    "int16-state-rank2-batch2": dict(rank=2, batch=2, units=3, memory=4),
    "int16-state-memory1": dict(memory=1, inputs=7),
    "int16-state-wide": dict(inputs=96, units=16, memory=8, input_zp=-128, output_zp=0),
    "int8-state": dict(state_dtype="int8", state_zp=0),
    "int8-state-zero-point": dict(state_dtype="int8", state_zp=-7, rank=2, units=5),
    "int8-relu-ignored": dict(state_dtype="int8", activation="RELU"),
    "float-none": dict(state_dtype="float32"),
    "float-relu-rank2": dict(state_dtype="float32", activation="RELU", rank=2, units=3),
    "float-relu6-batch2": dict(state_dtype="float32", activation="RELU6", batch=2),
}


@pytest.mark.parametrize("name", list(SVDF_CASES))
def test_svdf(name):
    data = svdf_model(**SVDF_CASES[name])
    assert_matches_tflm(data, model_inputs(data))


_SEQUENCE_SCRIPT = r"""
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
folder = sys.argv[1]
interpreter = runtime.Interpreter.from_bytes(open(folder + "/model.tflite", "rb").read(), arena_size=1 << 20)
frames = np.load(folder + "/frames.npy")
outputs = []
for frame in frames:
    interpreter.set_input(frame, 0)
    interpreter.invoke()
    outputs.append(np.array(interpreter.get_output(0)))
np.save(folder + "/outputs.npy", np.stack(outputs))
"""


def tflm_sequence(data: bytes, frames: np.ndarray) -> np.ndarray:
    """TFLM invoked on ``frames`` one after another, state carried between them."""
    with tempfile.TemporaryDirectory(prefix="jsqat-seq-") as folder:
        Path(folder, "model.tflite").write_bytes(data)
        np.save(Path(folder, "frames.npy"), frames)
        done = subprocess.run([sys.executable, "-c", _SEQUENCE_SCRIPT, folder], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return np.load(Path(folder, "outputs.npy"))


@pytest.mark.parametrize("name", ["int16-state-rank2-batch2", "int8-state-zero-point", "float-relu-rank2"])
def test_svdf_state_carries_over_a_stream(name):
    """Twenty frames in a row: the kernel's step() with its state matches TFLM's memory of past frames."""
    data = svdf_model(**SVDF_CASES[name])
    model = read_model(data)
    frames = full_range(model.inputs[0].dtype, (20, *model.inputs[0].shape), np.random.default_rng(3))
    if frames.dtype == np.float32:
        frames = np.random.default_rng(3).normal(0, 1, frames.shape).astype(np.float32)
    expected = tflm_sequence(data, frames)
    kernel = Emulator(data).kernels[0]
    state = kernel.initial(1)
    for index, frame in enumerate(frames):
        output, state = kernel.step(frame[None], state)
        assert output[0].tobytes() == expected[index].tobytes(), f"frame {index}"


def test_svdf_refusals_name_tflm_rules():
    from jsqat_embed.errors import UnsupportedModelError

    data = svdf_model()
    model = read_model(data)
    model.operators[0].inputs[3] = None  # int8 SVDF without bias: TFLM reads the missing bias' scale
    with pytest.raises(UnsupportedModelError, match="without a bias"):
        Emulator(model)


# -- CAST ---------------------------------------------------------------------------------------

CAST_CASES = [("int8", "int32"), ("int16", "int32"), ("int16", "float32"), ("int32", "uint32"), ("uint32", "int32"),
              ("int32", "int8"), ("int32", "int16"), ("uint32", "float32"), ("float32", "int8"), ("float32", "int32"),
              ("float32", "uint32"), ("bool", "float32"), ("bool", "int32"), ("int8", "uint32")]
FLOAT_EDGES = [[np.nan, np.inf, -np.inf, 2.5e9, -2.5e9, 128.7, -129.2, -0.0, 0.99, -0.99, 3e38, -1.5]]


@pytest.mark.parametrize("source,target", CAST_CASES, ids=[f"{s}-{t}" for s, t in CAST_CASES])
def test_cast(source, target):
    x = T("x", (3, 4), source)
    data = op_model([op("CAST", [x], [T("y", (3, 4), target)])])
    edges = {0: FLOAT_EDGES} if source == "float32" else None
    assert_matches_tflm(data, model_inputs(data, edges=edges))


# -- DIV ----------------------------------------------------------------------------------------

def div_model(dtype: str, shape_a, shape_b, activation="NONE", scales=(0.05, 0.02, 0.1), zero_points=(3, -5, 0),
              constant_b: np.ndarray | None = None) -> bytes:
    quantized = dtype == "int8"

    def spec(name, shape, index, data=None):
        return T(name, shape, dtype, scale=scales[index] if quantized else None,
                 zero_point=zero_points[index] if quantized else 0, data=data)

    out_shape = tuple(np.broadcast_shapes(tuple(shape_a), tuple(shape_b)))
    a, b = spec("a", shape_a, 0), spec("b", shape_b, 1, constant_b)
    return op_model([op("DIV", [a, b], [spec("y", out_shape, 2)], fused_activation_function=activation)])


DIV_CASES = {
    "int8": dict(dtype="int8", shape_a=(1, 4, 6), shape_b=(1, 4, 6)),
    "int8-broadcast-relu": dict(dtype="int8", shape_a=(1, 3, 5), shape_b=(1, 1, 5), activation="RELU"),
    "int8-wide-scales": dict(dtype="int8", shape_a=(2, 8), shape_b=(2, 8), scales=(0.5, 0.001, 2.0),
                             zero_points=(-128, 127, -20)),
    "int8-relu6-constant": dict(dtype="int8", shape_a=(4, 4), shape_b=(4,), activation="RELU6",
                                constant_b=np.array([-90, -6, 40, 120], np.int8)),
    "float": dict(dtype="float32", shape_a=(1, 4, 6), shape_b=(1, 4, 6)),
    "float-broadcast-relu-n1": dict(dtype="float32", shape_a=(2, 3, 1), shape_b=(1, 4), activation="RELU_N1_TO_1"),
    "int32-constant": dict(dtype="int32", shape_a=(40,), shape_b=(), constant_b=np.array(-7, np.int32)),
    "int32-broadcast-relu": dict(dtype="int32", shape_a=(3, 5), shape_b=(5,), activation="RELU",
                                 constant_b=np.array([1, -3, 1000, -65536, 2_000_000_000], np.int32)),
}


@pytest.mark.parametrize("name", list(DIV_CASES))
def test_div(name):
    data = div_model(**DIV_CASES[name])
    edges = None
    if DIV_CASES[name]["dtype"] == "float32":
        edges = {0: [np.linspace(-3, 3, 24)], 1: [np.zeros(24), [0.0, -0.0, np.inf, np.nan] * 6]}
        edges = {k: [np.resize(np.asarray(v, np.float32), (read_model(data).inputs[k].size,)) for v in rows]
                 for k, rows in edges.items()}
    assert_matches_tflm(data, model_inputs(data, edges=edges))


@pytest.mark.parametrize("scales,zero_points", [((0.05, 0.02, 0.1), (3, -5, 0)), ((0.01, 0.01, 1.0), (0, 0, 0)),
                                                ((0.003, 0.07, 0.0009), (10, 0, 5))])
def test_div_int8_every_input_pair(scales, zero_points):
    """All 65 536 (dividend, divisor) pairs, divisor == zero point included: rounding ties, the
    double-precision multiplier and the shift-past-31 path all show here."""
    data = div_model("int8", (256,), (256,), scales=scales, zero_points=zero_points)
    a = np.repeat(np.arange(-128, 128), 256).astype(np.int8)
    b = np.tile(np.arange(-128, 128), 256).astype(np.int8)
    assert_matches_tflm(data, [a, b], arena=False)


# -- int32 ADD and MUL (the int8 audio front end's arithmetic) ---------------------------------------

@pytest.mark.parametrize("opcode,activation", [("ADD", "NONE"), ("ADD", "RELU"), ("MUL", "NONE"), ("MUL", "RELU6")])
def test_int32_add_mul(opcode, activation):
    """Wrapping int32 arithmetic; ADD ignores its fused activation in TFLM, MUL clamps."""
    a, b = T("a", (3, 5), "int32"), T("b", (5,), "int32")
    data = op_model([op(opcode, [a, b], [T("y", (3, 5), "int32")], fused_activation_function=activation)])
    inputs = model_inputs(data)
    if opcode == "MUL":  # small factors too, so the clamp is not all there is to see
        inputs[1][: SAMPLES // 2] //= 65536
    assert_matches_tflm(data, inputs)


# -- the signal library --------------------------------------------------------------------------

def signal_model(opcode: str, inputs: list[T], outputs: list[T], **custom) -> bytes:
    return op_model([op(opcode, inputs, outputs, custom=custom or None)])


def rfft_model(fft_length: int, input_length: int, dtype: str = "int16", rows: int = 1) -> bytes:
    type_code = {"int16": 7, "int32": 2, "float32": 0}[dtype]
    shape = (rows, input_length) if rows > 1 else (input_length,)
    out = (rows, fft_length + 2) if rows > 1 else (fft_length + 2,)
    return signal_model("SignalRfft", [T("x", shape, dtype)], [T("y", out, dtype)], T=type_code, fft_length=fft_length)


def irfft_model(fft_length: int, dtype: str = "int16", rows: int = 1) -> bytes:
    type_code = {"int16": 7, "int32": 2, "float32": 0}[dtype]
    shape = (rows, fft_length + 2) if rows > 1 else (fft_length + 2,)
    out = (rows, fft_length) if rows > 1 else (fft_length,)
    return signal_model("SignalIrfft", [T("x", shape, dtype)], [T("y", out, dtype)], T=type_code, fft_length=fft_length)


def filter_bank_model(bins=33, channels=6, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    widths = rng.integers(1, 6, channels + 1)
    starts = np.minimum(np.cumsum(np.r_[1, widths[:-1]]) - 1, bins - widths)
    weight_starts = np.r_[0, np.cumsum(widths[:-1])]
    weights = rng.integers(0, 4096, int(widths.sum()))
    consts = [T("weights", (weights.size,), "int16", data=weights),
              T("unweights", (weights.size,), "int16", data=4096 - weights),
              T("starts", (channels + 1,), "int16", data=starts), T("weight_starts", (channels + 1,), "int16", data=weight_starts),
              T("widths", (channels + 1,), "int16", data=widths)]
    return signal_model("SignalFilterBank", [T("x", (bins,), "uint32"), *consts], [T("y", (channels,), "uint64")],
                        num_channels=channels)


def _pcan_lut() -> np.ndarray:
    """The audio front end's gain table, taken from TFLM's own audio_preprocessor model."""
    model = read_model(CORPUS / "audio_preprocessor_int8.tflite")
    pcan = next(o for o in model.operators if o.opcode == "SignalPCAN")
    return pcan.input(2).data


SPECTRAL_OPTIONS = dict(alternate_one_minus_smoothing=15401, alternate_smoothing=983, min_signal_remaining=819,
                        one_minus_smoothing=15975, smoothing=409, smoothing_bits=10, spectral_subtraction_bits=14)

SIGNAL_CASES = {
    "window-shift12": lambda: signal_model(
        "SignalWindow", [T("x", (2, 64), "int16"), T("w", (64,), "int16", data=np.hanning(64) * 4096)],
        [T("y", (2, 64), "int16")], shift=12),
    "window-shift0-saturates": lambda: signal_model(
        "SignalWindow", [T("x", (1, 40), "int16"), T("w", (20,), "int16", data=np.linspace(-32768, 32767, 20))],
        [T("y", (1, 40), "int16")], shift=0),
    "fft-auto-scale": lambda: signal_model(
        "SignalFftAutoScale", [T("x", (48,), "int16")], [T("y", (48,), "int16"), T("s", (), "int32")]),
    "rfft-512-of-480": lambda: rfft_model(512, 480),
    "rfft-96-radix-4-2-3": lambda: rfft_model(96, 96),
    "rfft-80-radix-5": lambda: rfft_model(80, 70),
    "rfft-64-two-rows": lambda: rfft_model(64, 50, rows=2),
    "rfft-int32-256": lambda: rfft_model(256, 200, "int32"),
    "rfft-int32-60": lambda: rfft_model(60, 60, "int32"),
    "rfft-float-512": lambda: rfft_model(512, 480, "float32"),
    "rfft-float-90": lambda: rfft_model(90, 90, "float32"),
    "irfft-512": lambda: irfft_model(512),
    "irfft-96-two-rows": lambda: irfft_model(96, rows=2),
    "irfft-80-radix-5": lambda: irfft_model(80),
    "irfft-int32-120": lambda: irfft_model(120, "int32"),
    "irfft-float-256": lambda: irfft_model(256, "float32"),
    "delay-7": lambda: signal_model("SignalDelay", [T("x", (2, 40), "int16")], [T("y", (2, 40), "int16")],
                                    delay_length=7),
    "delay-longer-than-frame": lambda: signal_model("SignalDelay", [T("x", (16,), "int16")], [T("y", (16,), "int16")],
                                                    delay_length=50),
    "overlap-add-int16": lambda: signal_model(
        "SignalOverlapAdd", [T("x", (2, 4, 32), "int16")], [T("y", (2, 64), "int16")], T=7, frame_step=16),
    "overlap-add-float": lambda: signal_model(
        "SignalOverlapAdd", [T("x", (3, 32), "float32")], [T("y", (48,), "float32")], T=0, frame_step=16),
    "framer-prefill": lambda: signal_model(
        "SignalFramer", [T("x", (2, 64), "int16")], [T("y", (2, 4, 48), "int16"), T("valid", (), "bool")],
        frame_size=48, frame_step=16, prefill=True),
    "framer-step-equals-size": lambda: signal_model(
        "SignalFramer", [T("x", (30,), "int16")], [T("y", (3, 10), "int16"), T("valid", (), "bool")],
        frame_size=10, frame_step=10, prefill=False),
    "stacker-left-context": lambda: signal_model(
        "SignalStacker", [T("x", (10,), "int16")], [T("y", (30,), "int16"), T("valid", (), "bool")],
        num_channels=10, stacker_left_context=2, stacker_right_context=0, stacker_step=1),
    "energy": lambda: signal_model("SignalEnergy", [T("x", (66,), "int16")], [T("y", (33,), "uint32")],
                                   end_index=33, start_index=0),
    "filter-bank": filter_bank_model,
    "filter-bank-square-root": lambda: signal_model(
        "SignalFilterBankSquareRoot", [T("x", (40,), "uint64"), T("s", (), "int32", data=np.array(3))],
        [T("y", (40,), "uint32")]),
    "spectral-subtraction": lambda: signal_model(
        "SignalFilterBankSpectralSubtraction", [T("x", (40,), "uint32")],
        [T("y", (40,), "uint32"), T("noise", (40,), "uint32")], clamping=False, num_channels=40, **SPECTRAL_OPTIONS),
    "spectral-subtraction-clamping": lambda: signal_model(
        "SignalFilterBankSpectralSubtraction", [T("x", (12,), "uint32")],
        [T("y", (12,), "uint32"), T("noise", (12,), "uint32")], clamping=True, num_channels=12, **SPECTRAL_OPTIONS),
    "pcan": lambda: signal_model(
        "SignalPCAN", [T("x", (40,), "uint32"), T("noise", (40,), "uint32"), T("lut", (125,), "int16", data=_pcan_lut())],
        [T("y", (40,), "uint32")], snr_shift=6),
    "filter-bank-log": lambda: signal_model("SignalFilterBankLog", [T("x", (40,), "uint32")], [T("y", (40,), "int16")],
                                            input_correction_bits=3, output_scale=64),
}

#: rows placed before the random ones: silence, a lone extreme, small values
SIGNAL_EDGES = {
    "fft-auto-scale": {0: [np.zeros(48), np.r_[-32768, np.full(47, 5)], np.r_[np.full(47, 5), -32768],
                           np.arange(48) - 24, np.full(48, 16384)]},
    "filter-bank-square-root": {0: [np.zeros(40), np.arange(40), (np.uint64(1) << np.arange(24, 64, dtype=np.uint64))]},
    "filter-bank-log": {0: [np.zeros(40), np.arange(40), np.full(40, 0xFFFFFFFF), 1 << np.arange(40) % 32]},
    "pcan": {0: [np.arange(40) * 1000], 1: [np.arange(40)]},
    "rfft-512-of-480": {0: [np.zeros(480), np.full(480, 32767), np.full(480, -32768)]},
}


@pytest.mark.parametrize("name", list(SIGNAL_CASES))
def test_signal_op(name):
    data = SIGNAL_CASES[name]()
    edges = SIGNAL_EDGES.get(name)
    inputs = model_inputs(data, edges=edges)
    if name.startswith(("rfft-float", "irfft-float", "overlap-add-float")):  # audio-like magnitudes rather than 1e-3..1e3 mixtures
        inputs = [np.random.default_rng(0).normal(0, 1000, inputs[0].shape).astype(np.float32)]
    assert_matches_tflm(data, inputs)


@pytest.mark.parametrize("opcode,options,shapes", [
    ("SignalFramer", dict(frame_size=48, frame_step=16, prefill=False), ((64,), (4, 48))),
    ("SignalStacker", dict(num_channels=8, stacker_left_context=1, stacker_right_context=2, stacker_step=1), ((8,), (32,))),
])
def test_signal_frames_not_ready_from_reset_are_flagged(opcode, options, shapes):
    """Frames TFLM cannot emit yet keep stale bytes there; the validity flag (False) must agree."""
    data = signal_model(opcode, [T("x", shapes[0], "int16")], [T("y", shapes[1], "int16"), T("valid", (), "bool")],
                        **options)
    inputs = model_inputs(data)
    ours = Emulator(data).run(*inputs)
    reference = run_reference("tflm", data, inputs)
    assert reference.ok, reference.error
    assert not ours[1].any() and ours[1].tobytes() == reference.outputs[1].tobytes()


def test_rfft_refuses_lengths_tflm_cannot_run():
    """fft_length 28 needs a radix-7 butterfly, whose scratch TFLM's KISS FFT build cannot allocate."""
    from jsqat_embed.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="radix 7"):
        Emulator(rfft_model(28, 28))
    assert not run_reference("tflm", rfft_model(28, 28), model_inputs(rfft_model(28, 28), samples=1)).ok


# -- real models ----------------------------------------------------------------------------------

def speech_like(samples: int, length: int, seed: int = 0) -> np.ndarray:
    """Tones, noise and silence at several levels: what a microphone front end sees."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16_000
    rows = []
    for index in range(samples):
        level = [0.0, 30.0, 300.0, 3000.0, 30000.0][index % 5]
        tone = np.sin(2 * np.pi * rng.uniform(80, 4000) * t + rng.uniform(0, 6.3))
        rows.append(np.clip(level * (0.7 * tone + 0.3 * rng.standard_normal(length)), -32768, 32767))
    return np.asarray(rows).astype(np.int16)


CORPUS_MODELS = ["audio_preprocessor_int8", "audio_preprocessor_float", "keyword_scrambled", "keyword_scrambled_8bit"]


@pytest.mark.parametrize("name", CORPUS_MODELS)
def test_corpus_model(name):
    data = (CORPUS / f"{name}.tflite").read_bytes()
    inputs = model_inputs(data)
    if name.startswith("audio"):
        # half full-range noise, half microphone-like frames (tones, noise, silence)
        inputs[0][: SAMPLES // 2] = speech_like(SAMPLES // 2, inputs[0].shape[-1])
    assert_matches_tflm(data, inputs)
