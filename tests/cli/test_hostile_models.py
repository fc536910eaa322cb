"""Hostile models at the command line (issue 14, "Models"): inspect, fit-check and verify refuse each
reproduction in one line naming the operator, exit 2, no traceback; a kernel bug is exit 70 and says
it is a bug. The library side: tests/ops/test_shapes.py, tests/emulator/test_hostile_models.py."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from tests.emulator.test_hostile_models import conv_model as scaled_conv_model
from tests.ops.test_shapes import conv_model, pool_model

runner = CliRunner()
COMMANDS = {
    "inspect": lambda path: ["inspect", path],
    "fit-check": lambda path: ["fit-check", path, "-b", "pico"],
    "verify": lambda path: ["verify", path, "--random", "1", "--no-litert"],
}


def _minus_one_filter() -> bytes:
    from jsqat_embed.tflite import read_model
    from jsqat_embed.tflite.writer import write_model

    model = read_model(conv_model())
    model.operators[0].inputs[1] = None
    return write_model(model)


def _flipped_filter_height() -> bytes:
    from jsqat_embed.tflite import read_model
    from jsqat_embed.tflite.writer import write_model

    model = read_model(pool_model())
    model.operators[0].options["filter_height"] = 1_048_579
    return write_model(model)


MODELS = {
    "minus-one-filter": (_minus_one_filter, "operator 0 (CONV_2D): input 1 is -1 (omitted)"),
    "low-rank-filter": (lambda: conv_model(filter_shape=(3, 2)), "has rank 2; TFLM's kernel needs 4"),
    "flipped-filter-height": (_flipped_filter_height, "operator 0 (AVERAGE_POOL_2D): filter height 1048579"),
    "inconsistent-output": (lambda: conv_model(output_shape=(1, 2, 2, 3)), "disagrees with the shape [1, 4, 4, 3]"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("name", list(MODELS))
def test_each_reproduction_is_one_line_exit_2(tmp_path, name, command):
    build, fragment = MODELS[name]
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(build())
    result = runner.invoke(create_app(), [str(a) for a in COMMANDS[command](path)])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.output.startswith(f"error: {path}: ") and result.output.count("\n") == 1, result.output
    assert fragment in result.output and "Traceback" not in result.output, result.output


def test_degenerate_scales_are_refused_by_verify_with_the_reason(tmp_path):
    path = tmp_path / "degenerate.tflite"
    path.write_bytes(scaled_conv_model(0.05, 1e-30))
    result = runner.invoke(create_app(), ["verify", str(path), "--random", "1", "--no-litert"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "operator 0 (CONV_2D)" in result.output and "undefined in TFLM's C" in result.output, result.output


def test_a_kernel_bug_is_exit_70_naming_the_operator(tmp_path, monkeypatch):
    from jsqat_embed.emulator.kernels.conv_2d import Conv2D

    def broken(self, inputs):
        raise IndexError("index 7 is out of bounds")

    monkeypatch.setattr(Conv2D, "eval", broken)
    monkeypatch.delenv("JSQAT_DEBUG", raising=False)
    path = tmp_path / "fine.tflite"
    path.write_bytes(scaled_conv_model(0.05, 0.1))
    result = runner.invoke(create_app(), ["verify", str(path), "--random", "1", "--no-litert"])
    assert result.exit_code == 70 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("error: internal error in the emulator at operator 0 (CONV_2D): IndexError: "
                                    "index 7 is out of bounds; please report (a bug in jsqat-embed"), result.output


def test_a_consistent_model_still_verifies(tmp_path):
    path = tmp_path / "fine.tflite"
    path.write_bytes(scaled_conv_model(0.05, 0.1))
    result = runner.invoke(create_app(), ["verify", str(path), "--random", "2", "--no-litert"])
    assert result.exit_code == 0, result.output
    assert "BIT-EXACT" in result.output, result.output
