"""`jsqat-embed inspect`: tables, JSON, warnings, errors, and no TensorFlow import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.graph.analysis import summarize
from jsqat_embed.tflite import read_model
from jsqat_embed.training.zoo import zoo_model

runner = CliRunner()


def test_inspect_table_and_totals():
    path = zoo_model("resnet_style", size=32)
    result = runner.invoke(create_app(), ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    model = read_model(path)
    convs = sum(op.opcode == "CONV_2D" for op in model.operators)
    assert f"CONV_2D x{convs}" in result.output
    assert "no device warnings" in result.output
    # MACs of the first conv: 16x16 outputs x 16 channels x 3x3x3 taps
    assert "110.59k" in result.output


def test_inspect_json_counts_macs_from_shapes():
    path = zoo_model("resnet_style", size=32)
    result = runner.invoke(create_app(), ["inspect", str(path), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    model = read_model(path)
    first = data["layers"][0]
    filt = model.operators[0].inputs[1]
    out = model.operators[0].outputs[0]
    assert first["macs"] == out.shape[1] * out.shape[2] * out.shape[3] * filt.shape[1] * filt.shape[2] * filt.shape[3]
    assert data["total_macs"] == sum(layer["macs"] for layer in data["layers"])
    assert set(data) >= {"op_counts", "layers", "total_params", "total_macs", "warnings", "inputs", "outputs"}


def test_sparsity_counts_zero_points():
    model = read_model(zoo_model("resnet_style", size=32))
    weights = model.operators[1].inputs[1]
    expected = float((weights.data == 0).mean())  # symmetric int8 weights: zero point 0
    assert summarize(model).layers[1].weight_sparsity == expected


def test_bad_file_exit_code_2(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 3)
    result = runner.invoke(create_app(), ["inspect", str(bad)])
    assert result.exit_code == 2
    assert "error:" in result.output and "too small" in result.output
    result = runner.invoke(create_app(), ["inspect", str(bad), "--json"])
    assert result.exit_code == 2 and "too small" in json.loads(result.output)["error"]


def test_inspect_imports_no_tensorflow():
    path = zoo_model("resnet_style", size=32)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "jsqat_embed", "inspect", str(path)],
                          capture_output=True, text=True, check=True)
    imported = [line for line in proc.stderr.splitlines() if "tensorflow" in line or "keras" in line]
    assert imported == []


def test_space_to_batch_padding_is_flagged():
    """TFLM pads SPACE_TO_BATCH_ND with a persistent value it never writes: on a reused arena
    a Cortex-M4 gave other bytes than the emulator (tests/memory/test_arena_qemu.py)."""
    from tests.emulator.test_op_grid import CASES
    from tests.helpers import keras_model_tflite

    path = keras_model_tflite("grid-space-to-batch-v3", CASES["space-to-batch"])
    warnings = summarize(read_model(path)).warnings
    flagged = [w for w in warnings if w.code == "uninitialized-pad"]
    assert len(flagged) == 1 and "SPACE_TO_BATCH_ND" in flagged[0].message
    assert not [w for w in summarize(read_model(zoo_model("resnet_style", size=32))).warnings
                if w.code == "uninitialized-pad"]


# --- text that fits the terminal: exact at 80 and 200 columns, never a cut name ------------------

REPO = Path(__file__).resolve().parents[2]
HELLO_WORLD = REPO / "tests" / "corpus" / "hello_world_int8.tflite"

# TFLM's hello_world: FULLY_CONNECTED 1 -> 16 -> 16 -> 1, so 16 + 256 + 16 MACs and 32 + 272 + 17 parameters.
INSPECT_200 = """\
hello_world_int8  2,704 bytes  sha256 505ee4fae7fa46ab
  input  serving_default_dense_input:0: int8 1x1 (scale 0.0244801 zero point -128)
  output StatefulPartitionedCall:0: int8 1x1 (scale 0.00829096 zero point 5)
  ops: FULLY_CONNECTED x3

#  op               input  output  params  MACs  sparsity
-  ---------------  -----  ------  ------  ----  --------
0  FULLY_CONNECTED  1x1    1x16        32    16      0.0%
1  FULLY_CONNECTED  1x16   1x16       272   256      1.6%
2  FULLY_CONNECTED  1x16   1x1         17    16      0.0%

total: 3 ops, 321 weights (288 bytes), 288 MACs, weight sparsity 1.4%
no device warnings
"""

INSPECT_80 = INSPECT_200.replace("zero point -128)", "zero point\n      -128)")


@pytest.mark.parametrize("columns, expected", [(80, INSPECT_80), (200, INSPECT_200)])
def test_inspect_text_fits_the_terminal_exactly(columns, expected):
    result = runner.invoke(create_app(), ["inspect", str(HELLO_WORLD)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    assert result.output == expected
    assert max(len(line) for line in result.output.splitlines()) <= columns


@pytest.mark.parametrize("columns", [80, 50])
def test_a_wide_layer_table_wraps_shapes_or_stacks_rows_but_keeps_every_operator_whole(columns):
    """MobileNetV2 with per-operator times: at 80 columns ADD's two input shapes go on two lines; at 50 each
    operator becomes a block. Every operator's index and op name start a line, uncut; --json is the same."""
    import re

    path = REPO / "models" / "demo_mobilenetv2_a035_96.tflite"
    model = read_model(path)
    result = runner.invoke(create_app(), ["inspect", str(path), "--board", "esp32s3"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= columns
    starts = [match.groups() for line in lines if (match := re.match(r"^ ?(\d+) +([A-Z][A-Z0-9_]+)(?: |$)", line))]
    assert starts == [(str(op.index), op.opcode) for op in model.operators]
    if columns == 80:
        first_add = next(op for op in model.operators if op.opcode == "ADD")
        row = next(i for i, line in enumerate(lines) if line.split()[:2] == [str(first_add.index), "ADD"])
        assert lines[row + 1].strip() == "x".join(map(str, first_add.inputs[1].shape))
    json_text = runner.invoke(create_app(), ["inspect", str(path), "--json"], env={"COLUMNS": str(columns)}).output
    assert json_text == runner.invoke(create_app(), ["inspect", str(path), "--json"], env={"COLUMNS": "200"}).output
