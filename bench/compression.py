"""Weight compression of tfmot-pruned models, measured side by side in one run.

    python bench/compression.py

Models: MobileNetV2 a0.35 96x96 and a VGG-style CNN (64x64, widths 32/64/128),
briefly trained, pruned layer-wise with tfmot to 50/70/90 % (ConstantSparsity,
pruning every step), full int8 (cached by the zoo; the first run builds them).
For the weight tensors of each model (conv, depthwise and dense filters and
biases) it prints, as fractions of their dense bytes:

- encoded: what `jsqat-embed compress --method auto` stores for them (dense
  leftovers included: small tensors stay dense under --min-bytes 1024);
- bitmask ideal: ceil(N/8) + kept values, no header, for every tensor;
- entropy bound: mask entropy + kept-value entropy (empirical, per tensor);
- LUT alone: `--method lut` (the tflite-micro package's LUT compressor);
and for the whole .tflite file: our compressed file, gzip -9 and xz -9 of the
dense file (which a microcontroller cannot run from). The target is
encoded <= bitmask ideal + 1 % of dense, over all weight tensors.
"""

from __future__ import annotations

import gzip
import lzma
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODELS = {
    "MobileNetV2 a0.35 96": ("mobilenetv2", dict(size=96, alpha=0.35)),
    "VGG-style 64": ("vgg_style", dict(size=64, widths=(32, 64, 128))),
}
SPARSITIES = (0.5, 0.7, 0.9)


def measure(data: bytes) -> dict:
    from jsqat_embed.compress.encoder import choose, compress_model
    from jsqat_embed.tflite import read_model

    compressed, report = compress_model(data, "auto")
    lut_file, lut_report = compress_model(data, "lut")
    weights = report.choices
    dense = sum(c.dense_bytes for c in weights)
    encoded = sum(c.encoded_bytes for c in weights)
    ideal = sum(c.ideal_bytes for c in weights if c.ideal_bytes is not None)
    entropy = sum(c.entropy_bytes for c in weights if c.entropy_bytes is not None)
    lut = sum(c.encoded_bytes for c in lut_report.choices)
    kept = sum(c.kept for c in weights if c.kept is not None and c.role == "filter")
    filters = sum(c.tensor.size for c in weights if c.role == "filter")
    del choose, read_model
    return {
        "sparsity": 1 - kept / filters,
        "dense": dense, "encoded": encoded, "ideal": ideal, "entropy": entropy, "lut": lut,
        "file": len(data), "compressed_file": len(compressed), "lut_file": len(lut_file),
        "gzip": len(gzip.compress(data, 9)), "xz": len(lzma.compress(data, preset=9)),
        "meets_target": encoded <= ideal + 0.01 * dense,
        "decode_ram": report.decode_ram_bytes["arm32"],
    }


def main() -> int:
    from jsqat_embed.training.zoo import pruned_zoo_model

    rows = []
    for label, (arch, kwargs) in MODELS.items():
        for sparsity in SPARSITIES:
            result = measure(pruned_zoo_model(arch, sparsity=sparsity, **kwargs).read_bytes())
            rows.append((label, sparsity, result))
            print(f"{label} @ {sparsity:.0%}: measured sparsity {result['sparsity']:.1%}, weights "
                  f"{result['dense']:,} -> {result['encoded']:,} B (ideal {result['ideal']:,}, entropy "
                  f"{result['entropy']:,.0f}), file {result['file']:,} -> {result['compressed_file']:,} B", flush=True)
    print()
    print("| model | pruned to (measured) | encoded / dense | bitmask ideal / dense | entropy bound / dense "
          "| LUT alone / dense | file: ours | file: gzip -9 | file: xz -9 | decode RAM (arm32) | target met |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, sparsity, r in rows:
        print(f"| {label} | {sparsity:.0%} ({r['sparsity']:.1%}) | {r['encoded'] / r['dense']:.3f} | "
              f"{r['ideal'] / r['dense']:.3f} | {r['entropy'] / r['dense']:.3f} | {r['lut'] / r['dense']:.3f} | "
              f"{r['compressed_file'] / r['file']:.3f} | {r['gzip'] / r['file']:.3f} | {r['xz'] / r['file']:.3f} | "
              f"{r['decode_ram']:,} B | {'yes' if r['meets_target'] else 'NO'} |")
    print()
    print("File ratios are against the dense .tflite; gzip/xz files cannot be run in place on a device.")
    return 0 if all(r["meets_target"] for _, _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
