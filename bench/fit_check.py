"""Cold `jsqat-embed fit-check` wall time, against the issue's budgets, in one run.

    python bench/fit_check.py [--repeats 5]

Each run is a fresh Python process (`python -m jsqat_embed fit-check MODEL --all
--json`), so imports, reading and planning are all counted, as a user sees them.
Models: the bundled MobileNetV2 a0.35 96x96 (623 KB, larger than the 300 KB of
the budget) and a dense int8 VGG19 224x224 (20 MB, built and cached by the zoo
on first use, which needs the `train` extra). Prints the median of the runs,
the budget and their ratio (< 1 meets the budget); also a bare `python -c pass`
process start, measured the same way, for scale.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cold_run(args: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from jsqat_embed.training.zoo import zoo_model

    models = [
        ("MobileNetV2 a0.35 96 (demo)", ROOT / "models" / "demo_mobilenetv2_a035_96.tflite", 0.5),
        ("VGG19 224 dense int8", zoo_model("vgg19", size=224), 3.0),
    ]
    baseline = statistics.median(cold_run(["-c", "pass"]) for _ in range(args.repeats))
    rows = []
    for label, path, budget in models:
        cold_run(["-m", "jsqat_embed", "fit-check", str(path), "--all", "--json"])  # warm the OS file cache
        times = [cold_run(["-m", "jsqat_embed", "fit-check", str(path), "--all", "--json"]) for _ in range(args.repeats)]
        median = statistics.median(times)
        rows.append((label, path.stat().st_size, median, budget))
        print(f"{label:28} {path.stat().st_size / 1e6:7.2f} MB: median {median:.3f} s over {args.repeats} cold runs "
              f"(budget {budget} s, ratio {median / budget:.2f})", flush=True)
    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"bare interpreter start {baseline:.3f} s")
    print()
    print("| model | size | cold fit-check --all (median) | budget | time / budget |")
    print("|---|---:|---:|---:|---:|")
    for label, size, median, budget in rows:
        print(f"| {label} | {size / 1e6:.2f} MB | {median:.3f} s | {budget} s | {median / budget:.2f} |")
    return 0 if all(median <= budget for _, _, median, budget in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
