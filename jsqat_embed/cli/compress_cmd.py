"""``jsqat-embed compress``: weights TFLM decodes itself (Huffman, pruning, LUT), per tensor the smallest."""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import print_json, user_errors

METHOD_HELP = ("auto (per tensor the smallest of Huffman, pruning, LUT and dense, ancillary data and DECODE "
               "bookkeeping included), huffman, prune, lut or none.")
STRIP_HELP = ("Comma-separated, what TFLM never reads: names (tensor and subgraph names), metadata (description, "
              "signatures, metadata TFLM does not look up, shape signatures, min/max), bias-quantization (of "
              "CONV_2D/DEPTHWISE_CONV_2D biases, which TFLM's kernels never read).")
NAME_WIDTH = 36


def compress_command(
    model: Path = typer.Argument(..., help="Path to an int8 .tflite model (pruned models gain the most)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the compressed .tflite."),
    method: str = typer.Option("auto", "--method", help=METHOD_HELP),
    min_bytes: int = typer.Option(1024, "--min-bytes", help="Tensors smaller than this stay dense."),
    lean: bool = typer.Option(True, "--lean/--no-lean",
                              help="Share identical vectors and tables, one zero point where all are equal (TFLM "
                                   "reads it for every channel); --no-lean keeps the file's own layout."),
    strip: list[str] = typer.Option([], "--strip", help=STRIP_HELP),
    c_array: Path = typer.Option(None, "--c-array", help="Also write model_data.cc/.h for the compressed model here."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Encode each weight tensor as HUFFMAN, PRUNING, LUT or dense, whichever takes the fewest file bytes,
    and insert TFLM DECODE operators. Prints per-tensor and total sizes, the entropy bound, where the file's
    bytes are and the extra arena the decoding costs."""
    from jsqat_embed.compress.encoder import METHODS, STRIP_CHOICES, compress_model
    from jsqat_embed.errors import InputDataError, OutputLocationError
    from jsqat_embed.firmware.render import write_group

    with user_errors(json_output):
        if method not in METHODS:
            raise InputDataError(f"--method {method!r}: choose {', '.join(METHODS)}")
        if min_bytes < 0:
            raise InputDataError("--min-bytes must be >= 0")
        stripped = tuple(dict.fromkeys(part.strip() for item in strip for part in item.split(",") if part.strip()))
        unknown = [part for part in stripped if part not in STRIP_CHOICES]
        if unknown:
            raise InputDataError(f"--strip {','.join(unknown)}: choose from {', '.join(STRIP_CHOICES)}")
        from jsqat_embed.tflite.reader import read_model_file

        data = read_model_file(model)  # a regular file only: a FIFO or /dev/zero would never end
        if output.resolve() == model.resolve():
            raise OutputLocationError(f"--output {output} is the input model; choose another path (nothing was written)")
        if output.exists() and not force:
            raise OutputLocationError(f"{output} exists; pass --force to overwrite (nothing was written)")
        if c_array is not None and not force:
            clashes = [name for name in ("model_data.cc", "model_data.h") if (c_array / name).exists()]
            if clashes:
                raise OutputLocationError(
                    f"{c_array} already has {', '.join(clashes)}; pass --force to overwrite (nothing was written)")
        compressed, report = compress_model(data, method, min_bytes, lean=lean, strip=stripped)
        outputs = {output: compressed}  # written as one group: never the .tflite without its C array
        if c_array is not None:
            from jsqat_embed.firmware.c_array import render_model_arrays

            summary = _summary(report)
            arrays = render_model_arrays(compressed, model.name, encoding_summary=summary)
            outputs.update({c_array / name: text for name, text in arrays.items()})
        write_group(outputs, force=force)
    if json_output:
        print_json({"model": str(model), "output": str(output), **report.to_json()})
        return
    _print(output, report)


def short_name(name: str, width: int = NAME_WIDTH) -> str:
    """A tensor name that fits ``width``: its first alias (TFLite joins fused ops' names with ';'),
    shortened in the middle, so both its start (the layer) and its end (the op) stay readable."""
    first = name.split(";")[0]
    if len(first) <= width:
        return first
    head = (width - 1) // 2
    return f"{first[:head]}…{first[len(first) - (width - 1 - head):]}"


def _summary(report) -> str:
    totals = report.totals()
    methods = {m: n for m, n in totals["methods"].items() if m != "dense"}
    parts = ", ".join(f"{count} {name}" for name, count in sorted(methods.items())) or "no tensor compressed"
    return (f"{parts}; weights {totals['dense_bytes']} -> {totals['encoded_bytes']} bytes; "
            f"file {totals['file_bytes']['dense']} -> {totals['file_bytes']['compressed']} bytes")


def _print(output: Path, report) -> None:
    from jsqat_embed.cli.layout import fits, table, terminal_width, wrap

    width = terminal_width()
    totals = report.totals()
    headers = ["tensor", "method", "sparsity", "dense", "huffman", "prune", "lut", "chosen", "entropy"]
    rows, notes = [], []
    for choice in report.choices:
        name = short_name(choice.tensor.name)
        rows.append([
            name, choice.method, "" if choice.sparsity is None else f"{choice.sparsity:.1%}", f"{choice.dense_bytes:,}",
            *(f"{choice.sizes[m]:,}" if m in choice.sizes else "-" for m in ("huffman", "prune", "lut")),
            f"{choice.encoded_bytes:,}", "" if choice.entropy_bytes is None else f"{choice.entropy_bytes:,.0f}"])
        notes.append(choice.reason)
    lines: list[str] = []
    grid = table(headers, rows, right=set(range(2, 9)))
    if fits(grid, width):
        lines += grid[:2]
        for row_line, note in zip(grid[2:], notes):
            lines.append(row_line)
            if note:
                lines += wrap(note, width, "    ")
    else:
        # One block per tensor: the name on its own line (never cut), the figures below it.
        for row, note in zip(rows, notes):
            lines.append(row[0])
            figures = ", ".join(f"{h} {v}" for h, v in zip(headers[1:], row[1:]) if v not in ("", "-"))
            lines += wrap(figures, width, "    ")
            if note:
                lines += wrap(note, width, "    ")
    files = totals["file_bytes"]
    layout = "lean" if totals["lean"] else "as read"
    if totals["strip"]:
        layout += ", stripped of " + ", ".join(totals["strip"])
    lines += wrap(
        f"{output}: {totals['compressed_tensors']} of {totals['tensors']} weight tensors compressed "
        f"(sizes: encoded + ancillary bytes); their {totals['dense_bytes']:,} bytes -> {totals['encoded_bytes']:,} "
        f"(entropy bound {totals['entropy_bound_bytes']:,.0f}); file {files['dense']:,} -> {files['compressed']:,} "
        f"bytes ({layout}): weights {files['weights']:,}, the rest {files['rest']:,}", width)
    ram = totals["decode_ram_bytes"]
    lines += wrap(f"decoding costs {ram['arm32']:,} extra arena bytes on 32-bit boards ({ram['x86_64']:,} on the host): "
                  "decoded weights live in the arena next to their consumer (fit-check counts them)", width)
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("compress")(compress_command)
