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


def _shape(shapes: list[list[int]]) -> str:
    return " ".join("x".join(str(d) for d in s) for s in shapes) or "-"


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

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    console.print(f"[bold]{summary.name}[/bold]  {summary.size_bytes:,} bytes  sha256 {summary.sha256[:16]}")
    for label, items in (("input", summary.inputs), ("output", summary.outputs)):
        for io in items:
            quant = f"scale {io['scale']:.6g} zero point {io['zero_point']}" if io["scale"] is not None else "not quantized"
            console.print(f"  {label:6} {io['name']}: {io['dtype']} {'x'.join(map(str, io['shape']))} ({quant})")
    console.print("  ops: " + ", ".join(f"{name} x{count}" for name, count in summary.op_counts.items()))

    rows = summary.layers
    folded = 0
    if not all_layers and len(rows) > 60:
        kept = [r for r in rows if r.macs or r.op in ("SOFTMAX", "MEAN", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION")]
        folded = len(rows) - len(kept)
        rows = kept
    table = Table(show_lines=False, header_style="bold")
    for column, justify in (("#", "right"), ("op", "left"), ("input", "left"), ("output", "left"),
                            ("params", "right"), ("MACs", "right"), ("sparsity", "right")):
        table.add_column(column, justify=justify)
    op_ms = {}
    if latency is not None:
        table.add_column("ms", justify="right")
        op_ms = {op.index: op.cycles * latency.slowdown / (latency.clock_mhz * 1e3) for op in latency.operators}
    for row in rows:
        sparsity = f"{row.weight_sparsity:.1%}" if row.weight_sparsity is not None else ""
        cells = [str(row.index), row.op, _shape(row.input_shapes), _shape(row.output_shapes),
                 _human(row.params) if row.params else "", _human(row.macs) if row.macs else "", sparsity]
        if latency is not None:
            cells.append(f"{op_ms.get(row.index, 0.0):.3g}")
        table.add_row(*cells)
    console.print(table)
    if folded:
        console.print(f"  ({folded} data-movement/activation ops not shown; --all-layers lists them)")
    overall = f"{summary.overall_weight_sparsity:.1%}" if summary.overall_weight_sparsity is not None else "n/a"
    console.print(
        f"[bold]total[/bold]: {len(summary.layers)} ops, {summary.total_params:,} weights "
        f"({summary.weight_bytes:,} bytes), {_human(summary.total_macs)} MACs, weight sparsity {overall}"
    )
    if latency is not None:
        from jsqat_embed.memory.latency import format_ms

        classes = ", ".join(f"{name} {format_ms(ms)} ms" for name, ms in latency.by_class().items() if ms > 0)
        console.print(f"[bold]latency on {board}[/bold]: {latency.text()} = {classes}; {latency.description}",
                      highlight=False)
    errors = [w for w in summary.warnings if w.level == "error"]
    warnings = [w for w in summary.warnings if w.level != "error"]
    if errors:
        console.print(f"[bold red]{len(errors)} error(s): TFLM will refuse this model[/bold red]")
        for error in errors:
            console.print(f"  [red]x[/red] [{error.code}] {error.message}", highlight=False)
    if warnings:
        console.print(f"[bold yellow]{len(warnings)} warning(s):[/bold yellow]")
        for warning in warnings:
            console.print(f"  [yellow]![/yellow] [{warning.code}] {warning.message}", highlight=False)
    if not summary.warnings:
        console.print("[green]no device warnings[/green]")
    if plot is not None:
        console.print(f"picture: {plot}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_command)
