"""Paper-style tables and figure from run directories' metrics.json.

Table 2: int8 test metrics per mode / regularization / lambda / sparsity.
Table 3: float vs int8 accuracy (what quantization costs).
Table 4: sizes: Keras file, .tflite, gzip of the .tflite, DECODE-pruned encoding.
Figure 4: int8 accuracy against sparsity, one line per mode.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from jsqat_embed.errors import InputDataError


def load_runs(runs: list[Path]) -> list[dict]:
    loaded = []
    for run in runs:
        path = Path(run) / "metrics.json"
        if not path.exists():
            raise InputDataError(f"{run}: no metrics.json (unfinished or not a run directory)")
        try:
            metrics = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputDataError(f"{path}: not valid JSON ({exc})") from exc
        metrics["run"] = str(run)
        loaded.append(metrics)
    return loaded


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def tables(runs: list[dict]) -> dict[str, tuple[list[str], list[list]]]:
    rows2, rows3, rows4 = [], [], []
    for m in sorted(runs, key=lambda r: (r["config"]["mode"], r["config"]["reg"], r["config"]["lam"],
                                         r["config"]["sparsity"])):
        c = m["config"]
        key = [c["backbone"], c["mode"], c["reg"], c["lam"], c["sparsity"]]
        q = m["int8"]
        rows2.append(key + [q["accuracy"], q["balanced_accuracy"], q.get("sensitivity"), q.get("specificity"),
                            q.get("f1"), q.get("roc_auc")])
        rows3.append(key + [m["float"]["accuracy"], q["accuracy"], q["accuracy"] - m["float"]["accuracy"]])
        s = m["sizes"]
        rows4.append(key + [s["keras_bytes"], s["tflite_bytes"], s["tflite_gzip_bytes"], s["pruned_encoding_bytes"],
                            (s["keras_bytes"] / s["pruned_encoding_bytes"]) if s["keras_bytes"] and s["pruned_encoding_bytes"] else None])
    head = ["backbone", "mode", "reg", "lambda", "sparsity"]
    return {
        "table2_int8_metrics": (head + ["accuracy", "balanced_acc", "sensitivity", "specificity", "f1", "roc_auc"], rows2),
        "table3_quantization": (head + ["float_acc", "int8_acc", "delta"], rows3),
        "table4_sizes": (head + ["keras_bytes", "tflite_bytes", "tflite_gzip_bytes", "pruned_bytes", "keras/pruned"], rows4),
    }


def write_report(runs: list[Path], output: Path) -> list[Path]:
    loaded = load_runs(runs)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    markdown = ["# JSQAT runs", ""]
    for name, (header, rows) in tables(loaded).items():
        with open(output / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(output / f"{name}.csv")
        markdown += [f"## {name}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        markdown += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows] + [""]
    (output / "report.md").write_text("\n".join(markdown))
    written.append(output / "report.md")
    written.append(_figure(loaded, output / "figure4_accuracy_vs_sparsity.png"))
    return written


def _figure(runs: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.5))
    modes = sorted({m["config"]["mode"] for m in runs})
    for mode in modes:
        points = sorted((m["config"]["sparsity"], m["int8"]["accuracy"]) for m in runs if m["config"]["mode"] == mode)
        axis.plot([p[0] * 100 for p in points], [p[1] * 100 for p in points], marker="o", label=mode)
    axis.set_xlabel("sparsity (%)")
    axis.set_ylabel("int8 test accuracy (%)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
