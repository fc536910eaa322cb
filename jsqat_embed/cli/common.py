"""What every command shares: error -> exit code mapping and JSON output.

Exit codes: 0 success, 1 a negative answer (not bit-exact, does not fit), 2 bad
input or usage (malformed model, unsupported op, bad board file, unwritable
output), 3 a reference interpreter failed.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

import typer

from jsqat_embed.errors import JsqatError, ReferenceRuntimeError

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_BAD_INPUT = 2
EXIT_REFERENCE = 3


@contextmanager
def user_errors(json_output: bool = False):
    """Turn the library's errors into one clear line and an exit code."""
    try:
        yield
    except ReferenceRuntimeError as exc:
        _fail(str(exc), EXIT_REFERENCE, json_output)
    except JsqatError as exc:
        _fail(str(exc), EXIT_BAD_INPUT, json_output)


def _fail(message: str, code: int, json_output: bool) -> None:
    if json_output:
        typer.echo(json.dumps({"error": message}))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def write_output_file(path, data: bytes, force: bool) -> None:
    """Write ``data`` to ``path`` atomically; an existing file is kept unless ``force``."""
    import os

    from jsqat_embed.errors import OutputLocationError

    if path.exists() and not force:
        raise OutputLocationError(f"{path} exists; pass --force to overwrite (nothing was written)")
    if path.exists() and not path.is_file():
        raise OutputLocationError(f"{path} is not a regular file; nothing was written")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError as exc:
        raise OutputLocationError(f"cannot write {path}: {exc.strerror or exc}") from exc


def print_json(payload) -> None:
    json.dump(payload, sys.stdout, indent=2, default=_jsonable)
    sys.stdout.write("\n")


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialize {type(value).__name__}")
