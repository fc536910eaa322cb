"""What both pictures share: the lazy matplotlib import, output checks, sizes in words."""

from __future__ import annotations

from pathlib import Path

from jsqat_embed.errors import JsqatError, OutputLocationError

SUFFIXES = (".png", ".svg", ".pdf")
INSTALL_HINT = "pip install 'jsqat-embed[plot]'"


def require_matplotlib() -> None:
    """Raise one clear line when matplotlib is missing (checked before any work is done)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise JsqatError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}") from exc


def check_output(path: Path) -> Path:
    """A picture path whose suffix matplotlib can write, in a folder that can exist."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise OutputLocationError(f"--plot {path}: the file name must end in {', '.join(SUFFIXES)}")
    if path.exists() and not path.is_file():
        raise OutputLocationError(f"--plot {path} is not a regular file; nothing was written")
    return path


def new_figure(width: float, height: float):
    """A matplotlib Figure not tied to pyplot's global state (safe in servers and tests)."""
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def save(figure, path: Path) -> None:
    path = check_output(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format=path.suffix.lower()[1:])
    except OSError as exc:
        raise OutputLocationError(f"cannot write {path}: {exc.strerror or exc}") from exc


def size_text(count: int) -> str:
    """Bytes the way the text reports print them (binary units)."""
    if count >= 1 << 20:
        return f"{count / (1 << 20):.1f} MiB"
    if count >= 1024:
        return f"{count / 1024:.0f} KiB"
    return f"{count} B"


def short_label(label: str, width: int = 40) -> str:
    """TF tensor names repeat the fused layers (``a/b/Relu;a/b/BN;...``): the first, trimmed on the left."""
    first = label.split(";")[0]
    return first if len(first) <= width else "..." + first[-(width - 3):]
