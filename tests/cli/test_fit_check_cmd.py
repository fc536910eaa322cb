"""`jsqat-embed fit-check` and `jsqat-embed boards`: verdicts, exit codes, JSON, errors, no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.training.zoo import zoo_model

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "models" / "demo_mobilenetv2_a035_96.tflite"


def test_mobilenetv2_96_fits_the_nano_33_ble_sense():
    result = runner.invoke(create_app(), ["fit-check", str(DEMO), "--board", "arduino-nano-33-ble-sense"])
    assert result.exit_code == 0, result.output
    assert "arduino-nano-33-ble-sense: fits" in result.output


def test_json_has_the_documented_shape():
    result = runner.invoke(create_app(), ["fit-check", str(DEMO), "-b", "arduino-nano-33-ble-sense", "-b", "host", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == str(DEMO)
    for entry in data["boards"]:
        assert set(entry) >= {"board", "fits", "flash", "ram", "placement", "latency_ms_estimate"}
        assert set(entry["flash"]) >= {"model", "runtime", "reserve", "total", "capacity"}
        assert set(entry["ram"]) >= {"arena", "reserve", "total", "capacity"}
        assert entry["flash"]["total"] == entry["flash"]["model"] + entry["flash"]["runtime"] + entry["flash"]["reserve"]
        assert entry["ram"]["total"] == entry["ram"]["arena"] + entry["ram"]["reserve"]
    host = next(e for e in data["boards"] if e["board"] == "host")
    assert host["ram"]["arena_exact"] is True
    drivers = data["ram_drivers"]
    assert 1 <= len(drivers) <= 3
    assert drivers == sorted(drivers, key=lambda d: -d["bytes"])
    # what is alive at the peak cannot exceed the planned head
    assert sum(d["bytes"] for d in drivers) <= data["boards"][0]["ram"]["arena_head"]


@pytest.mark.slow
def test_dense_vgg19_does_not_fit_esp32s3_n8r8_and_says_why():
    # the backbone's 20 M weights decide it at any input size: the 32x32 one the arena tests use
    path = zoo_model("application", size=32, name="VGG19")
    result = runner.invoke(create_app(), ["fit-check", str(path), "--board", "esp32s3-devkitc-n8r8"])
    assert result.exit_code == 1, result.output
    assert "NO" in result.output
    # one glance: the flash line names model size against the 8 MiB flash
    assert "flash: model" in result.output and "> 8.00 MiB 'flash'" in result.output
    assert "hint:" in result.output


def test_exit_code_1_when_any_board_does_not_fit():
    result = runner.invoke(create_app(), ["fit-check", str(DEMO), "-b", "host", "-b", "esp32-devkitc"])
    assert result.exit_code == 1, result.output
    assert "esp32-devkitc" in result.output and "largest contiguous RAM region" in result.output


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    bad_board = tmp_path / "b.toml"
    bad_board.write_text("[board]\nid = 3\n")
    cases = [
        ["fit-check", str(DEMO), "--board-file", str(bad_board)],
        ["fit-check", str(DEMO), "--board", "no-such-board"],
        ["fit-check", str(tmp_path / "missing.tflite"), "--board", "host"],
        ["fit-check", str(DEMO)],
    ]
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer at all")
    cases.append(["fit-check", str(tmp_path / "junk.tflite"), "--board", "host"])
    for args in cases:
        result = runner.invoke(create_app(), args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output


def test_boards_lists_profiles_as_json():
    result = runner.invoke(create_app(), ["boards", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    ids = {b["id"] for b in data["boards"]}
    assert {"host", "esp32s3-devkitc-n8r8", "arduino-nano-33-ble-sense"} <= ids
    assert all(b["sources"] for b in data["boards"])


BOARDS_NANO_BLOCK = """\
arduino-nano-33-ble-sense  (alias: nano33ble, nrf52840)
    Arduino Nano 33 BLE Sense: Cortex-M4F, 64 MHz, cmsis-nn kernels
    flash: flash 1.0 MiB; RAM: ram 256 KiB
    build systems: arduino, platformio, zephyr, cmake
