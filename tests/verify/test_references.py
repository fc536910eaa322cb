"""The reference runners: real TFLM in a subprocess; an abort becomes a reported error."""

from __future__ import annotations

import flatbuffers
import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.graph.analysis import summarize
from jsqat_embed.training.zoo import zoo_model
from jsqat_embed.verify.references import parse_allocations, run_reference


def _degenerate_softmax_model() -> bytes:
    """The converter's model with the softmax input scale an untrained MobileNetV2 got (7.8e-9)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    data = zoo_model("resnet_style", size=32).read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    subgraph = model.subgraphs[0]
    softmax_code = next(i for i, c in enumerate(model.operatorCodes)
                        if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.SOFTMAX)
    softmax = next(op for op in subgraph.operators if op.opcodeIndex == softmax_code)
    subgraph.tensors[softmax.inputs[0]].quantization.scale = np.array([7.8e-9], np.float32)
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_tflm_abort_is_reported_not_fatal():
    result = run_reference("tflm", _degenerate_softmax_model(), [np.zeros((1, 32, 32, 3), np.int8)])
    assert not result.ok
    assert "aborted" in result.error or "failed" in result.error


def test_inspect_warns_and_emulator_refuses_the_degenerate_scale():
    data = _degenerate_softmax_model()
    warnings = summarize(__import__("jsqat_embed.tflite", fromlist=["read_model"]).read_model(data)).warnings
    assert any(w.code == "degenerate-scale" and "SOFTMAX" in w.message for w in warnings)
    with pytest.raises(UnsupportedModelError, match="SOFTMAX"):
        Emulator(data)


def test_tflm_outputs_and_allocations():
    path = zoo_model("resnet_style", size=32)
    x = np.random.default_rng(0).integers(-128, 128, (3, 32, 32, 3)).astype(np.int8)
    result = run_reference("tflm", path, [x])
    assert result.ok, result.error
    assert result.outputs[0].shape == (3, 2)
    assert result.allocations["total"] == result.allocations["head"] + result.allocations["tail"]


def test_parse_allocations_reads_the_recording_allocator_lines():
    text = (
        "[RecordingMicroAllocator] Arena allocation total 19024 bytes\n"
        "[RecordingMicroAllocator] Arena allocation head 12288 bytes\n"
        "[RecordingMicroAllocator] 'TfLiteEvalTensor data' used 888 bytes with alignment overhead (requested 888 bytes for 37 allocations)\n"
    )
    totals, records = parse_allocations(text)
    assert totals == {"total": 19024, "head": 12288}
    assert records["TfLiteEvalTensor data"] == {"used": 888, "requested": 888, "count": 37}
