"""The lean flatbuffer: shared vectors, one zero point where all are equal, stripped names and metadata.

TFLM must run every lean file with outputs byte-identical to the original's
(and the emulator too); what TFLM reads (the offline memory plan) must survive;
inspect and verify must still read the file.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.compress.encoder import compress_model, strip_bias_quantization
from jsqat_embed.emulator import Emulator
from jsqat_embed.graph.model import Quantization
from jsqat_embed.tflite import codec, read_model
from jsqat_embed.tflite.writer import TFLM_METADATA, write_model
from jsqat_embed.training.zoo import pruned_zoo_model
from jsqat_embed.verify.references import run_reference
from tests.corpus_models import CORPUS
from tests.tflite.test_writer import random_inputs

ALL = ("names", "metadata", "bias-quantization")
runner = CliRunner()


def _models():
    models = [pruned_zoo_model("vgg_style", size=32, sparsity=0.7),
              pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.5)]
    models += [CORPUS / name for name in ("person_detect.tflite", "kws_ref_model.tflite", "ad01_int8.tflite")
               if (CORPUS / name).is_file()]
    return models


@pytest.mark.parametrize("path", _models(), ids=lambda p: p.name[:32])
def test_lean_stripped_files_run_byte_identically_in_tflm_and_the_emulator(path):
    data = path.read_bytes()
    inputs = random_inputs(read_model(data), 4, seed=5)
    original = run_reference("tflm", data, inputs)
    assert original.ok, original.error
    for method in ("none", "auto"):
        lean, report = compress_model(data, method, strip=ALL)
        assert len(lean) < len(data)
        rewritten = run_reference("tflm", lean, inputs)
        assert rewritten.ok, rewritten.error
        for mine, theirs in zip(rewritten.outputs, original.outputs):
            assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes()
        for mine, theirs in zip(Emulator(lean).run(*inputs), original.outputs):
            assert mine.tobytes() == theirs.tobytes()
        if method == "none":  # the arena does not move: only what TFLM never reads is gone
            assert rewritten.allocations["total"] == original.allocations["total"]


def test_lean_layout_stores_each_vector_once_and_one_zero_point_where_all_are_equal():
    data = pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.5).read_bytes()
    model = read_model(data)
    lean = write_model(model, lean=True)
    tree = codec.decode(lean)
    per_channel = 0
    for tensor in tree["subgraphs"][0]["tensors"]:
        quantization = tensor.get("quantization")
        if quantization is not None and len(quantization.get("scale", ())) > 1:
            per_channel += 1
            assert len(quantization["zero_point"]) == 1  # converters write zeros for every channel
    assert per_channel > 50
    # the reader gives every channel its zero point back, as TFLM's allocator does
    for before, after in zip(model.main.tensors, read_model(lean).main.tensors):
        if before.quantization is not None:
            assert np.array_equal(before.quantization.zero_point, after.quantization.zero_point)
            assert np.array_equal(before.quantization.scale, after.quantization.scale)
    # identical vectors written once: two tensors with equal scales hold one copy of them
    twin = model.main.tensors[1]
    scales = np.linspace(0.001, 0.002, 37, dtype=np.float32)
    for tensor in model.main.tensors[1:3]:
        tensor.quantization = Quantization(scale=scales, zero_point=np.zeros(37, np.int64), axis=0)
    assert twin.quantization is not None
    assert write_model(model).count(scales.tobytes()) == 2
    assert write_model(model, lean=True).count(scales.tobytes()) == 1
    # the zero points alone were over a sixth of this file
    assert len(lean) < 0.85 * len(data)


def test_strip_drops_names_and_metadata_tflm_never_reads_but_keeps_the_offline_plan(tmp_path):
    source = CORPUS / "vww_96_int8.tflite"  # TFLM's own plan: 103,680 B; the offline one is smaller
    if not source.is_file():
        pytest.skip(f"{source.name} not extracted")
    planned = tmp_path / "planned.tflite"
    result = runner.invoke(create_app(), ["optimize-memory", str(source), "-o", str(planned), "--time-limit", "3"])
    assert result.exit_code == 0, result.output
    model = read_model(planned)
    assert "OfflineMemoryAllocation" in model.metadata and len(model.metadata) > 1
    stripped = write_model(model, lean=True, strip=("names", "metadata"))
    tree = codec.decode(stripped)
    assert all("name" not in t for s in tree["subgraphs"] for t in s["tensors"])
    assert "description" not in tree and "signature_defs" not in tree
    assert {entry["name"] for entry in tree["metadata"]} <= set(TFLM_METADATA)
    again = read_model(stripped)
    assert again.metadata["OfflineMemoryAllocation"] == model.metadata["OfflineMemoryAllocation"]
    # TFLM still follows the offline plan: the same arena as the unstripped file, and the same outputs
    inputs = random_inputs(model, 2, seed=1)
    planned_run, stripped_run = run_reference("tflm", planned, inputs), run_reference("tflm", stripped, inputs)
    assert planned_run.ok and stripped_run.ok
    assert stripped_run.allocations["total"] == planned_run.allocations["total"]
    assert planned_run.allocations["total"] < run_reference("tflm", source, inputs).allocations["total"]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(planned_run.outputs, stripped_run.outputs))


def test_bias_quantization_is_dropped_only_where_no_kernel_reads_it():
    model = read_model(pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.5).read_bytes())
    dropped = strip_bias_quantization(model)
    convolutions = [op for op in model.operators if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert dropped == len({id(op.inputs[2]) for op in convolutions})
    assert all(op.inputs[2].quantization is None for op in convolutions)
    # FULLY_CONNECTED reads its bias scale (GetQuantizedConvolutionMultipler): kept
    assert all(op.inputs[2].quantization is not None for op in model.operators
               if op.opcode == "FULLY_CONNECTED" and len(op.inputs) > 2 and op.inputs[2] is not None)


def test_inspect_and_verify_read_the_lean_stripped_file(tmp_path):
    source = pruned_zoo_model("vgg_style", size=32, sparsity=0.9)
    out = tmp_path / "lean.tflite"
    result = runner.invoke(create_app(), ["compress", str(source), "-o", str(out), "--strip", "names,metadata",
                                          "--strip", "bias-quantization", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["totals"]["strip"] == list(ALL) and report["totals"]["lean"] is True
    inspect = runner.invoke(create_app(), ["inspect", str(out)])
    assert inspect.exit_code == 0, inspect.output
    assert "TFLM_DECODE" in inspect.output
    verify = runner.invoke(create_app(), ["verify", str(out), "--random", "3"])
    assert verify.exit_code == 0, verify.output
    assert "BIT-EXACT" in verify.output


def test_unknown_strip_is_refused():
    source = pruned_zoo_model("vgg_style", size=32, sparsity=0.9)
    result = runner.invoke(create_app(), ["compress", str(source), "-o", "/tmp/never.tflite", "--strip", "weights"])
    assert result.exit_code == 2 and "--strip weights" in result.output
