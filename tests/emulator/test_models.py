"""Whole models, bit-exact against the real TFLM kernels.

The three architectures of the issue on >= 16 random inputs each, and the
keras.applications backbones the converter emits the most varied ops for, so
every op of those models is known to be emulated exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.training.zoo import KERAS_APPLICATIONS, zoo_model
from tests.helpers import assert_bit_exact_with_tflm, random_inputs

WHOLE_MODELS = {
    "mobilenetv2-a0.35-96": dict(arch="mobilenetv2", size=96, alpha=0.35),
    "vgg-style-32": dict(arch="vgg_style", size=32),
    "resnet-style-32": dict(arch="resnet_style", size=32),
}


def _path(spec):
    spec = dict(spec)
    return zoo_model(spec.pop("arch"), **spec)


@pytest.mark.parametrize("name", list(WHOLE_MODELS))
def test_whole_model_bit_exact(name):
    assert_bit_exact_with_tflm(_path(WHOLE_MODELS[name]), samples=16, seed=7)


@pytest.mark.parametrize("name", KERAS_APPLICATIONS)
def test_keras_application_bit_exact(name):
    # 32x32 is the smallest input every backbone accepts; the ops are the same as at 224.
    path = zoo_model("application", size=32, name=name)
    assert_bit_exact_with_tflm(path, samples=4, seed=3)


def test_batched_run_equals_one_by_one():
    emulator = Emulator(_path(WHOLE_MODELS["resnet-style-32"]))
    batch = random_inputs(emulator, 5, seed=11)[0]
    together = emulator.run(batch)[0]
    alone = np.concatenate([emulator.run(batch[i : i + 1])[0] for i in range(5)])
    assert together.tobytes() == alone.tobytes()


def test_chunked_run_equals_single_chunk():
    path = _path(WHOLE_MODELS["vgg-style-32"])
    batch = random_inputs(Emulator(path), 7, seed=5)[0]
    assert Emulator(path, chunk=3).run(batch)[0].tobytes() == Emulator(path, chunk=64).run(batch)[0].tobytes()


def test_pytorch_exported_mobilenetv2_bit_exact():
    """litert-torch's export: NCHW input, TRANSPOSE, explicit PAD, float residual adds between
    DEQUANTIZE and QUANTIZE (regenerate with scripts/make_pytorch_mobilenetv2.py)."""
    from pathlib import Path

    from jsqat_embed.tflite import read_model

    path = Path(__file__).resolve().parents[1] / "data" / "pytorch_mobilenetv2_a035_96.tflite"
    model = read_model(path)
    assert model.inputs[0].shape == (1, 3, 96, 96)
    ops = {op.opcode for op in model.operators}
    assert {"TRANSPOSE", "PAD", "QUANTIZE", "DEQUANTIZE"} <= ops
    assert_bit_exact_with_tflm(path, samples=16, seed=2)
