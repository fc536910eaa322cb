"""`jsqat-embed verify`: exit codes, JSON, images, and a reference that aborts."""

from __future__ import annotations

import json

import numpy as np
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
