"""Placement and fit rules on boards written for the test, so each rule is exercised alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from jsqat_embed.boards import load_board, load_board_file
from jsqat_embed.memory.fit import fit_board
from jsqat_embed.tflite import read_model

DEMO = Path(__file__).resolve().parents[2] / "models" / "demo_mobilenetv2_a035_96.tflite"


def board(tmp_path, regions: str, kernel_library: str = "reference") -> object:
    text = f"""
[board]
id = "t"
name = "t"
mcu = "t"
core = "Cortex-M4F"
pointer_bits = 32
clock_mhz = 100
kernel_library = "{kernel_library}"
build_systems = ["cmake"]
int8_macs_per_cycle = 1.0
sources = ["https://example.com"]
{regions}
"""
    path = tmp_path / "t.toml"
    path.write_text(text)
    return load_board_file(path)


def region(name, kind, size, reserved=0):
    return f'\n[[regions]]\nname = "{name}"\nkind = "{kind}"\nsize_bytes = {size}\nreserved_bytes = {reserved}\n'


@pytest.fixture(scope="module")
def demo():
    return read_model(DEMO)


def test_model_goes_to_internal_flash_when_it_fits(tmp_path, demo):
    fit = fit_board(demo, board(tmp_path, region("flash", "flash", 4 << 20) + region("ram", "sram", 1 << 20)))
    assert fit.fits and fit.model_region.name == "flash" and fit.arena_region.name == "ram"
    assert fit.flash_total == fit.model_bytes + fit.runtime.total + fit.flash_reserve


def test_model_moves_to_external_flash_when_internal_is_too_small(tmp_path, demo):
    regions = region("flash", "flash", 256 << 10, 16 << 10) + region("qspi", "external_flash", 8 << 20) \
        + region("ram", "sram", 1 << 20)
    fit = fit_board(demo, board(tmp_path, regions))
    assert fit.fits and fit.model_region.name == "qspi"
    assert any("external flash" in w for w in fit.warnings)


def test_arena_falls_back_to_psram_with_a_warning(tmp_path, demo):
    regions = region("flash", "flash", 4 << 20) + region("ram", "sram", 64 << 10) + region("psram", "psram", 8 << 20)
    fit = fit_board(demo, board(tmp_path, regions))
    assert fit.fits and fit.arena_region.name == "psram"
    assert any("psram" in w and "slower" in w for w in fit.warnings)


def test_arena_must_fit_one_contiguous_region(tmp_path, demo):
    # Two SRAM banks that together would hold the arena but neither alone.
    arena = fit_board(demo, load_board("host")).arena.total
    half = arena // 2 + 4096
    regions = region("flash", "flash", 4 << 20) + region("a", "sram", half) + region("b", "sram", half)
    fit = fit_board(demo, board(tmp_path, regions))
    assert not fit.fits and fit.arena_region is None
    assert any("largest contiguous RAM region" in r for r in fit.reasons)


def test_reserve_counts_against_capacity(tmp_path, demo):
    generous = fit_board(demo, board(tmp_path, region("flash", "flash", 4 << 20) + region("ram", "sram", 256 << 10)))
    assert generous.fits
    reserved = region("flash", "flash", 4 << 20) + region("ram", "sram", 256 << 10, (256 << 10) - generous.arena_bytes + 16)
    tight = fit_board(demo, board(tmp_path, reserved))
    assert not tight.fits


def test_nothing_fits_when_flash_is_too_small_anywhere(tmp_path, demo):
    fit = fit_board(demo, board(tmp_path, region("flash", "flash", 128 << 10) + region("ram", "sram", 1 << 20)))
    assert not fit.fits and fit.model_region is None
    assert any(r.startswith("flash:") for r in fit.reasons)


def test_latency_scales_with_clock_and_throughput(tmp_path, demo):
    fit = fit_board(demo, board(tmp_path, region("flash", "flash", 4 << 20) + region("ram", "sram", 1 << 20)))
    assert fit.latency_ms == pytest.approx(fit.macs / (1.0 * 100e6) * 1000)


def test_pruned_encoding_is_chosen_when_only_it_fits(tmp_path):
    from jsqat_embed.compress.encoder import compress_model
    from jsqat_embed.compress.plan import pruned_variant
    from jsqat_embed.memory.fit import fit_with_encodings
    from jsqat_embed.training.zoo import pruned_zoo_model

    data = pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.5).read_bytes()
    model = read_model(data)
    compressed, report = compress_model(data, "prune")
    # flash one byte short of what the dense model needs: only the pruned model can fit
    roomy = fit_board(model, board(tmp_path, region("flash", "flash", 8 << 20) + region("ram", "sram", 1 << 20), "cmsis-nn"))
    flash = roomy.flash_total - 1
    profile = board(tmp_path, region("flash", "flash", flash) + region("ram", "sram", 1 << 20), "cmsis-nn")
    dense = fit_board(model, profile)
    assert not dense.fits
    chosen = fit_with_encodings(model, profile, pruned_variant(model))
    assert chosen.fits and chosen.encoding == "prune"
    assert not chosen.dense.fits and chosen.dense.flash_total == dense.flash_total
    # the flash it reports is that of the real compressed file, within the estimate's +2 %
    assert len(compressed) <= chosen.model_bytes <= len(compressed) * 1.02 + 16
    # and the RAM is that of the real compressed model's arena (decoded weights included)
    real = fit_board(read_model(compressed), profile)
    assert chosen.arena.total == real.arena.total
    assert chosen.arena.total > dense.arena.total
    assert "TFLM_DECODE" in chosen.runtime.ops
    assert any("DECODE pruning" in w for w in chosen.warnings)
