"""`jsqat-embed verify`: exit codes, JSON, images, and a reference that aborts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.training.zoo import zoo_model

runner = CliRunner()


def test_verify_random_is_bit_exact():
    path = zoo_model("resnet_style", size=32)
    result = runner.invoke(create_app(), ["verify", str(path), "--random", "6", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "tflm" in result.output and "bit-exact on all 6 samples" in result.output
    assert result.output.strip().endswith("BIT-EXACT")


def test_verify_json_shape():
    path = zoo_model("resnet_style", size=32)
    result = runner.invoke(create_app(), ["verify", str(path), "--random", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["samples"] == 3 and data["bit_exact"] is True and data["mismatches"] == 0
    assert data["first_divergence"] is None
    assert data["references"]["tflm"]["ok"] and data["references"]["tflm"]["bit_exact"]
    assert "litert" in data["references"]


def _write_images(folder, count=3, size=40):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(count):
        pixels = rng.integers(0, 256, size=(size, size + i, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{i}.{'png' if i % 2 else 'jpg'}")
    return folder


def test_verify_images(tmp_path):
    path = zoo_model("resnet_style", size=32)
    folder = _write_images(tmp_path / "images")
    result = runner.invoke(create_app(), ["verify", str(path), "--images", str(folder), "--no-litert", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["samples"] == 3 and data["bit_exact"]


def test_corrupt_image_is_named(tmp_path):
    path = zoo_model("resnet_style", size=32)
    folder = _write_images(tmp_path / "images")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = runner.invoke(create_app(), ["verify", str(path), "--images", str(folder)])
    assert result.exit_code == 2
    assert "broken.png" in result.output and "cannot read image" in result.output


def test_missing_model_exit_2(tmp_path):
    result = runner.invoke(create_app(), ["verify", str(tmp_path / "nope.tflite")])
    assert result.exit_code == 2 and "cannot read" in result.output


# --- several inputs and outputs; fully floating-point models -------------------------


def test_verify_compares_every_output_of_a_multi_io_model():
    from tests.firmware.io_models import multi_io_model
    from jsqat_embed.verify.references import run_reference
    from jsqat_embed.emulator import Emulator
    from jsqat_embed.verify.compare import random_inputs

    path = multi_io_model()
    result = runner.invoke(create_app(), ["verify", str(path), "--random", "5", "--no-litert", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["samples"] == 5 and data["bit_exact"]
    outputs = data["references"]["tflm"]["outputs"]
    assert [(o["index"], o["dtype"], o["mismatched_samples"]) for o in outputs] == [(0, "float32", 0), (1, "int8", 0)]
    # the same inputs through the real TFLM interpreter directly: two outputs, both compared
    emulator = Emulator(path)
    inputs = random_inputs(emulator, 5, 0)
    reference = run_reference("tflm", path, inputs)
    assert reference.ok and len(reference.outputs) == 2
    assert all(np.array_equal(a, b) for a, b in zip(emulator.run(*inputs), reference.outputs))
    text = runner.invoke(create_app(), ["verify", str(path), "--random", "2", "--no-litert"]).output
    assert "    output 0 'StatefulPartitionedCall:1' (float32): bit-exact" in text
    assert "    output 1 'heatmap' (int8): bit-exact" in text


def test_verify_images_need_one_image_input(tmp_path):
    from tests.firmware.io_models import multi_io_model

    folder = _write_images(tmp_path / "images")
    result = runner.invoke(create_app(), ["verify", str(multi_io_model()), "--images", str(folder)])
    assert result.exit_code == 2
    assert result.output.startswith("error: --images: images need a model with exactly one image input; this model "
                                    "has 2 inputs ('features' int8[1x8], 'serving_default_image:0' float32[1x16x16x3])")


def test_verify_refuses_a_fully_float_model_in_one_line_but_inspect_and_fit_check_answer():
    from tests.firmware.io_models import float_model

    path = float_model()
    result = runner.invoke(create_app(), ["verify", str(path)])
    assert result.exit_code == 2
    assert result.output == f"error: {path.name}: fully floating-point model; quantize it first (int8)\n"
    result = runner.invoke(create_app(), ["verify", str(path), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output) == {"error": f"{path.name}: fully floating-point model; quantize it first (int8)"}
    assert runner.invoke(create_app(), ["inspect", str(path)]).exit_code == 0
    assert runner.invoke(create_app(), ["fit-check", str(path), "--board", "esp32s3"]).exit_code in (0, 1)


def _corpus(**filters):
    try:
        from tests.corpus_models import corpus_params
    except ImportError:  # the corpus is optional
        return []
    return corpus_params(**filters)


@pytest.mark.parametrize("model", _corpus(tflm="runs",
                                           where=lambda m: "float" in m.kind or "float16-weights" in m.tags))
def test_verify_refuses_every_real_fully_float_model(model):
    """Real float models TFLM runs: verify refuses them all, and none with a quantized tensor (for those TFLM
    refuses, TFLM's own reason comes first: tests/test_corpus.py)."""
    from jsqat_embed.tflite import read_model

    graph = read_model(model.path)
    result = runner.invoke(create_app(), ["verify", str(model.path), "--no-litert"])
    assert result.exit_code == 2
    assert result.output == f"error: {model.file}: fully floating-point model; quantize it first (int8)\n"
    assert not any(t.dtype in ("int8", "uint8", "int16") for t in graph.tensors)


@pytest.mark.parametrize("model", _corpus(tflm="runs", where=lambda m: "float-io" in m.tags))
def test_verify_does_not_call_quantized_models_with_float_io_float(model):
    from jsqat_embed.verify.support import check_not_fully_floating_point
    from jsqat_embed.tflite import read_model

    assert check_not_fully_floating_point(read_model(model.path)) == (True, "")


# --- per image: class, score, bit-exactness; text that fits 80 and 200 columns ------------------

REPO = Path(__file__).resolve().parents[2]

VERIFY_IMAGES_80 = """\
person_detect: 8 samples (8 images from samples), emulator T ms
  tflm (tflite-micro {tflm}): bit-exact on all 8 samples
  litert (ai-edge-litert {litert}): SKIPPED - 14 per-channel tensors declare a
      quantized_dimension past their rank, which TFLM accepts and LiteRT refuses

  image                 class         score  bit-exact
  --------------------  -----------  ------  ---------
  cmu1_x0672_y2688.png  0 no person  0.6758  yes
  cmu1_x0896_y1344.png  0 no person  0.7344  yes
  cmu1_x0896_y1792.png  0 no person  0.5273  yes
  cmu1_x1120_y0896.png  0 no person  0.6953  yes
  cmu1_x1120_y1568.png  0 no person  0.5391  yes
  cmu1_x1120_y2464.png  0 no person  0.6875  yes
  cmu1_x1344_y0672.png  0 no person  0.5352  yes
  cmu1_x1568_y2240.png  0 no person  0.5078  yes

BIT-EXACT
"""

VERIFY_IMAGES_200 = VERIFY_IMAGES_80.replace(
    "declare a\n      quantized_dimension", "declare a quantized_dimension")


def _labelled_person_detect(folder: Path) -> Path:
    """TFLM's person_detect with its class names in a ``labels`` metadata entry (what make_demo_model.py writes)."""
    from jsqat_embed.tflite import read_model
    from jsqat_embed.tflite.writer import write_model

    model = read_model(REPO / "tests" / "corpus" / "person_detect.tflite")
    model.metadata["labels"] = "no person\nperson\n".encode("utf-8")
    path = folder / "person_detect.tflite"
    path.write_bytes(write_model(model))
    return path


@pytest.mark.parametrize("columns, expected", [(80, VERIFY_IMAGES_80), (200, VERIFY_IMAGES_200)])
def test_verify_images_text_fits_the_terminal_exactly(tmp_path, monkeypatch, columns, expected):
    import re
    from importlib.metadata import version

    model = _labelled_person_detect(tmp_path)
    monkeypatch.chdir(REPO)
    result = runner.invoke(create_app(), ["verify", str(model), "--images", "samples", "--preprocess", "unit"],
                           env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    text = re.sub(r"emulator [0-9.]+ m?s\n", "emulator T ms\n", result.output)
    assert text == expected.format(tflm=version("tflite-micro"), litert=version("ai-edge-litert"))
    assert max(len(line) for line in result.output.splitlines()) <= columns


def test_verify_images_json_has_each_images_class_score_and_bit_exactness(tmp_path):
    from importlib.metadata import version

    model = _labelled_person_detect(tmp_path)
    labels = tmp_path / "labels.txt"
    labels.write_text("background\nsomeone\n", encoding="utf-8")
    result = runner.invoke(create_app(), ["verify", str(model), "--images", str(REPO / "samples"), "--preprocess",
                                          "unit", "--labels", str(labels), "--no-litert", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["references"]["tflm"]["version"] == f"tflite-micro {version('tflite-micro')}"
    images = data["images"]
    assert [image["image"] for image in images] == sorted(p.name for p in (REPO / "samples").glob("*.png"))
    for image in images:  # --labels wins over the metadata
        assert image["label"] == ["background", "someone"][image["class"]] and image["bit_exact"] is True
        assert image["tflm"] == {"class": image["class"], "label": image["label"], "score": image["score"]}
        assert 0 <= image["score"] <= 1 and (image["score"] * 256).is_integer()  # softmax output, scale 1/256
    text = runner.invoke(create_app(), ["verify", str(model), "--random", "2", "--json", "--no-litert"]).output
    assert "images" not in json.loads(text)  # random inputs: no per-image rows


def test_labels_that_do_not_match_the_output_or_come_without_images_are_refused(tmp_path):
    model = _labelled_person_detect(tmp_path)
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n", encoding="utf-8")
    result = runner.invoke(create_app(), ["verify", str(model), "--images", str(REPO / "samples"), "--labels",
                                          str(labels)])
    assert result.exit_code == 2
    assert result.output == (f"error: --labels {labels}: 3 class names, but output 0 "
                             "'MobilenetV1/Predictions/Reshape_1' has 2 values per sample\n")
    result = runner.invoke(create_app(), ["verify", str(model), "--labels", str(labels)])
    assert result.exit_code == 2
    assert result.output == "error: --labels names the classes of --images; pass --images too\n"


def test_litert_on_a_decode_model_is_skipped_not_failed(tmp_path):
    from tests.verify.test_skips import _decode_model

    path = tmp_path / "kws_decode.tflite"
    path.write_bytes(_decode_model(lean=False))
    result = runner.invoke(create_app(), ["verify", str(path), "--random", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "litert (ai-edge-litert" in result.output
    assert "): SKIPPED - LiteRT has no kernel for TFLM's custom op TFLM_DECODE\n" in result.output
    assert "FAILED" not in result.output
