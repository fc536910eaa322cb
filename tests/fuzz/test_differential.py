"""Replays of the differential fuzz run's mismatches (scripts/fuzz.py --differential; issue 14,
"a mutated model was accepted and computed differently from TFLM").

Each file in tests/fuzz/regressions/ below is a mutated model the emulator once ran with a
result TFLM did not give. Now the emulator either refuses it, for the reason named (and the
real TFLM is shown to run it, with the garbage that reason predicts), or agrees with TFLM
byte for byte. The oracle is the tflite-micro wheel, in a subprocess (it aborts on some bad
models); the files are small, so this runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import JsqatError
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import run_reference
from tests.fuzz.harness import REGRESSIONS, compare_outputs

#: file -> (the mutation, what the emulator now says); None: it must be bit-exact with TFLM
MISMATCHES = {
    # the reproduction: DEPTHWISE_CONV_2D's depth_multiplier option changed (1 -> 32, 1 -> 2^20);
    # TFLM loops input channels x the option and writes channels past the output's depth
    "dbca5d40b64cf67d": ("op_chain, depth_multiplier 1 -> 32", r"DEPTHWISE_CONV_2D.*depth_multiplier 32"),
    "80ab213f00efd220": ("kws_ref_model, depth_multiplier 1 -> 1048576", r"depth_multiplier 1048576"),
    # an int8 / int16 zero point outside its type: TFLM adds it in int32 arithmetic that overflows
    "a70036a0f37b4a63": ("micro_speech, FULLY_CONNECTED output zero point 14 -> 2^31 - 1",
                         r"zero point 2147483647 is outside int8's range"),
    "edf49fc7df15346a": ("op_conv, CONV_2D output zero point 2 -> -2^31", r"zero point -2147483648 is outside int8"),
    "fb14a58108dd0fe6": ("seanet_quantize0, int16 QUANTIZE output zero point 0 -> -2^31",
                         r"zero point -2147483648 is outside int16"),
    "e167a5cdd3ff18a2": ("seanet_add0, ADD input zero point 0 -> -2^31 (int16)",
                         r"zero point -2147483648 is outside int16"),
    # a float32 bias on an int8 layer: TFLM reads its bytes as int32
    "4547b9676fd8e15a": ("hello_world_int8, FULLY_CONNECTED bias type INT32 -> FLOAT32 (and a zero point 0 -> 1)",
                         r"float32 bias with int8 input: TFLM's kernel reads it as int32"),
    # TRANSPOSE_CONV stride_h 1 -> 65536: TFLM's TransposeConvParams keep it as int16_t (0)
    "7cc85fc3b54dbd24": ("seanet_transpose_conv4, stride_h 1 -> 65536",
                         r"stride \(65536, 2\) does not fit the int16_t"),
    # QUANTIZE float32 -> int8 with an output scale of 0: x / 0 is inf, its conversion to int32 undefined
    "c441ae6bfb8decff": ("model_runner_model, QUANTIZE output scale 1.0 -> 0.0", r"QUANTIZE.*output scale 0"),
    # the model input given a constant buffer: TFLM points the input at the model's own bytes
    "dbea210440449c32": ("audio_preprocessor_int8, input tensor's buffer 1 (empty) -> 2 (960 bytes)",
                         r"input tensor 0 .* has constant data \(buffer 2\)"),
    # a constant tensor (weights, bias) marked is_variable: TFLM ignores its data, starts it from its zero point
    "82b635d062f25004": ("seanet_conv0, CONV_2D filter marked is_variable",
                         r"tensor 1 .*a variable tensor with constant"),
    "875a082c8e4f8e89": ("hello_world_int8, FULLY_CONNECTED weights and bias marked is_variable",
                         r"a variable tensor with constant data"),
}

#: models the emulator ran where TFLM refused or crashed: file -> (the mutation, TFLM's verdict, the emulator's refusal)
TFLM_REFUSES = {
    "c95e3b477ab500c6": ("seanet_quantize0, no operators and no subgraph outputs", None,
                         r"subgraph 0: no outputs \(TFLM crashes"),
    "f776cc207ae36b2a": ("model_runner_model, CONV_2D given a second output",
                         "conv_common.cc:86 node->outputs->size != 1", r"CONV_2D\): 2 output\(s\)"),
    "d12ae0a44dbfd092": ("keras_lstm_mnist_ptq, an LSTM intermediate given a shape",
                         "Does not support intermediate tensor with non-zero size", r"intermediate tensor 22"),
    "0d60acd5b0e81056": ("micro_speech_quantized, DEPTHWISE_CONV_2D bias input 8 -> -1 (omitted)", None,
                         r"DEPTHWISE_CONV_2D\): input 2 is -1"),
    "405d52705914d2a3": ("audio_preprocessor_int8, SignalFftAutoScale (2 outputs) turned into CONCATENATION", None,
                         r"declares as an output but does not write"),
}

#: mismatches not fixed: (file, why)
OPEN = {
    "63ddc3d452daf537": "model_runner_model, QUANTIZE output scale 1.0 -> 1.4e-45: float -> int8 of x / scale "
                        "overflows int32, which C leaves undefined; the x86 wheel gives INT_MIN, the emulator "
                        "saturates as Arm's VCVT does",
}


def _emulate(data: bytes):
    emulator = Emulator(read_model(data, name="mismatch"))
    inputs = random_inputs(emulator, 2, 0)
    return inputs, emulator.run(*inputs)


def _tflm(data: bytes, inputs):
    result = run_reference("tflm", data, inputs, timeout=120)
    assert result.ok, result.error
    return result.outputs


@pytest.mark.parametrize("name", sorted(MISMATCHES))
def test_a_saved_mismatch_is_refused_or_bit_exact(name):
    data = (REGRESSIONS / f"{name}.tflite").read_bytes()
    mutation, reason = MISMATCHES[name]
    if reason is None:
        inputs, ours = _emulate(data)
        assert compare_outputs(ours, _tflm(data, inputs)) == "", mutation
        return
    with pytest.raises(JsqatError, match=reason):
        _emulate(data)


@pytest.mark.parametrize("name", sorted(TFLM_REFUSES))
def test_a_model_tflm_refuses_is_refused(name):
    data = (REGRESSIONS / f"{name}.tflite").read_bytes()
    mutation, tflm_says, reason = TFLM_REFUSES[name]
    with pytest.raises(JsqatError, match=reason):
        _emulate(data)
    if tflm_says is not None:
        result = run_reference("tflm", data, None, timeout=120)
        assert not result.ok and tflm_says in result.log, (mutation, result.error)


def test_tflm_runs_the_depth_multiplier_reproduction_with_a_wrong_result():
    """The refusal is TFLM's behaviour, not caution: TFLM runs the model and its output differs
    from the unmutated model's, where the emulator's result (ignoring the option) would not."""
    mutated = (REGRESSIONS / "dbca5d40b64cf67d.tflite").read_bytes()
    from tests.fuzz.harness import model_seeds

    original = model_seeds()["op_chain.tflite"]
    inputs, ours = _emulate(original)
    assert compare_outputs(ours, _tflm(original, inputs)) == ""
    assert compare_outputs(ours, _tflm(mutated, inputs)) != "", "TFLM honours depth_multiplier 32"


@pytest.mark.parametrize("name", sorted(OPEN))
@pytest.mark.xfail(strict=True, reason="open: see OPEN")
def test_open_mismatches(name):
    data = (REGRESSIONS / f"{name}.tflite").read_bytes()
    inputs, ours = _emulate(data)
    assert compare_outputs(ours, _tflm(data, inputs)) == "", OPEN[name]


def test_an_empty_transpose_conv_input_gives_the_bias_alone_as_in_tflm():
    """Found by the differential run (an InternalError before): a TRANSPOSE_CONV input of width 0."""
    from jsqat_embed.tflite import codec

    tree = codec.decode(read_model_bytes("seanet_transpose_conv3.tflite"))
    tree["subgraphs"][0]["tensors"][2]["shape"] = np.array([1, 1, 0, 32], np.int32)
    data = codec.encode(tree)
    inputs, ours = _emulate(data)
    assert compare_outputs(ours, _tflm(data, inputs)) == ""


def read_model_bytes(name: str) -> bytes:
    from tests.fuzz.harness import CORPUS

    return (CORPUS / name).read_bytes()
