"""The host arena estimate equals, to the byte, what the real TFLM interpreter records.

Every model is run by the tflite-micro package's interpreter in a subprocess
(RecordingMicroAllocator, ``print_allocations()``); the estimate is computed from
the .tflite alone. The models are the emulator's op grid (57 single-op or
few-op models: conv/depthwise variants, dense heads, pooling, residual adds,
concatenations, softmax, data movement, float I/O), the whole CNNs
(VGG/ResNet/MobileNetV2-style), six keras.applications backbones and a
PyTorch-exported MobileNetV2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jsqat_embed.boards import load_board
from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION, estimate_arena
from jsqat_embed.tflite import read_model
from jsqat_embed.training.zoo import KERAS_APPLICATIONS, zoo_model
from jsqat_embed.verify.references import run_reference
from tests.emulator.test_models import WHOLE_MODELS
from tests.emulator.test_op_grid import CASES
from tests.helpers import keras_model_tflite

DATA = Path(__file__).resolve().parents[1] / "data"
REPO = Path(__file__).resolve().parents[2]


def _grid(name: str, io_dtype: str = "int8") -> Path:
    return keras_model_tflite(f"grid-{name}-v3", CASES[name], io_dtype=io_dtype)


def _whole(name: str) -> Path:
    spec = dict(WHOLE_MODELS[name])
    return zoo_model(spec.pop("arch"), **spec)


MODELS = {f"grid-{name}": (lambda n=name: _grid(n)) for name in CASES}
MODELS.update({f"grid-{name}-float-io": (lambda n=name: _grid(n, "float32"))
               for name in ("fc-bias", "conv-k3-s2-same-relu", "softmax-10")})
MODELS.update({name: (lambda n=name: _whole(n)) for name in WHOLE_MODELS})
MODELS.update({f"app-{name}": (lambda n=name: zoo_model("application", size=32, name=n)) for name in KERAS_APPLICATIONS})
MODELS["pytorch-mobilenetv2"] = lambda: DATA / "pytorch_mobilenetv2_a035_96.tflite"
MODELS["demo-mobilenetv2"] = lambda: REPO / "models" / "demo_mobilenetv2_a035_96.tflite"


def host_estimate(path: Path):
    return estimate_arena(read_model(path), HOST, "reference", recording_allocator=True, tflm_version=HOST_TFLM_VERSION)


@pytest.mark.parametrize("name", list(MODELS))
def test_host_arena_equals_tflm_recording(name):
    path = MODELS[name]()
    estimate = host_estimate(path)
    recorded = run_reference("tflm", path)
    assert recorded.ok, recorded.error
    assert recorded.allocations, "the interpreter printed no allocation figures"
    assert (estimate.head, estimate.tail, estimate.total) == (
        recorded.allocations["head"], recorded.allocations["tail"], recorded.allocations["total"])
    # Categories the recorder itemizes must agree too (a cancelling error would show here).
    eval_tensors = recorded.records["TfLiteEvalTensor data"]["requested"]
    assert eval_tensors == sum(i.bytes for i in estimate.tail_items if i.category == "eval tensors")


def test_suite_is_varied_enough():
    """The issue asks for >= 20 varied models; count them and the op kinds they cover."""
    assert len(MODELS) >= 20
    ops = set()
    for name in ("grid-add", "grid-concat-channels", "grid-dw-m2-s1-same-relu6", "grid-avgpool-3-2-same",
                 "grid-fc-bias", "resnet-style-32", "vgg-style-32", "mobilenetv2-a0.35-96"):
        ops |= {op.opcode for op in read_model(MODELS[name]()).operators}
    assert {"ADD", "CONCATENATION", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D",
            "FULLY_CONNECTED", "CONV_2D", "MEAN"} <= ops


def test_host_board_uses_the_exact_configuration():
    from jsqat_embed.memory.fit import fit_board

    path = MODELS["resnet-style-32"]()
    fit = fit_board(read_model(path), load_board("host"))
    assert fit.margin.total == 0
    assert fit.arena_bytes == host_estimate(path).total


def test_32_bit_target_is_smaller_than_host_and_documented_structs_differ():
    """On arm32 pointers halve the eval tensors and nodes; the head (tensor data) is the same."""
    model = read_model(MODELS["mobilenetv2-a0.35-96"]())
    host = estimate_arena(model, HOST, "reference")
    arm = estimate_arena(model, "arm32", "reference")
    assert arm.head == host.head
    assert arm.tail < host.tail
    by_host, by_arm = host.tail_by_category(), arm.tail_by_category()
    assert by_arm["eval tensors"] * 2 == by_host["eval tensors"]
    assert by_arm["nodes"] * 2 == by_host["nodes"]
