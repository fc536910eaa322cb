"""Image preprocessing: documented mapping from pixels to the model's int8 input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jsqat_embed.errors import InputDataError
from jsqat_embed.graph.model import Quantization, Tensor
from jsqat_embed.verify.images import load_images, quantize_real


def _input(scale=1 / 127.5, zero_point=-1, shape=(1, 4, 4, 3)):
    return Tensor(0, "input", shape, "int8", Quantization(np.array([scale], np.float32), np.array([zero_point])))


def test_symmetric_mapping_of_extremes(tmp_path):
    Image.fromarray(np.full((4, 4, 3), 255, np.uint8)).save(tmp_path / "white.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "black.png")
    batch, paths = load_images(tmp_path, _input(scale=1 / 128, zero_point=0))
    assert [p.name for p in paths] == ["black.png", "white.png"]
    assert batch.dtype == np.int8
    assert (batch[0] == -128).all()  # -1.0 / 2^-7 = -128 exactly
    assert (batch[1] == 127).all()  # +128 clamps to the int8 maximum


def test_rounding_is_half_away_from_zero():
    tensor = _input(scale=1.0, zero_point=0)
    values = np.array([0.5, -0.5, 1.5, -1.5, 2.5])
    assert quantize_real(values, tensor).tolist() == [1, -1, 2, -2, 3]


def test_grayscale_and_alpha_images_become_rgb(tmp_path):
    Image.fromarray(np.full((6, 6), 128, np.uint8), mode="L").save(tmp_path / "gray.png")
    Image.fromarray(np.full((6, 6, 4), 200, np.uint8), mode="RGBA").save(tmp_path / "alpha.png")
    batch, _ = load_images(tmp_path, _input())
    assert batch.shape == (2, 4, 4, 3)


def test_empty_folder_and_unknown_preprocess(tmp_path):
    with pytest.raises(InputDataError, match="no images found"):
        load_images(tmp_path, _input())
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(InputDataError, match="unknown preprocessing"):
        load_images(tmp_path, _input(), preprocess="imagenet")
