"""`fit-check --plot` and `inspect --plot`: real images of what the reports say, and a clear error without matplotlib."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from jsqat_embed.boards import list_boards
from jsqat_embed.cli.main import create_app
from jsqat_embed.memory.arena import estimate_arena
from jsqat_embed.memory.fit import fit_board
from jsqat_embed.plot import plot_arena, plot_fit
from jsqat_embed.plot.arena import head_profile
from jsqat_embed.plot.fit import bars
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.references import run_reference

pytest.importorskip("matplotlib")

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "models" / "demo_mobilenetv2_a035_96.tflite"


def assert_picture(path: Path, min_width: int = 600, min_height: int = 300) -> None:
    """A PNG that opens, of a readable size, with more on it than a blank page; or a well-formed SVG."""
    assert path.is_file() and path.stat().st_size > 2000, path
    if path.suffix == ".png":
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            assert min_width <= width <= 4000 and min_height <= height <= 4000, image.size
            pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
        colours = np.unique(pixels, axis=0)
        assert len(colours) > 20, "the picture is (nearly) blank"
        assert (pixels != 255).any(axis=1).mean() > 0.05, "almost nothing is drawn"
    else:
        root = ElementTree.parse(path).getroot()
        assert root.tag.endswith("svg")
        assert float(root.get("width").removesuffix("pt")) >= min_width * 0.6
        assert len(list(root.iter())) > 200, "the SVG holds almost no elements"


@pytest.fixture(scope="module")
def demo_fits():
    model = read_model(DEMO)
    return model, [fit_board(model, board) for board in list_boards()]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_fit_picture_renders(tmp_path, demo_fits, suffix):
    model, fits = demo_fits
    path = plot_fit(fits, tmp_path / f"fit{suffix}", DEMO.name)
    assert_picture(path, min_height=400)


def test_fit_bars_add_up_to_what_fit_check_reports(demo_fits):
    _, fits = demo_fits
    for fit in fits:
        drawn = bars(fit)
        flash_parts, flash_capacity, _ = drawn["flash"]
        ram_parts, ram_capacity, _ = drawn["ram"]
        assert sum(count for _, count in flash_parts) == fit.flash_total
        assert flash_capacity == fit.flash_capacity
        assert sum(count for _, count in ram_parts) == fit.ram_total
        assert ram_capacity == fit.ram_capacity


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_arena_picture_renders(tmp_path, suffix):
    path = plot_arena(read_model(DEMO), tmp_path / f"arena{suffix}")
    assert_picture(path)


def test_arena_outline_peaks_at_the_head_tflm_records():
    """The drawn outline's highest point is the planned head the real TFLM interpreter allocates."""
    model = read_model(DEMO)
    recorded = run_reference("tflm", DEMO)
    assert recorded.ok, recorded.error
    profile = head_profile(estimate_arena(model), len(model.operators))
    assert len(profile) == len(model.operators) + 1
    assert max(profile) == recorded.allocations["head"]


def test_fit_check_plot_option(tmp_path):
    picture = tmp_path / "out" / "fit.png"
    result = runner.invoke(create_app(), ["fit-check", str(DEMO), "-b", "esp32s3", "-b", "esp32-devkitc",
                                          "--plot", str(picture)])
    assert result.exit_code == 1, result.output  # esp32-devkitc's DRAM is too small for this arena
    assert f"picture: {picture}" in result.output
    assert_picture(picture, min_height=150)


def test_fit_check_plot_with_json_keeps_the_json_clean(tmp_path):
    picture = tmp_path / "fit.svg"
    result = runner.invoke(create_app(), ["fit-check", str(DEMO), "-b", "host", "--json", "--plot", str(picture)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["boards"][0]["board"] == "host"
    assert_picture(picture, min_height=100)


def test_inspect_plot_option(tmp_path):
    picture = tmp_path / "arena.png"
    result = runner.invoke(create_app(), ["inspect", str(DEMO), "--plot", str(picture)])
    assert result.exit_code == 0, result.output
    assert f"picture: {picture}" in result.output
    assert_picture(picture)


@pytest.mark.parametrize("command", [["inspect"], ["fit-check", "-b", "host"]])
def test_unknown_picture_type_is_refused(tmp_path, command):
    picture = tmp_path / "arena.gif"
    result = runner.invoke(create_app(), [command[0], str(DEMO), *command[1:], "--plot", str(picture)])
    assert result.exit_code == 2
    assert "must end in .png, .svg, .pdf" in result.output
    assert not picture.exists()


@pytest.mark.parametrize("command", [["inspect"], ["fit-check", "-b", "host"]])
def test_missing_matplotlib_is_one_line_and_exit_2(tmp_path, monkeypatch, command):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    picture = tmp_path / "x.png"
    result = runner.invoke(create_app(), [command[0], str(DEMO), *command[1:], "--plot", str(picture)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == ["error: --plot needs matplotlib, which is not installed: pip install 'jsqat-embed[plot]'"]
    assert not picture.exists()

