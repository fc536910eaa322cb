"""Per-tensor choice by file bytes (ancillary data and DECODE bookkeeping included), and what uses it:
the report, fit-check's plan (decoding RAM per encoding) and build --encoding auto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsqat_embed.boards import load_board_file
from jsqat_embed.cli.compress_cmd import short_name
from jsqat_embed.cli.main import create_app
from jsqat_embed.compress.encoder import buffer_footprint, compress_model
from jsqat_embed.compress.plan import variants
from jsqat_embed.memory.fit import fit_board, fit_with_encodings
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.writer import write_model
from jsqat_embed.training.zoo import pruned_zoo_model

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _mobilenet(sparsity=0.5) -> bytes:
    return pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=sparsity).read_bytes()


@pytest.mark.parametrize("strip", [(), ("names", "metadata")])
def test_each_tensor_takes_the_encoding_with_the_fewest_file_bytes(strip):
    data = _mobilenet()
    compressed, report = compress_model(data, strip=strip)
    methods = report.totals()["methods"]
    assert methods.get("huffman", 0) >= 10, methods
    predicted = len(write_model(read_model(data), lean=True, strip=strip))
    for choice in report.choices:
        own = {m: buffer_footprint(size) + choice.overhead for m, size in choice.sizes.items()}
        if choice.method == "dense":
            assert all(cost >= buffer_footprint(choice.dense_bytes) for cost in own.values()), choice.to_json()
            continue
        encoded, ancillary = choice.encoding()
        if choice.table_shared_by == 1:  # its own table: the cheapest of its encodings, and cheaper than dense
            assert choice.sizes[choice.method] == len(encoded) + len(ancillary) == choice.encoded_bytes
            assert own[choice.method] == min(own.values()) < buffer_footprint(choice.dense_bytes)
        predicted += (buffer_footprint(len(encoded)) + (buffer_footprint(len(ancillary)) if choice.encoded_bytes > len(encoded)
                      else 0) + choice.overhead - buffer_footprint(choice.dense_bytes))
    # the bookkeeping estimate (DECODE operator, tensors, names) holds on the real file
    assert abs(len(compressed) - predicted) <= 0.01 * len(compressed)
    entries = json.loads(json.dumps(report.to_json()))["tensors"]
    assert {"sizes", "ancillary_bytes", "decode_bookkeeping_bytes", "huffman_table_shared_by"} <= set(entries[0])


def test_names_are_shortened_in_the_middle():
    name = "model/block_12_expand/Conv2D;model/block_12_expand_BN/FusedBatchNormV3"
    short = short_name(name, 20)
    assert len(short) == 20 and short.startswith("model/blo") and short.endswith("and/Conv2D") and "…" in short
    assert short_name("conv/Conv2D;other") == "conv/Conv2D"


def test_report_lists_every_method_per_tensor(tmp_path):
    source = pruned_zoo_model("vgg_style", size=32, sparsity=0.7)
    result = runner.invoke(create_app(), ["compress", str(source), "-o", str(tmp_path / "out.tflite")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "tensor" in line and "method" in line)
    for column in ("dense", "huffman", "prune", "lut", "chosen", "entropy"):
        assert column in header
    assert "weights" in result.output and "the rest" in result.output


def _board(tmp_path: Path, flash: int, name: str = "tight-nano") -> Path:
    text = (REPO / "boards" / "arduino-nano-33-ble-sense.toml").read_text().replace(
        'id = "arduino-nano-33-ble-sense"', f'id = "{name}"').replace("size_bytes = 262144", "size_bytes = 1048576")
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace("size_bytes = 1048576", f"size_bytes = {flash}", 1))
    return path


def test_fit_and_build_take_the_smallest_encoding_that_fits(tmp_path):
    from jsqat_embed.firmware.project import build_project

    path = pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.5)
    model = read_model(path)
    found = list(variants(model))
    assert [v[2][0].method for v in found][0] == "prune" and len(found) == 2
    assert found[1][1] < found[0][1]  # the per-tensor smallest encoding is smaller than pruning alone
    roomy = load_board_file(_board(tmp_path, 8 << 20, "roomy"))
    need = {label: fit_board(graph, roomy, file_bytes=size).flash_total for label, (graph, size, _) in
            zip(("prune", "auto"), found)}
    # flash between the two: pruning does not fit, the smallest encoding does
    board = load_board_file(_board(tmp_path, (need["prune"] + need["auto"]) // 2))
    chosen = fit_with_encodings(model, board, variants(model))
    assert chosen.fits and chosen.encoding in ("huffman", "auto")
    assert not chosen.dense.fits
    # the arena is the real compressed file's (decoded weights included): decoding RAM counted for this encoding
    compressed, report = compress_model(path.read_bytes())
    real = fit_board(read_model(compressed), board)
    assert chosen.model_bytes == len(compressed)
    assert chosen.arena.total == real.arena.total > chosen.dense.arena.total
    # build takes the smallest encoding that fits, even where pruning would fit too (room left for a golden case)
    board = load_board_file(_board(tmp_path, need["auto"] + 40_000, "golden-room"))
    assert need["prune"] < need["auto"] + 40_000 < fit_board(model, board).flash_total
    result = build_project(path, board, tmp_path / "fw", golden=1)
    assert result.encoding in ("huffman", "smallest")
    assert result.fit.fits and result.fit.model_bytes == len(compressed)
    # fit-check settles for pruning where that fits (the quicker plan)
    board = load_board_file(_board(tmp_path, need["prune"] + 64, "prune-fits"))
    assert fit_with_encodings(model, board, variants(model)).encoding == "prune"
