"""`jsqat-embed sweep`: the paper's grid, run once per distinct model, finished runs skipped;
in this process (``train_run`` replaced by a recorder, milliseconds) and on a local Ray with
real training (two backbones, two runs at a time, one worker killed and its run resumed on
retry), then ``report`` on the sweep's directory."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.errors import InputDataError
from jsqat_embed.training import jsqat
from jsqat_embed.training.config import TrainConfig
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


def test_both_networks_and_three_repeats(tmp_path):
    runs = plan_sweep(TrainConfig(data="d", split_by="image"), tmp_path, backbones=["vgg19", "resnet50"],
                      modes=["sat", "jsqat"], sparsities=[0.5, 0.7, 0.9], regs=["l1", "l1l2"],
                      lambdas=[0, 0.001, 0.005, 0.01, 0.05], repeats=3)
    # 2 networks x 2 modes x 3 sparsities x 9 losses x 3 seeds
    assert len(runs) == 2 * 2 * 3 * 9 * 3
    assert {r.config.backbone for r in runs} == {"vgg19", "resnet50"}
    assert {r.config.split_by for r in runs} == {"image"}
    with pytest.raises(InputDataError, match="--backbone: vgg16 not among"):
        plan_sweep(TrainConfig(data="d"), tmp_path, backbones=["vgg16"], modes=["sat"], sparsities=[0.5],
                   regs=["l1"], lambdas=[0])


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
        return None

    monkeypatch.setattr(jsqat, "train_run", fake_train_run)
    root = tmp_path / "sweep"
    args = ["sweep", "--data", str(tmp_path), "-o", str(root), "--img-size", "32", "--modes", "qat,jsqat",
            "--sparsities", "0.5,0.9", "--regs", "l1", "--lambdas", "0.01", "--epochs", "1", "--split", "image",
            "--augment", "basic", "--lr-stage3", "2e-5", "--json"]
    # A run killed before its metrics.json: resumed, not restarted.
    killed = root / "mobilenetv2-32-jsqat-p0.9-l1-l0.01-s0"
    killed.mkdir(parents=True)
    result = runner.invoke(create_app(), args)
    assert result.exit_code == 0, result.output
    statuses = {r["name"]: r["status"] for r in json.loads(result.output)["runs"]}
    assert statuses == {"mobilenetv2-32-qat-p0-l1-l0.01-s0": "finished", "mobilenetv2-32-jsqat-p0.5-l1-l0.01-s0": "finished",
                        killed.name: "finished"}
    assert {(name, resume) for _, name, resume in calls} == {
        ("mobilenetv2-32-qat-p0-l1-l0.01-s0", False), ("mobilenetv2-32-jsqat-p0.5-l1-l0.01-s0", False),
        (killed.name, True)}
    assert all(c.img_size == 32 and c.epochs == 1 and c.split_by == "image" and c.augment == "basic"
               and c.lr_stage3 == 2e-5 for c, _, _ in calls)

    calls.clear()
    fresh = [*args[:4], str(tmp_path / "fresh"), *args[5:]]
    dry = runner.invoke(create_app(), [*fresh, "--dry-run"])
    assert dry.exit_code == 0 and not calls
    assert [r["status"] for r in json.loads(dry.output)["runs"]] == ["planned"] * 3
    again = runner.invoke(create_app(), args)
    assert again.exit_code == 0 and not calls
    assert {r["status"] for r in json.loads(again.output)["runs"]} == {"skipped"}


def test_a_failing_run_is_reported_and_the_others_go_on(tmp_path, monkeypatch):
    def fake_train_run(config, run_dir, *, resume=False, progress=None):
        if config.sparsity == 0.5:
            raise InputDataError("bad images")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "metrics.json").write_text("{}")

    monkeypatch.setattr(jsqat, "train_run", fake_train_run)
    result = runner.invoke(create_app(), ["sweep", "--data", str(tmp_path), "-o", str(tmp_path / "s"), "--modes", "sat",
                                          "--sparsities", "0.5,0.7", "--regs", "l1", "--lambdas", "0"])
    assert result.exit_code == 2
    assert "failed mobilenetv2-224-sat-p0.5-none-l0-s0: bad images" in result.output
    assert (tmp_path / "s" / "mobilenetv2-224-sat-p0.7-none-l0-s0" / "metrics.json").exists()


def test_sweep_bad_option_is_a_clear_error(tmp_path):
    result = runner.invoke(create_app(), ["sweep", "--data", str(tmp_path), "-o", str(tmp_path / "o"),
                                          "--sparsities", "0.5,lots"])
    assert result.exit_code == 2
    assert "--sparsities: 'lots' is not a float" in result.output


# --- on Ray -----------------------------------------------------------------------


def _state(directory: Path) -> dict | None:
    try:
        return json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        return None


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.slow
def test_sweep_on_ray_runs_in_parallel_resumes_a_killed_worker_and_reports(tmp_path):
    """Two backbones x two seeds of SAT at 32x32 (4 runs, 2 at a time on a 2-CPU local Ray);
    the first run's worker is killed after an epoch checkpoint; then ``report`` on the sweep's
    directory: Tables 1-4 and Figure 4's 8 panels from what the runs wrote."""
    pytest.importorskip("ray")
    from tests.breakhis_fixture import make_breakhis

    data = make_breakhis(tmp_path / "data")
    root = tmp_path / "sweep"
    command = [sys.executable, "-m", "jsqat_embed", "sweep", "--data", str(data), "-o", str(root), "--ray",
               "--ray-cpus", "2", "--cpus-per-run", "1", "--backbone", "mobilenetv2,vgg19", "--img-size", "32",
               "--modes", "sat", "--sparsities", "0.5", "--regs", "l1", "--lambdas", "0", "--repeats", "2",
               "--epochs", "2", "--head-epochs", "0", "--head", "gap", "--batch-size", "16", "--weights", "none",
               "--json"]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
    names = [f"{backbone}-32-sat-p0.5-none-l0-s{seed}" for backbone in ("mobilenetv2", "vgg19") for seed in (0, 1)]
    victim = root / names[0]
    killed_pid, completed_at_kill = None, None
    deadline = time.time() + 600
    try:
        while time.time() < deadline and sweep.poll() is None:
            state = _state(victim)
            if state and state["partial"] and killed_pid is None:  # an epoch checkpoint exists: kill its worker
                killed_pid, completed_at_kill = state["attempts"][-1]["pid"], list(state["completed"])
                partial_at_kill = dict(state["partial"])
                stage_files = {p.name: p.stat().st_mtime for p in victim.glob("stage*.h5") if ".partial" not in p.name}
                os.kill(killed_pid, signal.SIGKILL)
                killed_at = time.time()
            time.sleep(0.1)
        out, err = sweep.communicate(timeout=max(1, deadline - time.time()))
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 0, err[-3000:]
    assert killed_pid is not None, "the run finished before its worker could be killed"
    statuses = {r["name"]: r for r in json.loads(out)["runs"]}
    assert sorted(statuses) == sorted(names) and {r["status"] for r in statuses.values()} == {"finished"}
    assert [statuses[name]["attempts"] for name in names] == [2, 1, 1, 1]

    # the killed run was retried by Ray in a new worker and resumed: earlier stages not redone
    state = _state(victim)
    assert len(state["attempts"]) == 2 and state["attempts"][1]["pid"] != killed_pid
    assert state["completed"][: len(completed_at_kill)] == completed_at_kill
    (resumed,) = state["resumed"]  # the retry continued from the epoch checkpoint
    assert resumed["stage"] == partial_at_kill["stage"] and resumed["after_epoch"] >= partial_at_kill["epochs"]
    for name, mtime in stage_files.items():
        assert (victim / name).stat().st_mtime == mtime, f"{name} was trained again"

    # runs trained at the same time: some two attempts each started before the other ended
    # (the killed attempt ended at the kill, every other one when it wrote metrics.json)
    spans = [(state["attempts"][0]["started"], killed_at)]
    spans += [(_state(root / name)["attempts"][-1]["started"], (root / name / "metrics.json").stat().st_mtime)
              for name in names]
    assert any(max(a[0], b[0]) < min(a[1], b[1]) for i, a in enumerate(spans) for b in spans[i + 1:]), spans

    # report on the sweep's directory: every finished run in it
    report = tmp_path / "report"
    result = CliRunner().invoke(create_app(), ["report", str(root), "-o", str(report), "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(Path(p).name for p in json.loads(result.output)["written"]) == sorted([
        "table1_data.csv", "table2_vgg19.csv", "table3_mobilenetv2.csv", "table4_sizes.csv", "figure4.png",
        "figure4.svg", "report.md", "report.html"])

    # Table 1: both magnifications of the generated folder (4 subtypes x 3 patients x 4 images each)
    table1 = _read_csv(report / "table1_data.csv")
    assert table1[0] == ["class / subtype", "patients", "40X", "100X", "images"]
    assert [row[0] for row in table1[1:]] == ["benign/adenosis", "benign/fibroadenoma", "malignant/ductal_carcinoma",
                                             "malignant/lobular_carcinoma", "total"]
    assert table1[-1] == ["total", "12", "48", "48", "96"]

    # Tables 2 and 3, one per backbone in the paper's order: rows lambda x regularizer, a SAT and a
    # JSQAT column per sparsity; SAT cells are mean +- std over the two seeds' test accuracy
    for table, backbone in (("table2_vgg19.csv", "vgg19"), ("table3_mobilenetv2.csv", "mobilenetv2")):
        rows = _read_csv(report / table)
        assert rows[0] == ["lambda", "regularizer", "SAT 50% (float)", "JSQAT 50% (int8)"]
        assert len(rows) == 2 and rows[1][:2] == ["0", "none"] and rows[1][3] == "n/a"  # no JSQAT run
        accuracies = [json.loads((root / f"{backbone}-32-sat-p0.5-none-l0-s{seed}" / "metrics.json").read_text())
                      ["float"]["accuracy"] * 100 for seed in (0, 1)]
        mean, spread = (float(x) for x in re.fullmatch(r"(\d+\.\d\d) ± (\d+\.\d\d)", rows[1][2]).groups())
        assert mean == pytest.approx(sum(accuracies) / 2, abs=0.006)
        assert spread == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2 ** 0.5, abs=0.006)

    # Table 4: a row per backbone, float .tflite sizes; VGG19's parameters from the layer shapes
    # (20,024,384 without top + the GAP head's 512 x 2 + 2)
    table4 = _read_csv(report / "table4_sizes.csv")
    body = {row[0]: dict(zip(table4[0], row)) for row in table4[1:]}
    assert sorted(body) == ["MobileNetV2", "VGG19"]
    for backbone, row in body.items():
        assert (row["mode"], row["sparsity"], row[".tflite holds"], row["runs"]) == ("sat", "50%", "float32", "2")
        assert float(row["gzip MiB"]) < float(row[".tflite MiB"]), row  # half the weights are zeros
        assert float(row["Keras .h5 MiB"]) > 0 and row["int8 constants MiB"] == "0.00"
    assert body["VGG19"]["parameters"] == "20,025,410"
    assert 76 <= float(body["VGG19"][".tflite MiB"]) < 77  # 20,025,410 float32 weights = 76.4 MiB

    # Figure 4: {SAT, JSQAT} x {L1, L1L2} per backbone = 8 panels; the lambda-0 line (one loss for
    # L1 and L1L2) in both SAT panels of each backbone, the JSQAT panels empty
    svg = (report / "figure4.svg").read_text()
    assert re.findall(r'<g id="axes_(\d+)">', svg) == [str(i) for i in range(1, 9)]
    assert re.findall(r"<!-- (\S+ · \S+ · \S+) -->", svg) == [
        f"{b} · {m} · {r}" for b in ("VGG19", "MobileNetV2") for m in ("SAT", "JSQAT") for r in ("L1", "L1L2")]
    assert svg.count("<!-- λ = 0 -->") == 4  # one legend entry per SAT panel
    markdown = (report / "report.md").read_text()
    assert re.findall(r"^## (Table [^:]+|Figure 4)", markdown, re.M) == ["Table 1", "Table 2", "Table 3", "Table 4",
                                                                           "Figure 4"]


def test_sweep_shows_a_table_of_the_runs(tmp_path, monkeypatch):
    def fake_train_run(config, run_dir, *, resume=False, progress=None):
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "state.json").write_text(json.dumps({"attempts": [{"host": "node-7", "pid": 1, "started": 0}],
                                                        "completed": ["stage1", "stage2", "export"],
                                                        "seconds": {"stage1": 30.0, "stage2": 12.0}}))
        (run_dir / "metrics.json").write_text("{}")

    monkeypatch.setattr(jsqat, "train_run", fake_train_run)
    result = runner.invoke(create_app(), ["sweep", "--data", str(tmp_path), "-o", str(tmp_path / "s"), "--modes", "sat",
                                          "--sparsities", "0.5,0.7", "--regs", "l1", "--lambdas", "0"])
    assert result.exit_code == 0, result.output
    assert "2 distinct runs, 0 finished" in result.output
    rows = [line for line in result.output.splitlines() if "mobilenetv2-224-sat" in line]
    final = rows[-2:]  # the last rendering of the table
    assert all("finished" in row and "node-7" in row and "42" in row for row in final), result.output