"""


@pytest.mark.parametrize("columns", [80, 200])
def test_boards_text_shows_ids_aliases_and_build_systems_whole_at_any_width(columns):
    result = runner.invoke(create_app(), ["boards"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    assert result.output.startswith(BOARDS_NANO_BLOCK)
    assert max(len(line) for line in result.output.splitlines()) <= columns
    for board in json.loads(runner.invoke(create_app(), ["boards", "--json"]).output)["boards"]:
        assert f"\n{board['id']}" in "\n" + result.output


def test_fit_check_never_imports_tensorflow():
    code = (
        "import sys\n"
        "from jsqat_embed.cli.main import main\n"
        f"sys.argv = ['jsqat-embed', 'fit-check', {str(DEMO)!r}, '--all', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        "print('clean')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "clean" in result.stdout, result.stderr[-2000:]


def test_cli_chooses_pruning_when_it_makes_the_model_fit(tmp_path):
    from jsqat_embed.boards import load_board_file
    from jsqat_embed.memory.fit import fit_board
    from jsqat_embed.tflite import read_model
    from jsqat_embed.training.zoo import pruned_zoo_model

    path = pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.5)
    # the Nano with 1 MiB of RAM (decoded weights need arena) and flash just too small for the dense model
    text = (REPO / "boards" / "arduino-nano-33-ble-sense.toml").read_text().replace(
        'id = "arduino-nano-33-ble-sense"', 'id = "tight-nano"').replace("size_bytes = 262144", "size_bytes = 1048576")
    board_file = tmp_path / "tight-nano.toml"
    board_file.write_text(text)
    dense_need = fit_board(read_model(path), load_board_file(board_file)).flash_total
    board_file.write_text(text.replace("size_bytes = 1048576", f"size_bytes = {dense_need - 1}", 1))
    result = runner.invoke(create_app(), ["fit-check", str(path), "--board-file", str(board_file), "--json"])
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output)["boards"][0]
    assert entry["encoding"] == "prune" and entry["dense"]["fits"] is False
    assert "TFLM_DECODE" in entry["flash"]["runtime_ops"]
    assert entry["flash"]["model"] < entry["dense"]["flash_total"]
    text_result = runner.invoke(create_app(), ["fit-check", str(path), "--board-file", str(board_file)])
    text = " ".join(text_result.output.split())  # lines wrap at the terminal's width
    assert "tight-nano: fits with DECODE pruning" in text and "jsqat-embed compress --method prune" in text


# Exact text, as a user sees it: at 80 columns one block per board, at 200 a table; ids never cut.
FIT_CHECK_80 = """\
demo_mobilenetv2_a035_96.tflite: 622,744 bytes (608 KiB in flash, 16-aligned),
    10,656,688 MACs
esp32s3-devkitc-n8r8: fits
    flash 919 KiB of 8.0 MiB = model 608 KiB + runtime 55 KiB + reserve 256 KiB
    RAM 412 KiB of 512 KiB = arena 220 KiB incl. 1 KiB margin + reserve 192 KiB
    model in flash, arena in sram; latency ≈ 11 ms (×3)
RAM peak on esp32s3-devkitc-n8r8: planned tensors reach 154 KiB at operator 61
    (CONV_2D), where 154 KiB are live: CONV_2D #61 scratch (142 KiB, ops 61),
    mobilenetv2_0.35_96/out_relu/Relu6 (11 KiB, ops 61-62),
    ..._0.35_96/block_16_project_BN/FusedBatchNormV3 (1008 B, ops 60-61)
