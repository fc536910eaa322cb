"""The ``jsqat-embed`` command: one thin module per command over the Python API.

Command modules import only typer/rich at import time; heavy work (and never
TensorFlow, except in ``train``) is imported inside the command bodies, so
``--help`` and the core commands stay fast.
"""

from __future__ import annotations

import importlib

import typer

from jsqat_embed import __version__

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


def create_app() -> typer.Typer:
    app = typer.Typer(
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
