"""Fuzz the model pipeline (reader, graph load, estimator, emulator construction and one
invoke) and the board loader with mutated real inputs: every outcome is a result or a
project error, within CASE_SECONDS and CASE_BYTES (tests/fuzz/harness.py).

Bounded for CI (derandomized, so every CI run tries the same cases); the long run is
``scripts/fuzz.py --cases 100000`` (docs/robustness.md); JSQAT_FUZZ_EXAMPLES raises the
number of hypothesis examples here, as it does for the board fuzz tests
(tests/boards/test_hostile_board_files.py, which fuzz the board loader's TOML itself).
Findings are kept in tests/fuzz/regressions/ and replayed by test_regression_files.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import harness

MODEL_EXAMPLES = int(os.environ.get("JSQAT_FUZZ_EXAMPLES", "4000"))
BOARD_EXAMPLES = max(1, MODEL_EXAMPLES // 10)
NUMBERED_CASES = 2000


@pytest.fixture(scope="module")
def worker():
    worker = harness.Worker()
    yield worker
    worker.close()


def _describe(outcome: harness.Outcome, name: str) -> str:
    return (f"{outcome.verdict} at {outcome.stage} from a mutated {name}: {outcome.detail} ({outcome.where}, "
            f"{outcome.seconds:.2f} s)")


_MODEL_SEEDS = harness.model_seeds()
_BOARD_SEEDS = harness.board_seeds()


def test_the_seeds_are_real_models_and_boards():
    assert len(_MODEL_SEEDS) >= 25 and "person_detect.tflite" not in _MODEL_SEEDS  # < 200 KB only
    assert {"op_conv.tflite", "op_chain.tflite", "hello_world_int8.tflite"} <= set(_MODEL_SEEDS)
    assert "rpi-pico.toml" in _BOARD_SEEDS


@pytest.mark.parametrize("probe, verdict", [(b"sleep", "hang"), (b"allocate", "memory"), (b"exit", "crash")])
def test_the_harness_catches_hangs_memory_blowups_and_crashes(probe, verdict):
    """The limits are real: a case that sleeps, allocates 2 GiB or kills its process is a finding."""
    worker = harness.Worker(seconds=2.0)
    try:
        outcome = worker.run("probe", probe)
        assert outcome.verdict == verdict, outcome
        assert worker.run("probe", b"nothing").verdict == "ok"  # and the worker carries on (restarted)
    finally:
        worker.close()


@settings(max_examples=MODEL_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_models(worker, data):
    name, mutated = harness.make_case(lambda n: data.draw(st.integers(0, max(0, n - 1))), _MODEL_SEEDS)
    outcome = worker.run("model", mutated, len(mutated))
    assert not outcome.finding, _describe(outcome, name)


@settings(max_examples=BOARD_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_board_files_through_the_estimator(worker, data):
    """Bytes-level mutations of every bundled board file, then fit-check on a small model
    (the TOML-level board fuzz is in tests/boards/test_hostile_board_files.py)."""
    name, mutated = harness.make_case(lambda n: data.draw(st.integers(0, max(0, n - 1))), _BOARD_SEEDS)
    outcome = worker.run("board", mutated)
    assert not outcome.finding, _describe(outcome, name)


def test_the_long_runs_cases_are_reproducible_and_clean(worker):
    """The first cases of scripts/fuzz.py's run 1, exactly as the long run makes them."""
    assert harness.numbered_case(1, 5) == harness.numbered_case(1, 5)
    findings = []
    for index in range(NUMBERED_CASES):
        outcome, case = worker.run_numbered(1, index)
        if outcome.finding:
            findings.append(f"case {index}: " + _describe(outcome, case[1]))
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("path", sorted(harness.REGRESSIONS.glob("*.*")) if harness.REGRESSIONS.is_dir() else [],
                         ids=lambda path: path.name)
def test_regression_files(worker, path):
    """Each input a fuzz run once found a bug with, replayed."""
    kind = "model" if path.suffix == ".tflite" else "board"
    outcome = worker.run(kind, path.read_bytes())
    assert not outcome.finding, _describe(outcome, path.name)
