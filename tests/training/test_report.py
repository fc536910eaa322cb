"""``report`` on a made-up set of runs whose numbers the test plants: Tables 1-4 and Figure 4
as the paper shows them (structure and values), on a Markdown and an HTML page."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.training.config import TrainConfig
from jsqat_embed.training.metrics import (
    ClassificationMetrics,
    DataSummary,
    ModelSizes,
    ParameterCounts,
    RunMetrics,
)

# make test runs on several workers: this file's module fixtures are costly, keep its tests on one
pytestmark = pytest.mark.xdist_group("test_report")

SPARSITIES = (0.5, 0.7, 0.9)
LOSSES = ((0.0, "l1"), (0.001, "l1"), (0.001, "l1l2"), (0.01, "l1"), (0.01, "l1l2"))
SEEDS = (0, 1, 2)
# BreakHis's own figures for two of its subtypes; the runs used 40X
DATASET_COUNTS = {"benign/adenosis": {"40": 114, "100": 113, "200": 111, "400": 106, "patients": 4},
                  "malignant/ductal_carcinoma": {"40": 864, "100": 903, "200": 896, "400": 788, "patients": 38}}
COUNTS = {row: {"40": counts["40"], "patients": counts["patients"]} for row, counts in DATASET_COUNTS.items()}


def planted_accuracy(backbone: str, mode: str, sparsity: float, lam: float, reg: str, seed: int) -> float:
    """A distinct mean per cell; the three seeds are mean - 0.01, mean, mean + 0.01 (std 0.01)."""
    mean = (0.80 + (0.05 if backbone == "vgg19" else 0) + (0.02 if mode == "jsqat" else 0) - sparsity / 10
            + lam * (3 if reg == "l1l2" else 1))
    return mean + (seed - 1) * 0.01


def make_run(root: Path, backbone: str, mode: str, sparsity: float, lam: float, reg: str, seed: int) -> Path:
    config = TrainConfig(data="/data/BreaKHis_v1", backbone=backbone, img_size=224, mode=mode, sparsity=sparsity,
                         lam=lam, reg=reg, seed=seed)
    accuracy = planted_accuracy(backbone, mode, sparsity, lam, reg, seed)
    headline = ClassificationMetrics(accuracy, accuracy, [[1, 0], [0, 1]], 2, 0.9, 0.8, 0.85, 0.95)
    other = ClassificationMetrics(0.5, 0.5, [[1, 1], [0, 0]], 2, 0.0, 1.0, 0.0, 0.5)
    kind = config.export_kind
    mib = 1024 * 1024
    metrics = RunMetrics(
        config=config, classes=["benign", "malignant"],
        data=DataSummary(images=978, counts=COUNTS, split_by="patient", train=684, validation=147, test=147,
                         dataset_counts=DATASET_COUNTS),
        float=headline if mode in ("sat", "baseline") else other,
        tflite=headline if mode not in ("sat", "baseline") else other,
        tflite_file=f"model_{kind}.tflite", tflite_kind=kind, evaluated_by="LiteRT",
        parameters=ParameterCounts(total=20_576_466 if backbone == "vgg19" else 25_786_386, trainable=7_000_000),
        sizes=ModelSizes(keras_h5_bytes=(80 + seed) * mib, tflite_bytes=int((56 + sparsity) * mib),
                         tflite_gzip_bytes=int((50 - 10 * sparsity) * mib), decode_bytes=None if mode == "sat" else 40 * mib,
                         int8_constant_bytes=7 * mib, float32_constant_bytes=49 * mib),
        layer_sparsity=[], seconds={"stage1": 1.0}, preprocess="caffe")
    directory = root / f"{backbone}-{mode}-p{sparsity}-{reg}-l{lam}-s{seed}"
    directory.mkdir(parents=True)
    metrics.save(directory / "metrics.json")
    return directory


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, list[Path], list[Path]]:
    root = tmp_path_factory.mktemp("runs")
    runs = [make_run(root, backbone, mode, sparsity, lam, reg, seed)
            for backbone in ("resnet50", "vgg19") for mode in ("sat", "jsqat") for sparsity in SPARSITIES
            for lam, reg in LOSSES for seed in SEEDS]
    runs += [make_run(root, "vgg19", "baseline", 0.0, 0.0, "l1", seed) for seed in SEEDS]
    output = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(create_app(), ["report", *map(str, runs), "-o", str(output), "--json"])
    assert result.exit_code == 0, result.output
    written = [Path(p) for p in json.loads(result.output)["written"]]
    return output, written, runs


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_every_table_figure_and_page_is_written(report):
    output, written, _ = report
    assert sorted(p.name for p in written) == sorted([
        "table1_data.csv", "table2_vgg19.csv", "table3_resnet50.csv", "table23_comparisons.csv", "table4_sizes.csv",
        "figure4.png", "figure4.svg", "report.md", "report.html"])
    assert all(p.parent == output and p.stat().st_size > 0 for p in written)


def test_table1_counts_the_data(report):
    rows = read_csv(report[0] / "table1_data.csv")
    assert rows[0] == ["class / subtype", "patients", "40X", "100X", "200X", "400X", "images"]
    assert rows[1] == ["benign/adenosis", "4", "114", "113", "111", "106", "444"]
    assert rows[-1] == ["total", "42", "978", "1016", "1007", "894", "3895"]
    markdown = (report[0] / "report.md").read_text()
    assert "the runs used magnification 40, 978 images" in markdown
    assert "split by patient, seed 0: 684 train / 147 validation / 147 test" in markdown


@pytest.mark.parametrize("name, backbone", [("table2_vgg19.csv", "vgg19"), ("table3_resnet50.csv", "resnet50")])
def test_tables_2_and_3_are_lambda_by_sparsity_grids_with_mean_and_spread(report, name, backbone):
    rows = read_csv(report[0] / name)
    assert rows[0] == ["lambda", "regularizer", "SAT 50% (float)", "JSQAT 50% (int8)", "SAT 70% (float)",
                       "JSQAT 70% (int8)", "SAT 90% (float)", "JSQAT 90% (int8)"]
    assert [row[:2] for row in rows[1:]] == [["0", "none"], ["0.001", "L1"], ["0.001", "L1L2"], ["0.01", "L1"],
                                              ["0.01", "L1L2"]]
    for row, (lam, reg) in zip(rows[1:], LOSSES):
        for column, (sparsity, mode) in enumerate((s, m) for s in SPARSITIES for m in ("sat", "jsqat")):
            mean = planted_accuracy(backbone, mode, sparsity, lam, reg, 1) * 100
            assert row[2 + column] == f"{mean:.2f} ± 1.00", (row, sparsity, mode)


def test_table4_sizes_per_backbone_mode_and_sparsity(report):
    rows = read_csv(report[0] / "table4_sizes.csv")
    header = rows[0]
    assert header[:4] == ["backbone", "mode", "sparsity", ".tflite holds"]
    assert {"Keras .h5 MiB", ".tflite MiB", "gzip MiB", "DECODE MiB"} <= set(header)
    body = {(r[0], r[1], r[2]): dict(zip(header, r)) for r in rows[1:]}
    assert len(body) == 2 * 2 * 3 + 1  # backbones x (sat, jsqat) x sparsities + the baseline
    cell = body[("VGG19", "jsqat", "70%")]
    assert cell[".tflite holds"] == "int8 trainable layers, float32 frozen"
    assert cell["Keras .h5 MiB"] == "81.00"  # (80 + seed) MiB over seeds 0-2
    assert cell[".tflite MiB"] == "56.70" and cell["gzip MiB"] == "43.00" and cell["DECODE MiB"] == "40.00"
    assert cell["runs"] == str(len(LOSSES) * len(SEEDS))
    assert body[("VGG19", "sat", "50%")][".tflite holds"] == "float32"
    assert body[("VGG19", "sat", "50%")]["DECODE MiB"] == "n/a"
    assert list(body)[:7] == [("VGG19", "baseline", "0%"), *[("VGG19", m, f"{s:.0%}") for m in ("jsqat", "sat")
                                                              for s in SPARSITIES]]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.tables, self.images, self._in = [], [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._in = "h2"
            self.headings.append("")
        elif tag == "table":
            self.tables.append(0)
        elif tag == "tr" and self.tables:
            self.tables[-1] += 1
        elif tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in = None

    def handle_data(self, data):
        if self._in == "h2":
            self.headings[-1] += data


def test_html_and_markdown_pages_hold_every_table_and_the_figure(report):
    output, _, runs = report
    page = _Page()
    page.feed((output / "report.html").read_text())
    assert [h.split(":")[0] for h in page.headings] == ["Table 1", "Table 2", "Table 3", "Table 2-3 (comparisons)",
                                                         "Table 4", "Figure 4"]
    # header row + rows: Table 1 (2 subtypes + total), Tables 2-3 (5 losses), comparisons (1), Table 4 (13)
    assert page.tables == [4, 6, 6, 2, 14]
    assert page.images == ["figure4.svg"]
    markdown = (output / "report.md").read_text()
    assert re.findall(r"^## (Table [^:]+|Figure 4)", markdown, re.M) == [
        "Table 1", "Table 2", "Table 3", "Table 2-3 (comparisons)", "Table 4", "Figure 4"]
    assert "| 0.001 | L1L2 |" in markdown and "![Figure 4](figure4.png)" in markdown


def test_figure4_has_eight_panels_of_lambda_lines(report):
    from jsqat_embed.training.report import figure_panels, load_runs

    output, _, runs = report
    svg = (output / "figure4.svg").read_text()
    assert re.findall(r'<g id="axes_(\d+)">', svg) == [str(i) for i in range(1, 9)]
    titles = re.findall(r"<!-- (\S+ · \S+ · \S+) -->", svg)
    assert titles == [f"{b} · {m} · {r}" for b in ("VGG19", "ResNet-50") for m in ("SAT", "JSQAT") for r in ("L1", "L1L2")]
    from PIL import Image

    with Image.open(output / "figure4.png") as image:
        assert image.size[0] > 2 * image.size[1]  # 4 panels wide, 2 high

    panels = figure_panels(load_runs(runs))
    assert len(panels) == 8
    l1l2 = next(p for p in panels if (p["backbone"], p["mode"], p["reg"]) == ("vgg19", "jsqat", "l1l2"))
    assert sorted(l1l2["lines"]) == [0.0, 0.001, 0.01]  # lambda 0 is in both regularizers' panels
    sparsity, mean, std = l1l2["lines"][0.01][1]
    assert sparsity == 0.7 and mean == pytest.approx(planted_accuracy("vgg19", "jsqat", 0.7, 0.01, "l1l2", 1))
    assert std == pytest.approx(0.01)


def test_report_refuses_what_it_cannot_read(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(create_app(), ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no metrics.json" in result.output
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "metrics.json").write_text(json.dumps({"config": {}, "float": {}}))
    result = CliRunner().invoke(create_app(), ["report", str(tmp_path / "old"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "metrics version None, expected 2" in result.output
