"""The paper's tables and figure from run directories (their metrics.json), as the paper shows them.

Table 1   the data: images per class / subtype and magnification, patients, the split.
Table 2-3 one per backbone (VGG19 is the paper's Table 2, ResNet-50 its Table 3; further
          backbones follow as 3b, 3c, ...): rows lambda x regularizer, columns sparsity,
          each with SAT (its float model) and JSQAT (its quantized .tflite), mean +- std
          over the repeats (seeds). Baseline and QAT runs get a table of their own.
Table 4   sizes per backbone / mode / sparsity: the Keras .h5 (the paper's measure), the
          .tflite, its gzip, the DECODE-encoded .tflite, and the .tflite's constants split
          into int8 and float32 bytes.
Figure 4  accuracy against sparsity, one panel per backbone x {SAT, JSQAT} x {L1, L1L2}
          (8 for the paper's two networks), one line per lambda with the spread as error bars.

Written as CSV per table, ``report.md`` and ``report.html`` (tables and figure on one page),
``figure4.png`` and ``figure4.svg``. matplotlib is imported only to draw the figure.
"""

from __future__ import annotations

import csv
import html
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from jsqat_embed.errors import InputDataError
from jsqat_embed.training.export import GZIP_LEVEL
from jsqat_embed.training.metrics import METRIC_NAMES, RunMetrics

PAPER_ORDER = ("vgg19", "resnet50", "densenet121", "mobilenetv2")
BACKBONE_LABELS = {"vgg19": "VGG19", "resnet50": "ResNet-50", "densenet121": "DenseNet121", "mobilenetv2": "MobileNetV2"}
KIND_LABELS = {"int8": "full int8", "mixed": "int8 trainable layers, float32 frozen", "float": "float32"}
MIB = 1024 * 1024


@dataclass
class Table:
    number: str  # "1", "2", "3b", ...
    title: str
    name: str  # file stem of its CSV
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadedRun:
    directory: Path
    metrics: RunMetrics


def run_directories(paths: list[Path]) -> list[Path]:
    """The run directories ``paths`` name: a run directory (with metrics.json) stands for
    itself; a sweep's output directory (no metrics.json of its own) for its finished runs,
    the subdirectories with a metrics.json, so a sweep still going can be reported."""
    directories = []
    for path in map(Path, paths):
        runs = [] if (path / "metrics.json").exists() or not path.is_dir() else sorted(
            child for child in path.iterdir() if (child / "metrics.json").is_file())
        directories += runs or [path]
    return directories


def load_runs(directories: list[Path]) -> list[LoadedRun]:
    """The runs of ``directories`` (run directories or sweep output directories, see ``run_directories``)."""
    if not directories:
        raise InputDataError("report: give at least one run directory")
    return [LoadedRun(d, RunMetrics.load(d)) for d in run_directories(directories)]


def _order(backbone: str) -> tuple[int, str]:
    return (PAPER_ORDER.index(backbone) if backbone in PAPER_ORDER else len(PAPER_ORDER), backbone)


