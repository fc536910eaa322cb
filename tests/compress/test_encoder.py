"""Compressed models: bit-identical in the real TFLM interpreter and in the emulator, and small.

Models are pruned layer-wise with tfmot (ConstantSparsity, every step) to
50/70/90 %, then fully int8-quantized; their real sparsity is measured from the
.tflite, not assumed.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.compress.encoder import choose, compress_model
from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.memory.arena import HOST_TFLM_VERSION, estimate_arena
from jsqat_embed.tflite import read_model
from jsqat_embed.training.zoo import pruned_zoo_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import run_reference
from tests.emulator.test_op_grid import CASES
from tests.helpers import keras_model_tflite

PRUNED = {
    f"{arch}-{int(s * 100)}": (arch, kwargs, s)
    for arch, kwargs in (("vgg_style", dict(size=32)), ("mobilenetv2", dict(size=96, alpha=0.35)))
    for s in (0.5, 0.7, 0.9)
}


def _pruned(name):
    arch, kwargs, sparsity = PRUNED[name]
    return pruned_zoo_model(arch, sparsity=sparsity, **kwargs)


@pytest.mark.parametrize("name", list(PRUNED))
def test_compressed_model_is_bit_identical_in_tflm_and_emulator(name):
    arch, kwargs, target = PRUNED[name]
    data = _pruned(name).read_bytes()
    compressed, report = compress_model(data)
    chosen = report.compressed
    assert chosen, "nothing was compressed"
    # the sparsity the big tensors really have, measured from the .tflite
    biggest = max(chosen, key=lambda c: c.dense_bytes)
    assert biggest.sparsity == pytest.approx(target, abs=0.02)
    assert {op.opcode for op in read_model(compressed).operators} >= {"TFLM_DECODE"}
    assert any(c.method == "huffman" for c in chosen), "pruned weights: Huffman should win somewhere"

    inputs = random_inputs(Emulator(data), 8, seed=3)
    original = run_reference("tflm", data, inputs)
    decoded = run_reference("tflm", compressed, inputs)
    assert original.ok and decoded.ok, (original.error, decoded.error)
    emulated = Emulator(compressed).run(*inputs)
    for ours, dense_tflm, compressed_tflm in zip(emulated, original.outputs, decoded.outputs):
        assert np.array_equal(dense_tflm, compressed_tflm)
        assert np.array_equal(ours, compressed_tflm)

    # sizes: each pruned tensor is exactly bitmask + header + kept values, and the
    # compressed set stays within the target: <= bitmask ideal + 1 % of its dense size
    for choice in chosen:
        if choice.method == "prune":
            assert choice.encoded_bytes == -(-choice.tensor.size // 8) + 16 + choice.kept * choice.tensor.itemsize
    totals = report.totals()
    assert totals["encoded_bytes"] <= totals["bitmask_ideal_bytes"] + 0.01 * totals["dense_bytes"]
    assert report.compressed_file_bytes < report.dense_file_bytes

    # the extra RAM the report states is what TFLM's own allocator records
    host = decoded.allocations["total"] - original.allocations["total"]
    assert report.decode_ram_bytes["x86_64"] == host
    assert estimate_arena(read_model(compressed), "x86_64", recording_allocator=True,
                          tflm_version=HOST_TFLM_VERSION).total == decoded.allocations["total"]


def test_model_without_weight_ops_is_left_as_it_is():
    data = keras_model_tflite("grid-add-v3", CASES["add"]).read_bytes()
    compressed, report = compress_model(data, lean=False)
    assert compressed == data and not report.compressed
    # lean, it is only rewritten when that is smaller
    lean, report = compress_model(data)
    assert not report.compressed and len(lean) <= len(data)


def test_already_compressed_model_is_refused():
    compressed, _ = compress_model(_pruned("vgg_style-90").read_bytes())
    with pytest.raises(UnsupportedModelError, match="already compressed"):
        compress_model(compressed)


def test_float_weights_stay_dense_with_a_reason(tmp_path):
    from jsqat_embed.training.zoo import keras

    import tensorflow as tf

    k = keras()
    k.utils.set_random_seed(0)
    inputs = k.Input((16,))
    model = k.Model(inputs, k.layers.Dense(300)(inputs))
    weights = model.layers[1].get_weights()
    weights[0][np.abs(weights[0]) < 0.05] = 0
    model.layers[1].set_weights(weights)
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    choices = choose(read_model(data))
    assert all(c.method == "dense" for c in choices)
    assert any("float tensor" in c.reason for c in choices)


def test_shared_weight_tensor_is_decoded_before_each_consumer():
    def build():
        from jsqat_embed.training.zoo import keras

        k = keras()
        a = k.Input((64,))
        rng = np.random.default_rng(0)
        sparse = np.where(rng.random((64, 64)) < 0.2, rng.choice([-0.5, 0.5], (64, 64)), 0.0).astype(np.float32)
        shared = k.layers.Dense(64, kernel_initializer=k.initializers.Constant(sparse))
        out = k.layers.Add()([shared(a), shared(k.layers.ReLU()(a))])
        return k.Model(a, out)

    data = keras_model_tflite("shared-dense-v2", build).read_bytes()
    model = read_model(data)
    fcs = [op for op in model.operators if op.opcode == "FULLY_CONNECTED"]
    assert len(fcs) == 2 and fcs[0].inputs[1] is fcs[1].inputs[1], "the converter did not share the weights"
    compressed, report = compress_model(data, "prune", min_bytes=0)
    assert len(report.compressed) >= 1
    decodes = [op for op in read_model(compressed).operators if op.opcode == "TFLM_DECODE"]
    assert len(decodes) == 2
    inputs = random_inputs(Emulator(data), 4, seed=1)
    original, decoded = run_reference("tflm", data, inputs), run_reference("tflm", compressed, inputs)
    assert decoded.ok, decoded.error
    for x, y, z in zip(original.outputs, decoded.outputs, Emulator(compressed).run(*inputs)):
        assert np.array_equal(x, y) and np.array_equal(y, z)


def test_cli_writes_nothing_over_existing_files(tmp_path):
    source = _pruned("vgg_style-90")
    target = tmp_path / "out.tflite"
    target.write_bytes(b"precious")
    runner = CliRunner()
    result = runner.invoke(create_app(), ["compress", str(source), "-o", str(target)])
    assert result.exit_code == 2 and "exists" in result.output
    assert target.read_bytes() == b"precious"
    result = runner.invoke(create_app(), ["compress", str(source), "-o", str(source)])
    assert result.exit_code == 2 and "is the input model" in result.output
    result = runner.invoke(create_app(), ["compress", str(source), "-o", str(target), "--force", "--json"])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() != b"precious"
    blocker = tmp_path / "a-file"  # a directory that cannot exist, even for root
    blocker.write_text("x")
    result = runner.invoke(create_app(), ["compress", str(source), "-o", str(blocker / "y.tflite")])
    assert result.exit_code == 2 and "cannot write" in result.output
