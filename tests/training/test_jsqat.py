"""The JSQAT pipeline end to end on a tiny generated BreakHis folder (32x32, MobileNetV2 a0.35,
weights none, one epoch per stage): the microcontroller configuration (full int8, GAP head) is
checked for measured sparsity and bit-exactness with TFLM; SAT's float export and resuming
after a kill mid-stage are checked on a second run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.training.metrics import RunMetrics, classification_metrics, roc_auc
from tests.breakhis_fixture import make_breakhis
from tests.helpers import assert_bit_exact_with_tflm

# make test runs on several workers: this file's module fixtures are costly, keep its tests on one
pytestmark = pytest.mark.xdist_group("test_jsqat")

SPARSITY = 0.5
TINY = ["--img-size", "32", "--epochs", "1", "--weights", "none", "--batch-size", "8", "--alpha", "0.35"]
MCU = ["--head", "gap", "--quantize", "all"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_breakhis(tmp_path_factory.mktemp("breakhis"))


@pytest.fixture(scope="module")
def run(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "jsqat"
    result = CliRunner().invoke(create_app(), ["train", "--data", str(data), "-o", str(out), "--mode", "jsqat",
                                               "--sparsity", str(SPARSITY), "--reg", "l1l2", "--lambda", "0.001",
                                               *MCU, *TINY])
    assert result.exit_code == 0, result.output
    assert "int8  : accuracy" in result.output and "TFLM: runs it, arena" in result.output
    return out


@pytest.mark.slow
def test_metrics_json_is_typed_and_has_every_figure(run):
    raw = json.loads((run / "metrics.json").read_text())
    metrics = RunMetrics.load(run)
    assert metrics.to_json() == raw  # the typed record round-trips the file
    for kind in (metrics.float, metrics.tflite):
        assert None not in (kind.sensitivity, kind.specificity, kind.f1, kind.roc_auc)
        assert sum(map(sum, kind.confusion_matrix)) == metrics.data.test
    assert metrics.tflite_kind == "int8" and metrics.tflite_file == "model_int8.tflite"
    assert metrics.evaluated_by.startswith("emulator")
    assert metrics.data.leaked_patients == [] and metrics.data.split_by == "patient"
    assert metrics.data.counts["malignant/ductal_carcinoma"] == {"40": 12, "patients": 3}
    assert metrics.data.dataset_counts["malignant/ductal_carcinoma"] == {"40": 12, "100": 12, "patients": 3}
    # full int8: no float32 constants; the DECODE encoding pays at 50 % sparsity
    assert metrics.sizes.float32_constant_bytes == 0 and metrics.sizes.int8_constant_bytes > 0
    assert metrics.sizes.decode_bytes < metrics.sizes.tflite_bytes
    assert metrics.sizes.keras_h5_bytes == (run / "stage3_qat.h5").stat().st_size
    assert metrics.tflm.runnable and metrics.tflm.arena_bytes > 0
    # the GAP head: backbone + 1280 x 2 + 2
    assert metrics.parameters.total == 410_208 + 1280 * 2 + 2


@pytest.mark.slow
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


@pytest.mark.slow
def test_exported_model_is_bit_exact_with_tflm_and_accepted_by_the_tools(run):
    path = run / "model_int8.tflite"
    assert_bit_exact_with_tflm(path, samples=4)
    runner = CliRunner()
    assert runner.invoke(create_app(), ["inspect", str(path)]).exit_code == 0
    assert runner.invoke(create_app(), ["verify", str(path), "--random", "2"]).exit_code == 0
    assert runner.invoke(create_app(), ["fit-check", str(path), "-b", "arduino-nano-33-ble-sense"]).exit_code in (0, 1)


@pytest.mark.slow
def test_sat_exports_float_and_resumes_after_a_kill_mid_stage(data, tmp_path):
    """Killed after epoch 2 of 3 of stage II: a restart without --resume is refused; the resumed
    run keeps stage I, trains only epoch 3 of stage II from the checkpointed weights and pruning
    step, reaches the sparsity, and exports SAT as a float .tflite (the paper's SAT)."""
    from jsqat_embed.training.jsqat import TrainConfig, train_run

    config = TrainConfig(data=str(data), img_size=32, epochs=3, head_epochs=0, weights="none", batch_size=8,
                         alpha=0.35, mode="sat", sparsity=0.7, head="gap")
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
    assert state["current"] == {"stage": "stage2", "epoch": 2, "epochs": 3}
    assert (out / "stage2.partial.h5").exists() and not (out / "metrics.json").exists()
    stage1_time = (out / "stage1.h5").stat().st_mtime

    args = ["train", "--data", str(data), "-o", str(out), "--mode", "sat", "--sparsity", "0.7", "--head", "gap",
            "--head-epochs", "0", *TINY]
    args[args.index("--epochs") + 1] = "3"
    again = CliRunner().invoke(create_app(), args)
    assert again.exit_code == 2 and "--resume" in again.output  # a non-empty run dir is never overwritten

    resumed: list[str] = []
    metrics = train_run(config, out, resume=True, progress=resumed.append)
    stage_two = resumed[next(i for i, m in enumerate(resumed) if m.startswith("stage II")):]
    assert "stage2: resuming after epoch 2 of 3" in resumed
    assert [m.split(":")[0].strip() for m in stage_two if m.startswith("  epoch")] == ["epoch 3"]
    assert not any(m.startswith("stage I:") for m in resumed), "stage I ran again"
    assert (out / "stage1.h5").stat().st_mtime == stage1_time
    state = json.loads((out / "state.json").read_text())
    assert state["completed"] == ["stage1", "stage2", "export"] and state["partial"] == {}
    assert len(state["attempts"]) == 2
    assert not (out / "stage2.partial.h5").exists()

    # SAT as the paper reports it: a float32 .tflite, run by LiteRT and by TFLM
    assert metrics.tflite_kind == "float" and (out / "model_float.tflite").exists()
    assert metrics.evaluated_by == "LiteRT" and metrics.tflm.runnable
    assert metrics.sizes.int8_constant_bytes == 0 and metrics.sizes.float32_constant_bytes > 0
    # the float .tflite computes what the Keras model computes (to float rounding)
    assert abs(metrics.tflite.accuracy - metrics.float.accuracy) <= 1 / metrics.data.test
    conv_dense = [layer["sparsity"] for layer in metrics.layer_sparsity if layer["op"] in ("CONV_2D", "FULLY_CONNECTED")]
    assert conv_dense and min(conv_dense) >= 0.7 - 0.01  # zeros of the float weights, measured in the .tflite


def test_bad_data_directory_is_a_clear_error_and_writes_nothing(tmp_path):
    result = CliRunner().invoke(create_app(), ["train", "--data", str(tmp_path), "-o", str(tmp_path / "r"), *TINY])
    assert result.exit_code == 2 and "not a BreakHis folder" in result.output
    assert not (tmp_path / "r").exists()


def test_bad_options_are_refused_before_training(tmp_path):
    for option, value, message in (("--quantize", "some", "quantize 'some': choose trainable, all"),
                                   ("--head", "big", "head 'big': choose paper, gap"),
                                   ("--augment", "heavy", "augment 'heavy': choose none, basic"),
                                   ("--lr-stage2", "0", "lr-stage2 must be > 0")):
        result = CliRunner().invoke(create_app(), ["train", "--data", str(tmp_path), "-o", str(tmp_path / "r"),
                                                   option, value])
        assert result.exit_code == 2 and message in result.output, (option, result.output)
        assert not (tmp_path / "r").exists()


def test_metric_helpers_on_known_values():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.35, 0.65], [0.2, 0.8]])
    m = classification_metrics(labels, scores)
    assert m.confusion_matrix == [[1, 1], [0, 2]]
    assert m.sensitivity == 1.0 and m.specificity == 0.5 and m.accuracy == 0.75
    assert roc_auc(labels, scores[:, 1]) == 1.0
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_summary_of_a_paper_run_names_its_mixed_tflite(tmp_path, capsys):
    from jsqat_embed.cli.train_cmd import _summary
    from tests.training.test_report import make_run

    run = make_run(tmp_path, "vgg19", "jsqat", 0.5, 0.001, "l1", 0)
    _summary(run, RunMetrics.load(run))
    out = capsys.readouterr().out
    assert "parameters: 7,000,000 trainable of 20,576,466" in out
    assert "mixed : accuracy 0.8110" in out and "(model_mixed.tflite evaluated by LiteRT)" in out
    assert "int8 constants 7,340,032 B, float32 51,380,224 B" in out
    assert "for a microcontroller, train with --quantize all --head gap" in out
