"""`jsqat-embed sweep`: the paper's grid, run once per distinct model, finished runs skipped.

Training itself is covered by test_jsqat.py; here ``train_run`` is replaced by a
recorder so the grid logic is tested in milliseconds."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.errors import InputDataError
from jsqat_embed.training import jsqat
from jsqat_embed.training.jsqat import TrainConfig
from jsqat_embed.training.sweep import parse_values, plan_sweep

runner = CliRunner()
PAPER = dict(modes=["baseline", "qat", "sat", "jsqat"], sparsities=[0.5, 0.7, 0.9], regs=["l1", "l1l2"],
             lambdas=[0, 0.001, 0.005, 0.01, 0.05])


def test_paper_grid_runs_each_distinct_model_once(tmp_path):
    runs = plan_sweep(TrainConfig(data="d"), tmp_path, **PAPER)
    # Per mode, (reg, lambda) gives 1 (lambda 0) + 2 x 4 = 9 losses; sat/jsqat prune at 3 sparsities,
    # baseline/qat do not prune: 2 x 3 x 9 + 2 x 9 = 72 of the 4 x 3 x 2 x 5 = 120 grid points.
    assert len(runs) == 72
    keys = {(r.config.mode, r.config.sparsity, r.config.reg, r.config.lam) for r in runs}
    assert len(keys) == len(runs) == len({r.name for r in runs})
    assert all(r.config.sparsity == 0 for r in runs if r.config.mode in ("baseline", "qat"))
    assert {r.config.sparsity for r in runs if r.config.mode == "jsqat"} == {0.5, 0.7, 0.9}
    assert all("-none-l0-" in r.name and r.config.reg == "l1" for r in runs if r.config.lam == 0)
    assert all(r.directory.parent == tmp_path for r in runs)


def test_repeats_are_seeds_and_bad_values_are_refused(tmp_path):
    runs = plan_sweep(TrainConfig(data="d"), tmp_path, modes=["jsqat"], sparsities=[0.5], regs=["l1"],
                      lambdas=[0.01], repeats=3)
    assert [r.config.seed for r in runs] == [0, 1, 2]
    with pytest.raises(InputDataError, match="--lambdas: 'x' is not a float"):
        parse_values("0,x", "--lambdas")
    with pytest.raises(InputDataError, match="--modes: fast not among"):
        plan_sweep(TrainConfig(data="d"), tmp_path, modes=["fast"], sparsities=[0.5], regs=["l1"], lambdas=[0])
    with pytest.raises(InputDataError, match="sparsity 1.5"):
        plan_sweep(TrainConfig(data="d"), tmp_path, modes=["sat"], sparsities=[1.5], regs=["l1"], lambdas=[0])


def test_sweep_command_trains_skips_and_resumes(tmp_path, monkeypatch):
    calls = []

    def fake_train_run(config, run_dir, *, resume=False, progress=None):
        calls.append((config, run_dir.name, resume))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "metrics.json").write_text("{}")
        return {}

    monkeypatch.setattr(jsqat, "train_run", fake_train_run)
    root = tmp_path / "sweep"
    args = ["sweep", "--data", str(tmp_path), "-o", str(root), "--img-size", "32", "--modes", "qat,jsqat",
            "--sparsities", "0.5,0.9", "--regs", "l1", "--lambdas", "0.01", "--epochs", "1", "--json"]
    # A run killed before its metrics.json: resumed, not restarted.
    killed = root / "mobilenetv2-32-jsqat-p0.9-l1-l0.01-s0"
    killed.mkdir(parents=True)
    result = runner.invoke(create_app(), args)
    assert result.exit_code == 0, result.output
    statuses = {r["name"]: r["status"] for r in json.loads(result.output)["runs"]}
    assert statuses == {"mobilenetv2-32-qat-p0-l1-l0.01-s0": "trained", "mobilenetv2-32-jsqat-p0.5-l1-l0.01-s0": "trained",
                        killed.name: "trained"}
    assert {(name, resume) for _, name, resume in calls} == {
        ("mobilenetv2-32-qat-p0-l1-l0.01-s0", False), ("mobilenetv2-32-jsqat-p0.5-l1-l0.01-s0", False),
        (killed.name, True)}
    assert all(config.img_size == 32 and config.epochs == 1 for config, _, _ in calls)

    calls.clear()
    dry = runner.invoke(create_app(), [*args[:4], str(tmp_path / "fresh"), *args[5:], "--dry-run"])
    assert dry.exit_code == 0 and not calls
    assert [r["status"] for r in json.loads(dry.output)["runs"]] == ["to run"] * 3
    again = runner.invoke(create_app(), args)
    assert again.exit_code == 0 and not calls
    assert {r["status"] for r in json.loads(again.output)["runs"]} == {"finished"}


def test_sweep_bad_option_is_a_clear_error(tmp_path):
    result = runner.invoke(create_app(), ["sweep", "--data", str(tmp_path), "-o", str(tmp_path / "o"),
                                          "--sparsities", "0.5,lots"])
    assert result.exit_code == 2
    assert "--sparsities: 'lots' is not a float" in result.output
