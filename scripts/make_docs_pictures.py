"""Regenerate the pictures the README shows (docs/img/) from the bundled demo model.

    python scripts/make_docs_pictures.py          # needs the plot extra (matplotlib)

They are what ``make demo`` draws, made by the same commands:

- docs/img/fit-check.png: ``jsqat-embed fit-check MODEL --all --plot ...``
- docs/img/arena.png: ``jsqat-embed inspect MODEL --plot ...``

fit-check exits 1 when the model does not fit some board; that is an answer, not
a failure, so only exit codes above 1 stop this script.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "capricorn_densenet121_int8.tflite"
PICTURES = ROOT / "docs" / "img"


def run(*arguments: str, allowed: tuple[int, ...] = (0,)) -> None:
    command = [sys.executable, "-m", "jsqat_embed", *arguments]
    completed = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    if completed.returncode not in allowed:
        raise SystemExit(f"{' '.join(command)} exited {completed.returncode}")


def main() -> int:
    PICTURES.mkdir(parents=True, exist_ok=True)
    run("fit-check", str(MODEL), "--all", "--plot", str(PICTURES / "fit-check.png"), allowed=(0, 1))
    run("inspect", str(MODEL), "--plot", str(PICTURES / "arena.png"))
    for picture in sorted(PICTURES.glob("*.png")):
        print(f"{picture.relative_to(ROOT)}: {picture.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
