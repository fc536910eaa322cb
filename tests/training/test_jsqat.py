"""The JSQAT pipeline end to end on a tiny generated BreakHis folder (32x32, MobileNetV2 a0.35,
weights none, one epoch per stage): measured sparsity, int8 bit-exactness, metrics, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.training.jsqat import classification_metrics, roc_auc
from tests.breakhis_fixture import make_breakhis
from tests.helpers import assert_bit_exact_with_tflm

pytestmark = pytest.mark.slow
SPARSITY = 0.5
TINY = ["--img-size", "32", "--epochs", "1", "--weights", "none", "--batch-size", "8", "--alpha", "0.35"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_breakhis(tmp_path_factory.mktemp("breakhis"))


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "jsqat"
    result = CliRunner().invoke(create_app(), ["train", "--data", str(data), "-o", str(out), "--mode", "jsqat",
                                               "--sparsity", str(SPARSITY), "--reg", "l1l2", "--lambda", "0.001", *TINY])
    assert result.exit_code == 0, result.output
    return out


def test_metrics_json_has_every_figure(run):
    metrics = json.loads((run / "metrics.json").read_text())
    for kind in ("float", "int8"):
        assert set(metrics[kind]) >= {"accuracy", "balanced_accuracy", "sensitivity", "specificity", "f1", "roc_auc",
                                      "confusion_matrix"}
        assert sum(map(sum, metrics[kind]["confusion_matrix"])) == metrics["data"]["test"]
    assert set(metrics["sizes"]) >= {"keras_bytes", "tflite_bytes", "tflite_gzip_bytes", "pruned_encoding_bytes"}
    assert metrics["data"]["leaked_patients"] == [] and metrics["data"]["split_by"] == "patient"
    assert metrics["data"]["counts"]["malignant/ductal_carcinoma"]["40"] == 12


def test_every_pruned_layer_reaches_the_requested_sparsity(run):
    """Measured from the exported .tflite: every CONV_2D and FULLY_CONNECTED (tfmot-pruned) layer."""
    from jsqat_embed.tflite import read_model

    model = read_model((run / "model_int8.tflite").read_bytes())
    checked = 0
    for op in model.operators:
        if op.opcode in ("CONV_2D", "FULLY_CONNECTED"):
            weights = op.inputs[1]
            zero = (weights.data == 0).mean()
            # tfmot rounds the number of pruned weights per layer down: allow one weight of slack
            assert zero >= SPARSITY - 1.0 / weights.size, (op.describe(), zero)
            checked += 1
    assert checked > 30


def test_exported_model_is_bit_exact_with_tflm_and_accepted_by_the_tools(run):
    path = run / "model_int8.tflite"
    assert_bit_exact_with_tflm(path, samples=4)
    runner = CliRunner()
    assert runner.invoke(create_app(), ["inspect", str(path)]).exit_code == 0
    assert runner.invoke(create_app(), ["verify", str(path), "--random", "2"]).exit_code == 0
    assert runner.invoke(create_app(), ["fit-check", str(path), "-b", "arduino-nano-33-ble-sense"]).exit_code in (0, 1)


def test_report_writes_tables_and_figure(run, tmp_path):
    result = CliRunner().invoke(create_app(), ["report", str(run), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "table2_int8_metrics.csv").read_text().count("\n") == 2
    assert (tmp_path / "figure4_accuracy_vs_sparsity.png").stat().st_size > 1000
    assert "| mobilenetv2 | jsqat | l1l2 |" in (tmp_path / "report.md").read_text()


def test_resume_after_an_interrupted_stage(data, tmp_path, monkeypatch):
    from jsqat_embed.training import jsqat

    out = tmp_path / "sat"
    original = jsqat.prune

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies during stage II

    monkeypatch.setattr(jsqat, "prune", killed)
    args = ["train", "--data", str(data), "-o", str(out), "--mode", "sat", "--sparsity", "0.7", *TINY]
    result = CliRunner().invoke(create_app(), args)
    assert result.exit_code != 0
    state = json.loads((out / "state.json").read_text())
    assert state["completed"] == ["stage1"] and not (out / "metrics.json").exists()
    stage1_time = (out / "stage1.h5").stat().st_mtime

    monkeypatch.setattr(jsqat, "prune", original)
    again = CliRunner().invoke(create_app(), args)
    assert again.exit_code == 2 and "--resume" in again.output  # a non-empty run dir is never overwritten
    resumed = CliRunner().invoke(create_app(), args + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert (out / "stage1.h5").stat().st_mtime == stage1_time, "stage I ran again"
    assert json.loads((out / "state.json").read_text())["completed"] == ["stage1", "stage2", "export"]
    assert (out / "metrics.json").exists()


def test_resume_after_a_kill_mid_stage_continues_from_the_last_epoch(data, tmp_path):
    """Killed after epoch 2 of 3 of stage II: the resumed run trains only epoch 3 of that stage,
    from the checkpointed weights and pruning step, and still reaches the sparsity."""
    from jsqat_embed.graph.analysis import summarize
    from jsqat_embed.tflite import read_model
    from jsqat_embed.training.jsqat import TrainConfig, train_run

    config = TrainConfig(data=str(data), img_size=32, epochs=3, weights="none", batch_size=8, alpha=0.35,
                         mode="sat", sparsity=0.7)
    out = tmp_path / "run"
    seen: list[str] = []

    def dies_in_stage_two(message: str) -> None:
        seen.append(message)
        if any(m.startswith("stage II") for m in seen) and message.startswith("  epoch 2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(config, out, progress=dies_in_stage_two)
    state = json.loads((out / "state.json").read_text())
    assert state["completed"] == ["stage1"] and state["partial"] == {"stage": "stage2", "epochs": 2}
    assert (out / "stage2.partial.h5").exists()

    resumed: list[str] = []
    metrics = train_run(config, out, resume=True, progress=resumed.append)
    stage_two = resumed[next(i for i, m in enumerate(resumed) if m.startswith("stage II")):]
    assert "stage2: resuming after epoch 2 of 3" in resumed
    assert [m.split(":")[0].strip() for m in stage_two if m.startswith("  epoch")] == ["epoch 3"]
    assert not any(m.startswith("stage I:") for m in resumed), "stage I ran again"
    state = json.loads((out / "state.json").read_text())
    assert state["completed"] == ["stage1", "stage2", "export"] and state["partial"] == {}
    assert not (out / "stage2.partial.h5").exists()
    pruned = [layer.weight_sparsity for layer in summarize(read_model(out / "model_int8.tflite")).layers
              if layer.op in ("CONV_2D", "FULLY_CONNECTED") and layer.weight_sparsity is not None]
    assert pruned and min(pruned) >= 0.7 - 0.01
    assert metrics["layer_sparsity"]


def test_bad_data_directory_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(create_app(), ["train", "--data", str(tmp_path), "-o", str(tmp_path / "r"), *TINY])
    assert result.exit_code == 2 and "not a BreakHis folder" in result.output


def test_metric_helpers_on_known_values():
    import numpy as np

    labels = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.35, 0.65], [0.2, 0.8]])
    m = classification_metrics(labels, scores)
    assert m["confusion_matrix"] == [[1, 1], [0, 2]]
    assert m["sensitivity"] == 1.0 and m["specificity"] == 0.5 and m["accuracy"] == 0.75
    assert roc_auc(labels, scores[:, 1]) == 1.0
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None
