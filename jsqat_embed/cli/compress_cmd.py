"""``jsqat-embed compress``: pruned / LUT weights TFLM decodes itself, with a size report."""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import print_json, user_errors, write_output_file


def compress_command(
    model: Path = typer.Argument(..., help="Path to an int8 .tflite model (pruned models gain the most)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the compressed .tflite."),
    method: str = typer.Option("auto", "--method", help="auto (smallest per tensor), prune, lut or none."),
    min_bytes: int = typer.Option(1024, "--min-bytes", help="Tensors smaller than this stay dense."),
    c_array: Path = typer.Option(None, "--c-array", help="Also write model_data.cc/.h for the compressed model here."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Encode each weight tensor as PRUNING (bitmask + kept values), LUT or dense, whichever is smallest,
    and insert TFLM DECODE operators. Prints per-tensor and total sizes, the bitmask ideal, the entropy
    bound and the extra arena the decoding costs."""
    from jsqat_embed.compress.encoder import compress_model
    from jsqat_embed.errors import InputDataError, OutputLocationError
    from jsqat_embed.firmware.render import write_files

    with user_errors(json_output):
        if method not in ("auto", "prune", "lut", "none"):
            raise InputDataError(f"--method {method!r}: choose auto, prune, lut or none")
        if min_bytes < 0:
            raise InputDataError("--min-bytes must be >= 0")
        try:
            data = model.read_bytes()
        except OSError as exc:
            raise InputDataError(f"cannot read {model}: {exc.strerror or exc}") from exc
        if output.resolve() == model.resolve():
            raise OutputLocationError(f"--output {output} is the input model; choose another path (nothing was written)")
        if output.exists() and not force:
            raise OutputLocationError(f"{output} exists; pass --force to overwrite (nothing was written)")
        if c_array is not None and not force:
            clashes = [name for name in ("model_data.cc", "model_data.h") if (c_array / name).exists()]
            if clashes:
                raise OutputLocationError(
                    f"{c_array} already has {', '.join(clashes)}; pass --force to overwrite (nothing was written)")
        compressed, report = compress_model(data, method, min_bytes)
        write_output_file(output, compressed, force)
        if c_array is not None:
            from jsqat_embed.firmware.c_array import render_model_arrays

            summary = _summary(report)
            write_files(c_array, render_model_arrays(compressed, model.name, encoding_summary=summary), force=force)
    if json_output:
        print_json({"model": str(model), "output": str(output), **report.to_json()})
        return
    _print(model, output, report)


def _summary(report) -> str:
    totals = report.totals()
    methods = {}
    for choice in report.compressed:
        methods[choice.method] = methods.get(choice.method, 0) + 1
    parts = ", ".join(f"{count} {name}" for name, count in sorted(methods.items())) or "no tensor compressed"
    return (f"{parts}; weights {totals['dense_bytes']} -> {totals['encoded_bytes']} bytes; "
            f"file {totals['file_bytes']['dense']} -> {totals['file_bytes']['compressed']} bytes")


def _print(model: Path, output: Path, report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    totals = report.totals()
    table = Table(header_style="bold")
    for column, justify in (("tensor", "left"), ("method", "left"), ("sparsity", "right"), ("dense", "right"),
                            ("encoded", "right"), ("bitmask ideal", "right"), ("entropy bound", "right"),
                            ("note", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for choice in report.choices:
        table.add_row(
            choice.tensor.name.split(";")[0][-40:], choice.method,
            "" if choice.sparsity is None else f"{choice.sparsity:.1%}",
            f"{choice.dense_bytes:,}", f"{choice.encoded_bytes:,}",
            "" if choice.ideal_bytes is None else f"{choice.ideal_bytes:,}",
            "" if choice.entropy_bytes is None else f"{choice.entropy_bytes:,.0f}",
            choice.reason,
        )
    console.print(table)
    console.print(
        f"[bold]{output}[/bold]: {totals['compressed_tensors']} of {totals['tensors']} weight tensors compressed; "
        f"their {totals['dense_bytes']:,} bytes -> {totals['encoded_bytes']:,} (bitmask ideal "
        f"{totals['bitmask_ideal_bytes']:,}, entropy bound {totals['entropy_bound_bytes']:,.0f}); file "
        f"{totals['file_bytes']['dense']:,} -> {totals['file_bytes']['compressed']:,} bytes",
        highlight=False)
    ram = totals["decode_ram_bytes"]
    console.print(f"decoding costs {ram['arm32']:,} extra arena bytes on 32-bit boards ({ram['x86_64']:,} on the host): "
                  "decoded weights live in the arena next to their consumer (fit-check counts them)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("compress")(compress_command)
