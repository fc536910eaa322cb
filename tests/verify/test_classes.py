"""Per-image top class and score (verify --images) against the real TFLM interpreter's outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.errors import InputDataError
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.classes import check_labels, model_labels, parse_labels, predictions
from jsqat_embed.verify.compare import verify
from jsqat_embed.verify.images import load_images
from jsqat_embed.verify.references import TFLM, run_reference

REPO = Path(__file__).resolve().parents[2]
PERSON_DETECT = REPO / "tests" / "corpus" / "person_detect.tflite"
SAMPLES = REPO / "samples"
DEMO = REPO / "models" / "capricorn_densenet121_int8.tflite"


def _tflm_output_quantization(path: Path) -> tuple[float, int]:
    """Output 0's scale and zero point as the real TFLM interpreter reports them (its own process)."""
    code = ("import json, sys\nfrom tflite_micro.python.tflite_micro import runtime\n"
            "q = runtime.Interpreter.from_file(sys.argv[1]).get_output_details(0)['quantization_parameters']\n"
            "print(json.dumps([float(q['scales'][0]), int(q['zero_points'][0])]))\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    scale, zero_point = json.loads(out.stdout.strip().splitlines()[-1])
    return scale, zero_point


def test_each_image_gets_tflms_top_class_and_real_score():
    emulator = Emulator(PERSON_DETECT)
    batch, paths = load_images(SAMPLES, emulator.inputs[0], "unit")
    labels = ["no person", "person"]  # TFLM's person_detection example: kNotAPersonIndex 0, kPersonIndex 1
    report = verify(emulator, [batch], references=(TFLM,), images=[p.name for p in paths], labels=labels)
    reference = run_reference(TFLM, PERSON_DETECT, [batch])
    assert reference.ok, reference.error
    scale, zero_point = _tflm_output_quantization(PERSON_DETECT)
    scores = (reference.outputs[0].reshape(len(paths), -1).astype(np.float64) - zero_point) * scale
    assert [image.image for image in report.images] == [p.name for p in paths] and len(paths) == 8
    for image, row in zip(report.images, scores):
        assert image.index == int(np.argmax(row)) and image.label == labels[image.index]
        assert image.score == row[image.index]
        assert image.bit_exact is True
        assert (image.tflm.index, image.tflm.score) == (image.index, image.score)
    rows = report.to_json()["images"]
    assert rows[0] == {"image": paths[0].name, "class": report.images[0].index, "label": report.images[0].label,
                       "score": report.images[0].score, "bit_exact": True,
                       "tflm": {"class": report.images[0].index, "label": report.images[0].label,
                                "score": report.images[0].score}}


def test_an_image_that_differs_is_marked_and_gets_tflms_answer():
    tensor = read_model(PERSON_DETECT).outputs[0]  # int8, scale 1/256, zero point -128
    ours = np.array([[10, 20], [30, -40]], np.int8)
    theirs = np.array([[10, 20], [-50, 40]], np.int8)
    first, second = predictions(["a.png", "b.png"], ours, theirs, tensor, ["no", "yes"], {1})
    assert (first.index, first.bit_exact, second.index, second.bit_exact) == (1, True, 0, False)
    assert (second.tflm.index, second.tflm.label) == (1, "yes")
    assert second.tflm.score == (40 - tensor.zero_point) * tensor.scale
    (alone,) = predictions(["c.png"], ours[:1], None, tensor, None, None)
    assert alone.bit_exact is None and alone.tflm is None and alone.label is None


def test_labels_text_and_count():
    assert parse_labels("a\r\nb c\n\n") == ["a", "b c"]
    tensor = read_model(PERSON_DETECT).outputs[0]
    check_labels(["no person", "person"], tensor, "--labels x")
    with pytest.raises(InputDataError, match=r"--labels x: 3 class names, but output 0 '.*' has 2 values per sample"):
        check_labels(["a", "b", "c"], tensor, "--labels x")


@pytest.mark.skipif(not DEMO.exists(), reason="the demo model is made by scripts/make_demo_model.py")
def test_the_demo_models_labels_metadata_is_read():
    labels = model_labels(read_model(DEMO))
    assert len(labels) == 24 and labels[0] == "adipose" and labels[8] == "colorectal adenocarcinoma epithelium"
    assert model_labels(read_model(PERSON_DETECT)) is None
