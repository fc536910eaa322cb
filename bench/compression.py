"""Compressed .tflite files TFLM runs, against gzip -9 and xz -9 of the same files, side by side in one run.

    python bench/compression.py

Models: a VGG-style CNN (64x64, widths 32/64/128) and MobileNetV2 a0.35 96x96,
briefly trained, pruned layer-wise with tfmot to 50/70/90 % (ConstantSparsity,
pruning every step), full int8 (cached by the zoo; the first run builds them);
and a dense model: TFLM's own person-detection example (tests/corpus).

For each model it prints:

- file: what `jsqat-embed compress` writes -- "before" as the previous release
  wrote it (`--method prune --no-lean`), "ours" by default (`--method auto`,
  lean), "ours, stripped" with `--strip names,metadata,bias-quantization` --
  and gzip -9 and xz -9 (Python's lzma, preset 9 | EXTREME) of the dense file,
  which no microcontroller can run in place; all as fractions of the dense file;
- weights (every conv/depthwise/dense filter and bias, dense leftovers
  included): ours and the entropy bound (mask entropy + kept-value entropy per
  tensor), as fractions of their dense bytes;
- decode RAM: the extra arena the decoded weights take on 32-bit boards;
- whether the real TFLM interpreter gives byte-identical outputs for both of
  our files (random inputs).

Target: stripped file <= xz -9 at 50 % and 70 %, <= gzip -9 at 90 %. Where it
is missed, a second table says by how much and where the bytes are: the
weights (and the floor of one bit per weight that every DECODE format pays:
a bitmask, an index or a Huffman code word per element) and the rest.
"""

from __future__ import annotations

import gzip
import lzma
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PRUNED = {
    "VGG-style CNN 64": ("vgg_style", dict(size=64, widths=(32, 64, 128))),
    "MobileNetV2 a0.35 96": ("mobilenetv2", dict(size=96, alpha=0.35)),
}
SPARSITIES = (0.5, 0.7, 0.9)
DENSE = {"person_detect (dense)": ROOT / "tests" / "corpus" / "person_detect.tflite"}
STRIP_ALL = ("names", "metadata", "bias-quantization")


def _identical_in_tflm(dense: bytes, files: list[bytes]) -> bool:
    from jsqat_embed.emulator import Emulator
    from jsqat_embed.verify.compare import random_inputs
    from jsqat_embed.verify.references import run_reference

    inputs = random_inputs(Emulator(dense), 4, seed=7)
    reference = run_reference("tflm", dense, inputs)
    for data in files:
        result = run_reference("tflm", data, inputs)
        if not (reference.ok and result.ok) or any(
                a.tobytes() != b.tobytes() for a, b in zip(reference.outputs, result.outputs)):
            return False
    return True


def measure(data: bytes, target: str | None) -> dict:
    from jsqat_embed.compress.encoder import compress_model

    before, _ = compress_model(data, "prune", lean=False)
    ours, report = compress_model(data, "auto")
    stripped, stripped_report = compress_model(data, "auto", strip=STRIP_ALL)
    weights = report.choices
    dense = sum(c.dense_bytes for c in weights)
    kept = sum(c.kept for c in weights if c.kept is not None and c.role == "filter")
    filters = sum(c.tensor.size for c in weights if c.role == "filter")
    files = stripped_report.totals()["file_bytes"]
    gz, xz = len(gzip.compress(data, 9)), len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    goal = {"xz": xz, "gzip": gz}.get(target)
    return {
        "sparsity": 1 - kept / filters,
        "file": len(data), "before": len(before), "ours": len(ours), "stripped": len(stripped),
        "gzip": gz, "xz": xz, "target": target, "goal": goal,
        "dense_weights": dense, "weights": files["weights"], "rest": files["rest"],
        "entropy": sum(c.entropy_bytes if c.entropy_bytes is not None else c.dense_bytes for c in weights),
        # one bit per element of every int8/int16 tensor: what any DECODE format pays at least
        "floor": sum(-(-c.tensor.size // 8) if c.tensor.dtype in ("int8", "int16") else c.dense_bytes for c in weights),
        "methods": stripped_report.totals()["methods"],
        "decode_ram": stripped_report.decode_ram_bytes["arm32"],
        "tflm_identical": _identical_in_tflm(data, [ours, stripped]),
    }


def main() -> int:
    from jsqat_embed.training.zoo import pruned_zoo_model

    rows = []
    for label, (arch, kwargs) in PRUNED.items():
        for sparsity in SPARSITIES:
            data = pruned_zoo_model(arch, sparsity=sparsity, **kwargs).read_bytes()
            rows.append((label, f"{sparsity:.0%}", measure(data, "xz" if sparsity < 0.8 else "gzip")))
            _progress(*rows[-1])
    for label, path in DENSE.items():
        rows.append((label, "dense", measure(path.read_bytes(), None)))
        _progress(*rows[-1])
    print()
    print("| model | pruned to (measured) | file: before | file: ours | file: ours, stripped | file: gzip -9 "
          "| file: xz -9 | weights: ours / dense | weights: entropy bound / dense | decode RAM (arm32) "
          "| TFLM byte-identical | target met |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for label, pruned, r in rows:
        f = r["file"]
        met = "-" if r["goal"] is None else (f"yes (<= {r['target']})" if r["stripped"] <= r["goal"] else
                                             f"no: +{r['stripped'] - r['goal']:,} B over {r['target']}")
        print(f"| {label} | {pruned} ({r['sparsity']:.1%}) | {r['before'] / f:.3f} | {r['ours'] / f:.3f} | "
              f"{r['stripped'] / f:.3f} | {r['gzip'] / f:.3f} | {r['xz'] / f:.3f} | "
              f"{r['weights'] / r['dense_weights']:.3f} | {r['entropy'] / r['dense_weights']:.3f} | "
              f"{r['decode_ram']:,} B | {'yes' if r['tflm_identical'] else 'NO'} | {met} |")
    print()
    print("Where the bytes of the stripped files are (bytes):")
    print()
    print("| model | pruned to | file | weights | of which the 1-bit-per-weight floor | rest | target | over by |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, pruned, r in rows:
        over = "" if r["goal"] is None else f"{max(0, r['stripped'] - r['goal']):,}"
        goal = "" if r["goal"] is None else f"{r['target']} {r['goal']:,}"
        print(f"| {label} | {pruned} | {r['stripped']:,} | {r['weights']:,} | {r['floor']:,} | {r['rest']:,} | "
              f"{goal} | {over} |")
    print()
    print("File ratios are against the dense .tflite; gzip/xz files cannot be run in place on a device.")
    return 0 if all(r["tflm_identical"] for _, _, r in rows) else 1


def _progress(label: str, pruned: str, r: dict) -> None:
    print(f"{label} @ {pruned}: measured sparsity {r['sparsity']:.1%}, file {r['file']:,} -> {r['ours']:,} B "
          f"({r['stripped']:,} stripped; gzip {r['gzip']:,}, xz {r['xz']:,}); methods {r['methods']}; "
          f"TFLM identical: {r['tflm_identical']}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
