"""Arena: TFLM's own plan vs jsqat-embed's optimized plan, both as recorded by the real TFLM, in one run.

    python bench/memory.py [--time-limit 20] [--board host]

For each model: TFLM's recorded arena for the file as it is, the recorded arena for the file
``optimize-memory`` writes (operator order + OfflineMemoryAllocation), their ratio, the floor of
the chosen order (the most planned bytes simultaneously live, plus the tail), and whether the
two files' outputs are byte-identical on 8 random inputs. Models: the test corpus's int8 models
TFLM runs (real public models) and generated ones (MobileNetV2, ResNet-, VGG-style, DenseNet121),
which need the `train` extra to build on first use (then cached). The recorded figures are the
host build's (the tflite-micro wheel); ``--board`` plans for another board's ABI and kernels and
reports the estimate only (no TFLM of that build runs here).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jsqat_embed.emulator import Emulator  # noqa: E402
from jsqat_embed.memory.optimize import footprint_floor, optimize_memory, reordered  # noqa: E402
from jsqat_embed.tflite import read_model  # noqa: E402
from jsqat_embed.tflite.writer import write_model  # noqa: E402
from jsqat_embed.verify.compare import random_inputs  # noqa: E402
from jsqat_embed.verify.references import run_reference  # noqa: E402

BRANCHY = {"resnet-style-32", "mobilenetv2-a0.35-96", "densenet121-32", "pretrainedResnet_quant", "vww_96_int8"}


def models() -> dict[str, Path]:
    manifest = json.loads((ROOT / "tests" / "corpus" / "manifest.json").read_text())["models"]
    found = {e["file"].removesuffix(".tflite"): ROOT / "tests" / "corpus" / e["file"] for e in manifest
             if e["tflm"] == "runs" and e["kind"] not in ("float",)}
    try:
        from jsqat_embed.training.zoo import zoo_model

        found["mobilenetv2-a0.35-96"] = zoo_model("mobilenetv2", size=96, alpha=0.35)
        found["resnet-style-32"] = zoo_model("resnet_style", size=32)
        found["vgg-style-32"] = zoo_model("vgg_style", size=32)
        found["densenet121-32"] = zoo_model("application", size=32, name="DenseNet121")
    except ImportError as exc:
        print(f"note: generated models skipped ({exc}); install the train extra for them", file=sys.stderr)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=20.0)
    args = parser.parse_args()
    rows, ratios, branchy = [], [], []
    print(f"{'model':<28} {'TFLM plan':>10} {'ours':>10} {'ratio':>6} {'order floor':>11} {'op floor':>10} "
          f"{'ours/op floor':>13}  identical  method")
    for name, path in models().items():
        start = time.perf_counter()
        try:
            model = read_model(path)
            plan = optimize_memory(model, time_limit=args.time_limit)
        except Exception as exc:  # a model the optimizer does not handle is reported, not hidden
            print(f"{name:<28} skipped: {exc}")
            continue
        seconds = time.perf_counter() - start
        rewritten = write_model(reordered(model, plan.order, plan.offsets))
        before, after = run_reference("tflm", path), run_reference("tflm", rewritten)
        if not (before.ok and after.ok):
            print(f"{name:<28} TFLM failed: {before.error or after.error}")
            continue
        ours, theirs = after.allocations["total"], before.allocations["total"]
        exact = ours == plan.arena.total
        try:
            inputs = random_inputs(Emulator(model), 8, 1)
            a, b = run_reference("tflm", path, inputs), run_reference("tflm", rewritten, inputs)
            identical = all(np.array_equal(x, y) for x, y in zip(a.outputs, b.outputs))
        except Exception:
            identical = None
        ratio = ours / theirs
        ratios.append(ratio)
        if name in BRANCHY:
            branchy.append(ratio)
        rows.append(dict(model=name, tflm=theirs, ours=ours, ratio=ratio, floor=plan.lower_bound,
                         op_floor=footprint_floor(model, plan.arena),
                         estimate_exact=exact, identical=identical, method=plan.method, seconds=seconds))
        op_floor = footprint_floor(model, plan.arena)
        print(f"{name:<28} {theirs:>10,} {ours:>10,} {ratio:>6.3f} {plan.lower_bound:>11,} {op_floor:>10,} "
              f"{ours / op_floor:>13.3f}  {str(identical):<9}  {plan.method} ({seconds:.1f} s)"
              + ("" if exact else f"  [estimate {plan.arena.total:,} != recorded]"))
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"\n{len(ratios)} models; geometric mean ratio {geo:.3f}; best {min(ratios):.3f}; "
              f"worst {max(ratios):.3f}; branchy models: "
              + ", ".join(f"{r:.3f}" for r in branchy))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