def _spread(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    """mean +- sample standard deviation, in percent; one value alone has no spread."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _reg_label(reg: str, lam: float) -> str:
    return "none" if lam == 0 else reg.upper()


# --- Table 1 ------------------------------------------------------------------


def table1(runs: list[LoadedRun]) -> list[Table]:
    """One table per distinct dataset (folder, magnification, split) among the runs."""
    groups: dict[tuple, list[LoadedRun]] = defaultdict(list)
    for run in runs:
        c = run.metrics.config
        groups[(c.data, c.magnification, c.dataset, c.split_by, c.seed)].append(run)
    # the counts do not depend on the seed; the split does: one table per dataset, split rows per seed
    by_data: dict[tuple, dict[tuple, LoadedRun]] = defaultdict(dict)
    for key, members in groups.items():
        by_data[key[:3]][key[3:]] = members[0]
    tables = []
    for number, ((data, magnification, _kind), splits) in enumerate(sorted(by_data.items()), start=1):
        first = next(iter(splits.values())).metrics.data
        counts = first.dataset_counts or first.counts
        columns = sorted({c for row in counts.values() for c in row if c != "patients"},
                         key=lambda c: (len(c), c))
        header = ["class / subtype", "patients", *[f"{c}X" if c.isdigit() else c for c in columns], "images"]
        rows, totals = [], defaultdict(int)
        for row_name, row_counts in counts.items():
            images = sum(row_counts.get(c, 0) for c in columns)
            rows.append([row_name, str(row_counts.get("patients", 0)), *[str(row_counts.get(c, 0)) for c in columns],
                         str(images)])
            totals["patients"] += row_counts.get("patients", 0)
            for c in columns:
                totals[c] += row_counts.get(c, 0)
        rows.append(["total", str(totals["patients"]), *[str(totals[c]) for c in columns],
                     str(sum(totals[c] for c in columns))])
        notes = [f"{data}: the runs used magnification {magnification}, {first.images} images"
                 + (f", {len(first.unreadable)} unreadable (listed in metrics.json)" if first.unreadable else "")]
        for (split_by, seed), run in sorted(splits.items()):
            d = run.metrics.data
            notes.append(f"split by {split_by}, seed {seed}: {d.train} train / {d.validation} validation / {d.test} test"
                         + (f", {len(d.leaked_patients)} patients in more than one split" if d.leaked_patients else ""))
        suffix = "" if len(by_data) == 1 else chr(ord("a") + number - 1)
        tables.append(Table(f"1{suffix}", "Images per class and magnification", f"table1{suffix}_data", header, rows, notes))
    return tables


# --- Tables 2 and 3 ---------------------------------------------------------------


def _table_numbers(backbones: list[str]) -> dict[str, str]:
    numbers = {}
    for i, backbone in enumerate(backbones):
        numbers[backbone] = "2" if i == 0 else "3" if i == 1 else f"3{chr(ord('a') + i - 1)}"
    return numbers


def accuracy_tables(runs: list[LoadedRun], metric: str = "accuracy") -> list[Table]:
    """Per backbone: rows (lambda, regularizer), columns sparsity x {SAT float, JSQAT quantized}."""
    if metric not in METRIC_NAMES:
        raise InputDataError(f"metric {metric!r}: choose {', '.join(METRIC_NAMES)}")
    paper_runs = [r for r in runs if r.metrics.config.mode in ("sat", "jsqat")]
    backbones = sorted({r.metrics.config.backbone for r in paper_runs}, key=_order)
    numbers = _table_numbers(backbones)
    tables = []
    for backbone in backbones:
        mine = [r for r in paper_runs if r.metrics.config.backbone == backbone]
        cells: dict[tuple, list[float]] = defaultdict(list)
        kinds: dict[str, set[str]] = defaultdict(set)
        for run in mine:
            c = run.metrics.config
            cells[(c.lam, _reg_label(c.reg, c.lam), c.sparsity, c.mode)].append(run.metrics.headline().get(metric))
            kinds[c.mode].add("float" if c.mode == "sat" else run.metrics.tflite_kind)
        sparsities = sorted({key[2] for key in cells})
        rows_keys = sorted({key[:2] for key in cells}, key=lambda k: (k[0], k[1]))
        header = ["lambda", "regularizer"]
        for sparsity in sparsities:
            header += [f"SAT {sparsity:.0%} (float)", f"JSQAT {sparsity:.0%} (int8)"]
        rows = []
        for lam, reg in rows_keys:
            row = [f"{lam:g}", reg]
            for sparsity in sparsities:
                for mode in ("sat", "jsqat"):
                    row.append(_spread(cells.get((lam, reg, sparsity, mode), [])))
            rows.append(row)
        repeats = sorted({len(v) for v in cells.values()})
        notes = [f"{metric.replace('_', ' ')} on the test set in %, mean ± sample standard deviation over "
                 f"{'/'.join(map(str, repeats))} repeat(s) (seeds)",
                 "SAT: the pruned float model; JSQAT: its exported .tflite ("
                 + "; ".join(KIND_LABELS.get(k, k) for k in sorted(kinds.get("jsqat", {"int8"}))) + ")"]
        tables.append(Table(numbers[backbone], f"{BACKBONE_LABELS.get(backbone, backbone)}: SAT and JSQAT",
                            f"table{numbers[backbone]}_{backbone}", header, rows, notes))
    others = [r for r in runs if r.metrics.config.mode in ("baseline", "qat")]
    if others:
        cells = defaultdict(lambda: ([], []))
        for run in others:
            c = run.metrics.config
            key = (c.backbone, c.mode, c.lam, _reg_label(c.reg, c.lam), run.metrics.tflite_kind)
            cells[key][0].append(run.metrics.float.get(metric))
            cells[key][1].append(run.metrics.tflite.get(metric))
        rows = [[BACKBONE_LABELS.get(b, b), mode, f"{lam:g}", reg, KIND_LABELS.get(kind, kind), _spread(f), _spread(q)]
                for (b, mode, lam, reg, kind), (f, q) in sorted(cells.items(), key=lambda i: (_order(i[0][0]), i[0][1:]))]
        tables.append(Table("2-3 (comparisons)", "Baseline (post-training int8) and QAT without pruning",
                            "table23_comparisons", ["backbone", "mode", "lambda", "regularizer", ".tflite",
                                                    f"float {metric}", f".tflite {metric}"], rows,
                            [f"{metric.replace('_', ' ')} in %, mean ± standard deviation over repeats"]))
    return tables


# --- Table 4 ------------------------------------------------------------------


def sizes_table(runs: list[LoadedRun]) -> Table:
    groups: dict[tuple, list[RunMetrics]] = defaultdict(list)
    for run in runs:
        c = run.metrics.config
        groups[(c.backbone, c.mode, c.sparsity, run.metrics.tflite_kind)].append(run.metrics)

    def mib(values: list[int | None]) -> str:
        values = [v for v in values if v is not None]
        return f"{statistics.fmean(values) / MIB:.2f}" if values else "n/a"

    header = ["backbone", "mode", "sparsity", ".tflite holds", "Keras .h5 MiB", ".tflite MiB", "gzip MiB",
              "DECODE MiB", "int8 constants MiB", "float32 constants MiB", "parameters", "trainable", "runs"]
    rows = []
    for (backbone, mode, sparsity, kind), members in sorted(groups.items(), key=lambda i: (_order(i[0][0]), i[0][1:])):
        s = [m.sizes for m in members]
        rows.append([BACKBONE_LABELS.get(backbone, backbone), mode, f"{sparsity:.0%}", KIND_LABELS.get(kind, kind),
                     mib([x.keras_h5_bytes for x in s]), mib([x.tflite_bytes for x in s]),
                     mib([x.tflite_gzip_bytes for x in s]), mib([x.decode_bytes for x in s]),
                     mib([x.int8_constant_bytes for x in s]), mib([x.float32_constant_bytes for x in s]),
                     f"{members[0].parameters.total:,}", f"{members[0].parameters.trainable:,}", str(len(members))])
    notes = ["MiB = 2^20 bytes, means over the group's runs (lambdas and seeds)",
             f"gzip: the .tflite compressed at gzip's default level {GZIP_LEVEL}",
             "Keras .h5: the final Keras model file (QAT model for qat/jsqat, float model otherwise), as the paper "
             "measures; DECODE: the .tflite with pruned int8 weights TFLM's DECODE operator expands "
             "(n/a: no tensor sparse enough to pay)"]
    return Table("4", "Model sizes", "table4_sizes", header, rows, notes)


# --- Figure 4 -----------------------------------------------------------------


def figure_panels(runs: list[LoadedRun], metric: str = "accuracy") -> list[dict]:
    """The panels of Figure 4: per backbone x mode (sat, jsqat) x regularizer (l1, l1l2), the
    points of each lambda (lambda 0 is the same loss for both regularizers: it is in both)."""
    paper_runs = [r for r in runs if r.metrics.config.mode in ("sat", "jsqat")]
    backbones = sorted({r.metrics.config.backbone for r in paper_runs}, key=_order)
    panels = []
    for backbone in backbones:
        for mode in ("sat", "jsqat"):
            for reg in ("l1", "l1l2"):
                lines: dict[float, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
                for run in paper_runs:
                    c = run.metrics.config
                    if c.backbone == backbone and c.mode == mode and (c.reg == reg or c.lam == 0):
                        lines[c.lam][c.sparsity].append(run.metrics.headline().get(metric))
                panels.append({"backbone": backbone, "mode": mode, "reg": reg, "lines": {
                    lam: sorted((s, *_mean_std(v)) for s, v in points.items()) for lam, points in sorted(lines.items())}})
    return panels


def draw_figure4(panels: list[dict], png: Path, svg: Path, metric: str = "accuracy") -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise InputDataError("Figure 4 needs SAT or JSQAT runs")
    rows = len(panels) // 4
    figure, axes = plt.subplots(rows, 4, figsize=(16, 3.6 * rows), squeeze=False, sharey="row")
    for panel, axis in zip(panels, axes.flat):
        for lam, points in panel["lines"].items():
            if not points:
                continue
            xs = [p[0] * 100 for p in points]
            axis.errorbar(xs, [p[1] * 100 for p in points], yerr=[p[2] * 100 for p in points], marker="o",
                          capsize=3, label=f"λ = {lam:g}")
        axis.set_title(f"{BACKBONE_LABELS.get(panel['backbone'], panel['backbone'])} · {panel['mode'].upper()} · "
                       f"{panel['reg'].upper()}", fontsize=10)
        axis.set_xlabel("sparsity (%)")
        axis.grid(alpha=0.3)
        if axis in axes[:, 0]:
            axis.set_ylabel(f"test {metric.replace('_', ' ')} (%)")
        if panel["lines"]:
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(png, dpi=110)
    figure.savefig(svg)
    plt.close(figure)
    return [png, svg]


# --- the page -----------------------------------------------------------------


def all_tables(runs: list[LoadedRun], metric: str = "accuracy") -> list[Table]:
    return [*table1(runs), *accuracy_tables(runs, metric), sizes_table(runs)]


def _markdown(tables: list[Table], figure: str | None) -> str:
    lines = ["# JSQAT runs, as the paper reports them", ""]
    for table in tables:
        lines += [f"## Table {table.number}: {table.title}", "", "| " + " | ".join(table.header) + " |",
                  "|" + "---|" * len(table.header)]
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        lines += [""] + [f"- {note}" for note in table.notes] + [""]
    if figure:
        lines += ["## Figure 4: accuracy against sparsity", "", f"![Figure 4]({figure})", ""]
    return "\n".join(lines)


def _html(tables: list[Table], figure: str | None) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>JSQAT report</title>',
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "th,td{border:1px solid #999;padding:3px 8px;text-align:right}th{background:#eee}"
             "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style></head><body>",
             "<h1>JSQAT runs, as the paper reports them</h1>"]
    for table in tables:
        parts.append(f'<h2 id="table-{e(table.number)}">Table {e(table.number)}: {e(table.title)}</h2>')
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in table.header) + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table.rows]
        parts.append("</tbody></table>")
        if table.notes:
            parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in table.notes) + "</ul>")
    if figure:
        parts += ['<h2 id="figure-4">Figure 4: accuracy against sparsity</h2>', f'<img src="{e(figure)}" alt="Figure 4">']
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(directories: list[Path], output: Path, metric: str = "accuracy") -> list[Path]:
    """Every table as CSV, report.md and report.html, figure4.png/.svg; the written files."""
    runs = load_runs(directories)
    output = Path(output)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputDataError(f"cannot create {output}: {exc.strerror or exc}") from exc
    tables = all_tables(runs, metric)
    written = []
    for table in tables:
        path = output / f"{table.name}.csv"
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.header)
            writer.writerows(table.rows)
        written.append(path)
    panels = figure_panels(runs, metric)
    figure = None
    if panels:
        written += draw_figure4(panels, output / "figure4.png", output / "figure4.svg", metric)
        figure = "figure4.svg"
    (output / "report.md").write_text(_markdown(tables, figure.replace(".svg", ".png") if figure else None))
    (output / "report.html").write_text(_html(tables, figure))
    written += [output / "report.md", output / "report.html"]
    return written

