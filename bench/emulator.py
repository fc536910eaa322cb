"""Emulator throughput vs the TFLM Python interpreter, measured side by side in one run.

    python bench/emulator.py [--repeats 3] [--models mobilenetv2,vgg19]

Prints images/s of both engines and their ratio for batch 1 and batch 32 on
MobileNetV2 alpha 0.35 96x96 and VGG19 96x96 (weights=None, trained a few steps,
full int8; converted once and cached). TFLM runs one image per invoke (it has no
batch dimension at run time), so "batch 32" means 32 invokes back to back; the
emulator runs the 32 images as one vectorized batch. Both engines' outputs are
checked equal on every timed batch, so the speed is that of bit-exact results.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

MODELS = {
    "mobilenetv2": ("MobileNetV2 a0.35 96x96", dict(arch="mobilenetv2", size=96, alpha=0.35)),
    "vgg19": ("VGG19 96x96", dict(arch="vgg19", size=96)),
}


def model_path(spec: dict) -> Path:
    from jsqat_embed.training.zoo import zoo_model

    spec = dict(spec)
    return zoo_model(spec.pop("arch"), **spec)


def time_emulator(emulator, batch: np.ndarray, repeats: int) -> tuple[float, list[np.ndarray]]:
    best = float("inf")
    outputs = None
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = emulator.run(batch)
        best = min(best, time.perf_counter() - start)
    return best, outputs


def time_tflm(interpreter, batch: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    best = float("inf")
    outputs = None
    for _ in range(repeats):
        collected = []
        start = time.perf_counter()
        for image in batch:
            interpreter.set_input(image[None], 0)
            interpreter.invoke()
            collected.append(np.array(interpreter.get_output(0)))
        best = min(best, time.perf_counter() - start)
        outputs = np.concatenate(collected)
    return best, outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions; the best is kept")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    parser.add_argument("--batches", default="1,32")
    args = parser.parse_args()

    from tflite_micro.python.tflite_micro import runtime

    from jsqat_embed.emulator import Emulator

    rows = []
    for key in args.models.split(","):
        label, spec = MODELS[key]
        path = model_path(spec)
        data = path.read_bytes()
        emulator = Emulator(data)
        interpreter = runtime.Interpreter.from_bytes(data, arena_size=64 << 20)
        shape = emulator.inputs[0].shape
        rng = np.random.default_rng(0)
        for batch_size in [int(b) for b in args.batches.split(",")]:
            batch = rng.integers(-128, 128, size=(batch_size, *shape[1:]), dtype=np.int64).astype(np.int8)
            emulator.run(batch[:1])  # warm caches once, like TFLM's first invoke
            emulated, ours = time_emulator(emulator, batch, args.repeats)
            reference, theirs = time_tflm(interpreter, batch, args.repeats)
            exact = bool(np.array_equal(ours[0], theirs))
            rows.append((label, batch_size, batch_size / emulated, batch_size / reference, reference / emulated, exact))
            print(f"{label:26} batch {batch_size:3}: emulator {batch_size / emulated:8.2f} img/s, "
                  f"TFLM {batch_size / reference:8.2f} img/s, ratio {reference / emulated:5.2f}x, bit-exact {exact}",
                  flush=True)

    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}")
    print()
    print("| model | batch | emulator img/s | TFLM img/s | emulator / TFLM | bit-exact |")
    print("|---|---:|---:|---:|---:|---|")
    for label, batch_size, ours, theirs, ratio, exact in rows:
        print(f"| {label} | {batch_size} | {ours:.2f} | {theirs:.2f} | {ratio:.2f}x | {'yes' if exact else 'NO'} |")
    return 0 if all(row[5] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
