"""Refresh tests/zoo: the converter-made test models kept in the repository.

    rm -rf .cache/models && make test      # a fresh cache holds exactly the models the suite uses
    python scripts/seed_test_models.py     # copy those up to --max-bytes into tests/zoo

The suite finds a model there before it runs TensorFlow's converter (JSQAT_MODEL_SEED,
set by tests/conftest.py; jsqat_embed/training/zoo.py). The file names carry the digest of
each model's key, so a model whose recipe changed gets a new key, misses the seed and is
built again; this script then replaces the stale file. Larger models (VGG19, ResNet50, ...)
stay out of the repository and are converted on first use.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "models")
    parser.add_argument("--seed", type=Path, default=ROOT / "tests" / "zoo")
    parser.add_argument("--max-bytes", type=int, default=3_000_000)
    args = parser.parse_args()
    wanted = {p.name: p for p in args.cache.glob("*.tflite") if p.stat().st_size <= args.max_bytes}
    args.seed.mkdir(parents=True, exist_ok=True)
    removed = [p for p in args.seed.glob("*.tflite") if p.name not in wanted]
    for path in removed:
        path.unlink()
    added = [name for name in wanted if not (args.seed / name).exists()]
    for name in added:
        shutil.copyfile(wanted[name], args.seed / name)
    total = sum(p.stat().st_size for p in args.seed.glob("*.tflite"))
    print(f"tests/zoo: {len(wanted)} models, {total / 1e6:.1f} MB ({len(added)} added, {len(removed)} removed)")


if __name__ == "__main__":
    main()
