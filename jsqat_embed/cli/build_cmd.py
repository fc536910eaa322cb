"""``jsqat-embed build``: a firmware project for a board, with an on-boot bit-exact self-test."""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import EXIT_NEGATIVE, print_json, user_errors


def build_command(
    model: Path = typer.Argument(..., help="Path to an int8 .tflite model (any number of inputs and outputs)."),
    board: str = typer.Option(..., "--board", "-b", help="Board id or alias (see `jsqat-embed boards`)."),
    output: Path = typer.Option(..., "--output", "-o", help="Project directory to create."),
    build_system: str = typer.Option(None, "--build-system",
                                     help="esp-idf, arduino, platformio, zephyr, cmake or pico-sdk (default: the board's first)."),
    encoding: str = typer.Option("auto", "--encoding", help="auto (dense if it fits, else the smallest DECODE encoding that fits flash and RAM), dense, pruned, lut, huffman or smallest (compress --method auto)."),
    golden: int = typer.Option(8, "--golden", help="Random golden inputs compiled into the self-test."),
    golden_images: Path = typer.Option(None, "--golden-images", help="Use these images (preprocessed as verify --images; models with one image input) instead."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random golden inputs."),
    board_file: Path = typer.Option(None, "--board-file", help="A board profile TOML instead of a bundled board."),
    force: bool = typer.Option(False, "--force", help="Replace a project jsqat-embed built in the output directory "
                               "(only its unchanged generated files; your other files stay). Files and links are never replaced."),
    ignore_fit: bool = typer.Option(False, "--ignore-fit", help="Build even if the model or the golden vectors do not fit the board."),
    keep_memory_plan: bool = typer.Option(False, "--keep-memory-plan", help="Deploy the model's own operator order "
                                          "and TFLM's plan, even where `optimize-memory` finds a smaller arena."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document."),
) -> None:
    """Compress if needed, fit-check, compute golden outputs with the emulator and render the project."""
    from jsqat_embed.boards import load_board, load_board_file
    from jsqat_embed.errors import DoesNotFitError
    from jsqat_embed.firmware.project import build_project
    from jsqat_embed.firmware.render import shell_word

    with user_errors(json_output):
        profile = load_board_file(board_file) if board_file else load_board(board)
        try:
            result = build_project(model, profile, output, build_system=build_system, encoding=encoding,
                                   golden=golden, golden_images=golden_images, seed=seed, force=force,
                                   ignore_fit=ignore_fit, optimize_memory=not keep_memory_plan)
        except DoesNotFitError as exc:
            if json_output:
                print_json({"error": str(exc), "fits": False})
            else:
                typer.echo(f"error: {exc}", err=True)
                typer.echo(f"see: jsqat-embed fit-check {shell_word(model)} --board {profile.id}"
                           " (or build anyway with --ignore-fit)", err=True)
            raise typer.Exit(EXIT_NEGATIVE) from None
    if json_output:
        print_json(result.to_json())
        return
    fit = result.fit
    typer.echo(f"{result.build_system} project for {_shown(profile.name)} in {_shown(result.directory)}/ "
               f"({len(result.files)} files)")
    typer.echo(f"  model: {result.encoding}, {fit.model_bytes:,} bytes in {fit.model_region.name if fit.model_region else '?'}; "
               f"arena {(fit.arena_bytes + 15) // 16 * 16:,} bytes in {fit.arena_region.name if fit.arena_region else '?'}")
    for kind, tensors in (("input", result.inputs), ("output", result.outputs)):
        for tensor in tensors:
            typer.echo(f"  {kind} {tensor['index']} '{_shown(tensor['name'])}': {tensor['dtype']}"
                       f"[{'x'.join(str(d) for d in tensor['shape'])}], {tensor['bytes']:,} bytes")
    typer.echo(f"  self-test: {result.golden_count} golden cases, expected outputs crc32 {result.crc_text}"
               + (" (one per output)" if len(result.output_crcs) > 1 else ""))
    for warning in fit.warnings:
        typer.echo(f"  ! {warning}")
    typer.echo("next:")
    for step in result.next_steps:
        typer.echo(f"  {step}")


def _shown(value) -> str:
    """Text from a model or board file for the terminal: control characters (escape
    sequences, newlines) shown as escapes instead of acted on."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))


def register(app: typer.Typer) -> None:
    app.command("build")(build_command)
