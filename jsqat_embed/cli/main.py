"""The ``jsqat-embed`` command: one thin module per command over the Python API.

Command modules import only typer/rich at import time; heavy work (and never
TensorFlow, except in ``train``) is imported inside the command bodies, so
``--help`` and the core commands stay fast.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from typer.core import TyperGroup

try:  # recent typer carries its own copy of click; its exceptions are the ones raised
    from typer._click.exceptions import ClickException
    from typer.exceptions import Abort
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import Abort, ClickException

from jsqat_embed import __version__
from jsqat_embed.errors import InternalError

# Explicit table: command modules in the order ``--help`` lists them.
COMMAND_MODULES = (
    "inspect_cmd",
    "verify_cmd",
    "boards_cmd",
    "fit_check_cmd",
    "compress_cmd",
    "optimize_memory_cmd",
    "build_cmd",
    "serial_verify_cmd",
    "train_cmd",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jsqat-embed {__version__}")
        raise typer.Exit()


class OneLineErrors(TyperGroup):
    """Every error is one line on stderr: usage errors (bad option, missing argument,
    wrong value; exit 2) as ``error: ...``, and an unexpected exception, which is a bug,
    as ``error: internal error ...`` (exit 70; JSQAT_DEBUG=1 shows the traceback).
    Running out of memory or recursion on a hostile input is a bad input (exit 2)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `jsqat-embed` alone: the help text
                exc.show()
                sys.exit(exc.exit_code)
            where = f" (see {exc.ctx.command_path} --help)" if getattr(exc, "ctx", None) is not None else ""
            _one_line(f"{exc.format_message()}{where}")
            sys.exit(exc.exit_code)
        except Abort:
            _one_line("aborted")
            sys.exit(1)
        except (MemoryError, RecursionError) as exc:
            _one_line(f"the input needs more {'memory' if isinstance(exc, MemoryError) else 'nesting'} than "
                      "jsqat-embed allows; it is refused")
            sys.exit(2)
        except Exception as exc:  # noqa: BLE001 -- the last resort: a bug, said as one
            if os.environ.get("JSQAT_DEBUG"):
                raise
            frame = exc.__traceback__
            while frame is not None and frame.tb_next is not None:
                frame = frame.tb_next
            place = f" at {os.path.basename(frame.tb_frame.f_code.co_filename)}:{frame.tb_lineno}" if frame else ""
            if isinstance(exc, InternalError):  # a bug the library caught where it happened: its own words
                _one_line(f"{exc} (a bug in jsqat-embed {__version__}; JSQAT_DEBUG=1 shows the traceback)")
            else:
                _one_line(f"internal error{place} ({type(exc).__name__}: {exc}); this is a bug in jsqat-embed "
                          f"{__version__}: please report it with the command (JSQAT_DEBUG=1 shows the traceback)")
            sys.exit(70)
        sys.exit(result if isinstance(result, int) else 0)


def _one_line(message: str) -> None:
    text = " ".join(str(message).split())
    typer.echo(f"error: {text[:1000]}", err=True)


def create_app() -> typer.Typer:
    app = typer.Typer(
        cls=OneLineErrors,
        name="jsqat-embed",
        help="From a JSQAT-trained classifier to a microcontroller, bit-exact.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ) -> None:
        """jsqat-embed: inspect, verify, fit-check, compress and build int8 .tflite models for MCUs."""

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"jsqat_embed.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"jsqat_embed.cli.{name}":
                raise
            continue
        module.register(app)
    return app


def main() -> None:
    create_app()(prog_name="jsqat-embed")
