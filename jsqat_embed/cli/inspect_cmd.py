"""``jsqat-embed inspect``: what a .tflite holds and what will hurt on a device."""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import print_json, user_errors


def _human(count: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.2f}{unit}"
    return str(count)


def _shapes(shapes: list[list[int]]) -> list[str]:
    """One cell entry per tensor (a table puts them on one line when it can)."""
    return ["x".join(str(d) for d in s) for s in shapes] or ["-"]


def inspect_command(
    model: Path = typer.Argument(..., help="Path to an int8 .tflite model."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document instead of tables."),
    all_layers: bool = typer.Option(False, "--all-layers", help="List every operator (default: every operator too, but data-movement ops are folded when there are more than 60)."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw the tensor arena's plan over the operators (host, reference kernels) to this .png/.svg/.pdf (needs jsqat-embed[plot])."),
    board: str | None = typer.Option(None, "--board", "-b", help="Add each operator's estimated time on this board (the latency cycle model; see docs/latency.md)."),
) -> None:
    """Op counts, a per-layer table (shapes, parameters, MACs, weight sparsity), totals and device warnings."""
    from jsqat_embed.graph.analysis import summarize
    from jsqat_embed.tflite import read_model

    with user_errors(json_output):
        if plot is not None:
            from jsqat_embed.plot.common import check_output, require_matplotlib

            require_matplotlib()
            check_output(plot)
        graph = read_model(model)
        summary = summarize(graph)
        latency = None
        if board is not None:
            from jsqat_embed.boards import load_board
            from jsqat_embed.memory.latency import estimate_latency

            latency = estimate_latency(graph, load_board(board))
        if plot is not None:
            from jsqat_embed.plot import plot_arena

            plot_arena(graph, plot)
    if json_output:
        document = summary.to_json()
        if latency is not None:
            document["latency"] = dict(latency.to_json(), board=board, operators=[
                {"index": op.index, "op": op.opcode, "class": op.op_class,
                 "ms": float(f"{op.cycles * latency.slowdown / (latency.clock_mhz * 1e3):.4g}")}
                for op in latency.operators])
        print_json(document)
        return

    typer.echo("\n".join(_text(summary, all_layers, latency, board, plot)))


def _layer_table(headers: list[str], rows: list[list], right: set[int], width: int) -> list[str]:
    """The per-layer table at ``width``: one line per operator; else an operator's several shapes on lines
    of their own (columns two, then one space apart); else one block per operator. Cells are never cut."""
    from jsqat_embed.cli.layout import fits, table, wrap

    flat = table(headers, [[" ".join(cell) if isinstance(cell, list) else cell for cell in row] for row in rows],
                 right)
    if fits(flat, width):
        return flat
    expanded = []
    for row in rows:
        height = max(len(cell) if isinstance(cell, list) else 1 for cell in row)
        for line in range(height):
            expanded.append([(cell[line] if line < len(cell) else "") if isinstance(cell, list)
                             else (cell if line == 0 else "") for cell in row])
    for gap in (2, 1):
        stacked = table(headers, expanded, right, gap=gap)
        if fits(stacked, width):
            return stacked
    out = []
    for row in rows:
        cells = [" ".join(cell) if isinstance(cell, list) else cell for cell in row]
        out += wrap(f"{cells[0]} {cells[1]}", width)
        details = ", ".join(f"{name} {cell}" for name, cell in zip(headers[2:], cells[2:]) if cell)
        out += wrap(details, width, "    ")
    return out


def _text(summary, all_layers: bool, latency, board: str | None, plot: Path | None) -> list[str]:
    from jsqat_embed.cli.layout import terminal_width, wrap

    width = terminal_width()
    out = wrap(f"{summary.name}  {summary.size_bytes:,} bytes  sha256 {summary.sha256[:16]}", width)
    for label, items in (("input", summary.inputs), ("output", summary.outputs)):
        for io in items:
            quant = f"scale {io['scale']:.6g} zero point {io['zero_point']}" if io["scale"] is not None else "not quantized"
            out += wrap(f"{label:6} {io['name']}: {io['dtype']} {'x'.join(map(str, io['shape']))} ({quant})", width,
                        "  ")
    out += wrap("ops: " + ", ".join(f"{name} x{count}" for name, count in summary.op_counts.items()), width, "  ")

    rows = summary.layers
    folded = 0
    if not all_layers and len(rows) > 60:
        kept = [r for r in rows if r.macs or r.op in ("SOFTMAX", "MEAN", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION")]
        folded = len(rows) - len(kept)
        rows = kept
    headers = ["#", "op", "input", "output", "params", "MACs", "sparsity"]
    op_ms = {}
    if latency is not None:
        from jsqat_embed.memory.latency import format_ms

        headers.append("ms")
        op_ms = {op.index: op.cycles * latency.slowdown / (latency.clock_mhz * 1e3) for op in latency.operators}
    cells = []
    for row in rows:
        sparsity = f"{row.weight_sparsity:.1%}" if row.weight_sparsity is not None else ""
        line = [str(row.index), row.op, _shapes(row.input_shapes), _shapes(row.output_shapes),
                _human(row.params) if row.params else "", _human(row.macs) if row.macs else "", sparsity]
        if latency is not None:
            line.append(format_ms(op_ms.get(row.index, 0.0)))  # two digits: the estimate is good to x1.2-x3
        cells.append(line)
    out += [""] + _layer_table(headers, cells, {0, 4, 5, 6, 7}, width) + [""]
    if folded:
        out += wrap(f"({folded} data-movement/activation ops not shown; --all-layers lists them)", width, "  ")
    overall = f"{summary.overall_weight_sparsity:.1%}" if summary.overall_weight_sparsity is not None else "n/a"
    out += wrap(f"total: {len(summary.layers)} ops, {summary.total_params:,} weights ({summary.weight_bytes:,} bytes), "
                f"{_human(summary.total_macs)} MACs, weight sparsity {overall}", width)
    if latency is not None:
        classes = ", ".join(f"{name} {format_ms(ms)} ms" for name, ms in latency.by_class().items() if ms > 0)
        out += wrap(f"latency on {board}: {latency.text()} = {classes}; {latency.description}", width)
    errors = [w for w in summary.warnings if w.level == "error"]
    warnings = [w for w in summary.warnings if w.level != "error"]
    if errors:
        out.append(f"{len(errors)} error(s): TFLM will refuse this model")
        for error in errors:
            out += wrap(f"x [{error.code}] {error.message}", width, "  ")
    if warnings:
        out.append(f"{len(warnings)} warning(s):")
        for warning in warnings:
            out += wrap(f"! [{warning.code}] {warning.message}", width, "  ")
    if not summary.warnings:
        out.append("no device warnings")
    if plot is not None:
        out.append(f"picture: {plot}")  # one line, whatever its length: a path to copy
    return out


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_command)