Arena figures are TFLM's allocator replayed (exact on the host, and under QEMU
    on Cortex-M4 and RV32 with reference kernels, CMSIS-NN and esp-nn; esp-nn-s3
    scratch from its sources; boards add a margin for AllocateTensors'
    temporaries and TFLM version drift). Runtime code: TFLM as the generated
    project links it on Cortex-M4F, measured per op. Latency: a per-operator
    cycle model fitted to MLPerf Tiny where it measured the core and kernel
    library (docs/latency.md), else the board's int8 MAC/cycle; (×k) is its
    uncertainty.
"""

FIT_CHECK_200 = """\
demo_mobilenetv2_a035_96.tflite: 622,744 bytes (608 KiB in flash, 16-aligned), 10,656,688 MACs

board                 fits  flash used / size  free    RAM used / size  free  model / arena in       latency
--------------------  ----  -----------------  ----  -----------------  ----  ----------------  ------------
esp32s3-devkitc-n8r8  yes   919 KiB / 8.0 MiB   89%  412 KiB / 512 KiB   19%  flash / sram      ≈ 11 ms (×3)

  esp32s3-devkitc-n8r8: flash 919 KiB of 8.0 MiB = model 608 KiB + runtime 55 KiB + reserve 256 KiB; RAM 412 KiB of 512 KiB = arena 220 KiB incl. 1 KiB margin + reserve 192 KiB
RAM peak on esp32s3-devkitc-n8r8: planned tensors reach 154 KiB at operator 61 (CONV_2D), where 154 KiB are live: CONV_2D #61 scratch (142 KiB, ops 61), mobilenetv2_0.35_96/out_relu/Relu6 (11 KiB, ops
    61-62), ..._0.35_96/block_16_project_BN/FusedBatchNormV3 (1008 B, ops 60-61)
Arena figures are TFLM's allocator replayed (exact on the host, and under QEMU on Cortex-M4 and RV32 with reference kernels, CMSIS-NN and esp-nn; esp-nn-s3 scratch from its sources; boards add a
    margin for AllocateTensors' temporaries and TFLM version drift). Runtime code: TFLM as the generated project links it on Cortex-M4F, measured per op. Latency: a per-operator cycle model fitted to
    MLPerf Tiny where it measured the core and kernel library (docs/latency.md), else the board's int8 MAC/cycle; (×k) is its uncertainty.
"""


@pytest.mark.parametrize("columns, expected", [(80, FIT_CHECK_80), (200, FIT_CHECK_200)])
def test_fit_check_text_fits_the_terminal_exactly(columns, expected):
    result = runner.invoke(create_app(), ["fit-check", str(DEMO), "--board", "esp32s3"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    assert result.output == expected
    assert max(len(line) for line in result.output.splitlines()) <= columns


def test_an_arena_that_fails_gets_the_optimize_memory_hint_and_the_rewritten_file_then_fits(tmp_path):
    """vww_96_int8 (MLPerf Tiny) on a Nano with 127 KiB of RAM: TFLM's own plan does not fit, the offline plan does."""
    model = REPO / "tests" / "corpus" / "vww_96_int8.tflite"
    text = (REPO / "boards" / "arduino-nano-33-ble-sense.toml").read_text()
    board = tmp_path / "tight.toml"
    board.write_text(text.replace('id = "arduino-nano-33-ble-sense"', 'id = "tight"').replace(
        "size_bytes = 262144", "size_bytes = 130000"))
    result = runner.invoke(create_app(), ["fit-check", str(model), "--board-file", str(board)])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert f"with `jsqat-embed optimize-memory --board-file {board}` the arena is" in said and "then it fits" in said
    out = tmp_path / "vww-opt.tflite"
    optimized = runner.invoke(create_app(), ["optimize-memory", str(model), "--board-file", str(board), "-o", str(out),
                                             "--json"])
    assert optimized.exit_code == 0, optimized.output
    report = json.loads(optimized.output)
    assert report["optimized_bytes"] < report["tflm_plan_bytes"] and report["offline_plan"] is True
    assert runner.invoke(create_app(), ["fit-check", str(out), "--board-file", str(board)]).exit_code == 0
