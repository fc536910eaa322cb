"""Real public models (tests/corpus/): what TFLM runs we run bit-exactly, what TFLM refuses every command refuses.

The corpus and what the real TFLM did with each model are in tests/corpus/manifest.json
(re-extracted by scripts/fetch_corpus.py). Here, per model:
- TFLM runs it and it is quantized: the emulator equals TFLM byte for byte on 16 random inputs,
  and the host arena estimate equals TFLM's recorded arena;
- TFLM runs it and it is fully floating point: `verify` refuses ("quantize it first"), `inspect`
  and `fit-check` answer;
- TFLM refuses it: `inspect` reports TFLM's reason as an error, and `fit-check`, `verify`,
  `compress` and `build` refuse with it (exit 2, never "malformed");
- `compress` writes a file TFLM runs byte-identically to the original, or refuses with a reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION, estimate_arena
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import run_reference
from tests.helpers import assert_bit_exact_with_tflm

CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())["models"]
runner = CliRunner()


def _entries(predicate):
    return [pytest.param(e, id=e["file"].removesuffix(".tflite")) for e in MANIFEST if predicate(e)]


def fully_float(entry) -> bool:
    return entry["kind"] == "float"


def crashes_tflm(entry) -> bool:
    return "killed by SIG" in entry.get("tflm_error", "")


RUNS_QUANTIZED = _entries(lambda e: e["tflm"] == "runs" and not fully_float(e))
RUNS_FLOAT = _entries(lambda e: e["tflm"] == "runs" and fully_float(e))
REFUSED = _entries(lambda e: e["tflm"] != "runs" and e["kind"] != "vela")
VELA = _entries(lambda e: e["kind"] == "vela")


def _path(entry) -> Path:
    return CORPUS / entry["file"]


def _cli(*args):
    return runner.invoke(create_app(), [str(a) for a in args])


@pytest.mark.parametrize("entry", RUNS_QUANTIZED)
def test_emulator_is_bit_exact_with_tflm(entry):
    assert_bit_exact_with_tflm(_path(entry), samples=16)


@pytest.mark.parametrize("entry", RUNS_QUANTIZED + RUNS_FLOAT)
def test_host_arena_estimate_equals_tflm(entry):
    path = _path(entry)
    estimate = estimate_arena(read_model(path), HOST, "reference", recording_allocator=True,
                              tflm_version=HOST_TFLM_VERSION)
    recorded = run_reference("tflm", path)
    assert recorded.ok, recorded.error
    assert (estimate.head, estimate.tail, estimate.total) == (
        recorded.allocations["head"], recorded.allocations["tail"], recorded.allocations["total"])


@pytest.mark.parametrize("entry", RUNS_FLOAT)
def test_fully_float_models_are_refused_by_verify_but_answered_by_inspect_and_fit_check(entry):
    path = _path(entry)
    verify = _cli("verify", path, "--random", 2)
    assert verify.exit_code == 2, verify.output
    assert "quantize it first" in verify.output
    assert _cli("inspect", path).exit_code == 0
    assert _cli("fit-check", path, "--board", "host").exit_code in (0, 1)


@pytest.mark.parametrize("entry", REFUSED)
def test_every_command_gives_tflms_reason(entry, tmp_path):
    path = _path(entry)
    inspect = _cli("inspect", path, "--json")
    if crashes_tflm(entry):
        assert inspect.exit_code == 2 and "error" in json.loads(inspect.output), inspect.output
    else:
        assert inspect.exit_code == 0, inspect.output
        errors = [w for w in json.loads(inspect.output)["warnings"] if w["level"] == "error"]
        assert errors and all(w["code"] == "tflm-refuses" for w in errors), inspect.output
    for command in (["fit-check", path, "--board", "host"], ["verify", path, "--random", 2],
                    ["compress", path, "-o", tmp_path / "out.tflite"],
                    ["build", path, "--board", "esp32s3", "-o", tmp_path / "project"]):
        result = _cli(*command)
        assert result.exit_code == 2, (command[0], result.output)
        if crashes_tflm(entry):
            # TFLM reads out of bounds on it (the manifest records the signal): the reader's
            # one-line format error is the honest answer, and it must name the broken field.
            assert "out of range" in result.output or "outside" in result.output, (command[0], result.output)
        else:
            assert "TFLM cannot run this model" in result.output, (command[0], result.output)
            assert "malformed" not in result.output


@pytest.mark.parametrize("entry", VELA)
def test_vela_models_are_understood_and_refused_by_verify_naming_ethos_u(entry):
    path = _path(entry)
    inspect = _cli("inspect", path)
    assert inspect.exit_code == 0, inspect.output
    assert "ethos-u" in inspect.output
    fit = _cli("fit-check", path, "--board", "host", "--json")
    assert fit.exit_code in (0, 1), fit.output
    verify = _cli("verify", path, "--random", 2)
    assert verify.exit_code == 2 and "ethos-u" in verify.output, verify.output


@pytest.mark.parametrize("entry", RUNS_QUANTIZED + RUNS_FLOAT)
def test_compress_writes_what_tflm_runs_identically_or_says_why(entry, tmp_path):
    path = _path(entry)
    out = tmp_path / "compressed.tflite"
    result = _cli("compress", path, "-o", out, "--method", "auto")
    if "old-opcodes" in entry["tags"]:
        # pre-TF-2.4 opcode layout (the real op in deprecated_builtin_code): must compress correctly
        assert result.exit_code == 0, result.output
    if result.exit_code != 0:
        assert result.exit_code == 2 and "error:" in result.output, result.output
        return
    inputs = random_inputs(_Inputs(read_model(path)), 16, 0)
    original = run_reference("tflm", path, inputs)
    rewritten = run_reference("tflm", out, inputs)
    assert original.ok and rewritten.ok, (original.error, rewritten.error)
    for mine, theirs in zip(rewritten.outputs, original.outputs):
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs)


class _Inputs:
    """What random_inputs reads of an emulator (the model's inputs), for models the emulator does not run."""

    def __init__(self, model):
        self.inputs = model.inputs


@pytest.mark.parametrize("board, system", [("esp32s3", "esp-idf"), ("nano33ble", "cmake")])
def test_person_detect_builds_a_firmware_project(board, system, tmp_path):
    """TFLM's flagship example, the real file: a project whose self-test vectors come from the emulator."""
    out = tmp_path / system
    result = _cli("build", CORPUS / "person_detect.tflite", "--board", board, "--build-system", system, "-o", out,
                  "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["inputs"][0]["shape"] == [1, 96, 96, 1] and len(report["expected_output_crc32"]) == 1
    assert any(out.rglob("model_data.*")) and any(out.rglob("golden_data.*"))
