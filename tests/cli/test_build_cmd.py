"""`jsqat-embed build`: the printed next steps are the truth, and paste from anywhere.

A pruned build writes the encoded model into the project and its manifest; the printed
serial-verify command names that file (absolute) and the interpreter that ran build,
and running exactly its words (the port filled in) from another directory passes
against a device serving the project's model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.training.zoo import pruned_zoo_model, zoo_model


def _steps(output: str) -> list[str]:
    lines = output.splitlines()
    return [line.strip() for line in lines[lines.index("next:") + 1:]]


def test_a_pruned_build_prints_a_serial_verify_command_that_works_as_pasted(tmp_path, monkeypatch):
    from tests.firmware.test_protocol import _pty_device

    source = pruned_zoo_model("vgg_style", size=32, sparsity=0.9)
    project = tmp_path / "fw"
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(create_app(), ["build", str(source), "--board", "esp32s3-devkitc-n8r8", "--output", "fw",
                                            "--encoding", "pruned", "--golden", "2"])
    assert run.exit_code == 0, run.output
    deployed = (project / "model.tflite").read_bytes()
    manifest = json.loads((project / "jsqat_project.json").read_text())
    assert deployed != source.read_bytes()  # the encoded model, not the file given to build
    assert manifest["model_file"] == "model.tflite" and manifest["encoding"].startswith("pruned")
    assert manifest["model_sha256"] == hashlib.sha256(deployed).hexdigest()
    assert manifest["files"]["model.tflite"] == manifest["model_sha256"]
    assert hashlib.sha256(deployed).hexdigest()[:16] in (project / "main" / "model_config.h").read_text()

    steps = _steps(run.output)
    assert steps[0] == f"cd {shlex.quote(str(project.absolute()))}"
    assert steps[1] == "idf.py set-target esp32s3"
    assert any("monitor" in step and "quit it" in step and "before serial-verify" in step for step in steps)
    words = shlex.split(steps[-1])
    assert words[:4] == [sys.executable, "-m", "jsqat_embed", "serial-verify"]
    assert words[4] == str(project.absolute() / "model.tflite") and "--port" in words

    # paste it elsewhere: the device runs the project's model; only PORT is filled in
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    master, slave, port = _pty_device(project / "model.tflite")
    try:
        words[words.index("PORT")] = port
        pasted = CliRunner().invoke(create_app(), words[3:] + ["--json"])
    finally:
        os.close(slave)
    assert pasted.exit_code == 0, pasted.output
    data = json.loads(pasted.output)
    assert data["samples"] == 16 and data["bit_exact"] == 16


def test_arduino_next_steps_name_the_board_fqbn_and_absolute_sketch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = CliRunner().invoke(create_app(), ["build", str(zoo_model("resnet_style", size=32)), "--board",
                                            "arduino-nano-33-ble-sense", "--build-system", "arduino", "--output",
                                            "sketch", "--golden", "1"])
    assert run.exit_code == 0, run.output
    compile_step = next(step for step in _steps(run.output) if step.startswith("arduino-cli compile"))
    words = shlex.split(compile_step)
    assert words[words.index("--fqbn") + 1] == "arduino:mbed_nano:nano33ble"
    sketch = words[-1]
    assert os.path.isabs(sketch) and os.path.isfile(os.path.join(sketch, os.path.basename(sketch) + ".ino"))


def test_build_deploys_a_smaller_memory_plan_when_the_arena_is_what_fails(tmp_path):
    """vww_96_int8 on a Nano with 127 KiB of RAM: TFLM's own plan does not fit, the rewritten file does,
    and the project holds that file (same outputs in TFLM, the offline plan in its metadata)."""
    import numpy as np

    from jsqat_embed.tflite import read_model
    from jsqat_embed.verify.references import run_reference

    repo = Path(__file__).resolve().parents[2]
    model = repo / "tests" / "corpus" / "vww_96_int8.tflite"
    board = tmp_path / "tight.toml"
    board.write_text((repo / "boards" / "arduino-nano-33-ble-sense.toml").read_text()
                     .replace('id = "arduino-nano-33-ble-sense"', 'id = "tight"').replace("size_bytes = 262144", "size_bytes = 130000"))
    out = tmp_path / "project"
    result = CliRunner().invoke(create_app(), ["build", str(model), "--board", "nano33ble", "--board-file", str(board),
                                               "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "offline memory plan" in result.output
    deployed = out / "model.tflite"
    assert "OfflineMemoryAllocation" in read_model(deployed).metadata
    rng = np.random.default_rng(5)
    inputs = [rng.integers(-128, 127, size=(4, 96, 96, 3), endpoint=True).astype(np.int8)]
    before, after = run_reference("tflm", model, inputs), run_reference("tflm", deployed, inputs)
    assert before.ok and after.ok and np.array_equal(before.outputs[0], after.outputs[0])
    kept = CliRunner().invoke(create_app(), ["build", str(model), "--board", "nano33ble", "--board-file", str(board),
                                             "-o", str(tmp_path / "kept"), "--keep-memory-plan"])
    assert kept.exit_code == 1 and "does not fit" in kept.output
