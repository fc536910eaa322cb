"""``jsqat-embed fit-check``: does the model fit each board, and if not, why and what would."""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import EXIT_NEGATIVE, EXIT_OK, print_json, user_errors


def _kib(count: int) -> str:
    if count >= 1 << 20:
        return f"{count / (1 << 20):.1f} MiB"
    if count < 1024:
        return f"{count} B"
    return f"{count / 1024:.0f} KiB"


def fit_check_command(
    model: Path = typer.Argument(..., help="Path to an int8 .tflite model."),
    board: list[str] = typer.Option([], "--board", "-b", help="Board id (repeatable); see `jsqat-embed boards`."),
    all_boards: bool = typer.Option(False, "--all", help="Check every bundled board."),
    board_file: list[Path] = typer.Option([], "--board-file", help="A board profile TOML of your own (repeatable)."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document instead of tables."),
) -> None:
    """Flash and RAM (arena to the byte) against board profiles; exit 0 iff it fits every board asked for."""
    from jsqat_embed.boards import list_boards, load_board, load_board_file
    from jsqat_embed.errors import BoardProfileError
    from jsqat_embed.memory.fit import fit_board, fit_with_encodings, sparsity_hint
    from jsqat_embed.tflite import read_model

    with user_errors(json_output):
        if not (board or all_boards or board_file):
            raise BoardProfileError("name at least one board: --board ID, --all or --board-file PATH")
        graph = read_model(model)
        profiles = list_boards() if all_boards else [load_board(name) for name in board]
        profiles += [load_board_file(path) for path in board_file]
        dense = [fit_board(graph, profile) for profile in profiles]
        pruned = None
        if not all(fit.fits for fit in dense) and not any(op.opcode == "TFLM_DECODE" for op in graph.operators):
            from jsqat_embed.compress.plan import pruned_variant

            pruned = pruned_variant(graph)
        fits = [fit if fit.fits or pruned is None else fit_with_encodings(graph, fit.board, pruned) for fit in dense]
        hints = {fit.board.id: _hint(graph, fit, fits, sparsity_hint) for fit in fits if not fit.fits}
    drivers = _drivers(fits[0]) if fits else []
    if json_output:
        print_json({
            "model": str(model),
            "model_sha256": graph.sha256,
            "boards": [dict(fit.to_json(), hint=hints.get(fit.board.id)) for fit in fits],
            "ram_drivers": drivers,
        })
    else:
        _print(model, fits, hints, drivers)
    raise typer.Exit(EXIT_OK if all(fit.fits for fit in fits) else EXIT_NEGATIVE)


def _hint(graph, fit, all_fits, sparsity_hint) -> str:
    parts = []
    sparse = sparsity_hint(graph, fit)
    if sparse:
        parts.append(sparse)
    others = [f.board.id for f in all_fits if f.fits and f.board.tflm_runtime == "firmware"]
    if not others:
        from jsqat_embed.boards import list_boards
        from jsqat_embed.memory.fit import fit_board

        others = [b.id for b in list_boards() if b.tflm_runtime == "firmware" and b.id != fit.board.id
                  and fit_board(graph, b).fits]
    parts.append(f"fits: {', '.join(others[:4])}" if others else "no bundled board fits it as it is")
    return "; ".join(parts)


def _drivers(fit) -> list[dict]:
    """The three largest buffers alive at the arena's peak: what drives RAM."""
    return [
        {"buffer": _short(b.label), "bytes": b.size, "operators": f"{b.first_used}-{b.last_used}"}
        for b in fit.arena.peak_buffers()[:3]
    ]


def _short(label: str, width: int = 48) -> str:
    """TF tensor names repeat the fused layers (``a/b/Relu6;a/b/BN;...``): keep the first."""
    first = label.split(";")[0]
    return first if len(first) <= width else "..." + first[-(width - 3):]


def _print(model: Path, fits, hints, drivers) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 132))
    first = fits[0]
    console.print(f"[bold]{model.name}[/bold]: {first.model_bytes:,} bytes, {first.macs:,} MACs", highlight=False)
    table = Table(header_style="bold")
    for column, justify in (("board", "left"), ("fits", "left"), ("flash used / size", "right"), ("free", "right"),
                            ("RAM used / size", "right"), ("free", "right"), ("model / arena in", "left"),
                            ("latency", "right")):
        table.add_column(column, justify=justify, no_wrap=True)
    for fit in fits:
        verdict = ("[green]yes[/green]" if fit.encoding == "dense" else "[green]pruned[/green]") if fit.fits \
            else "[red]NO[/red]"
        table.add_row(
            fit.board.id, verdict,
            f"{_kib(fit.flash_total)} / {_kib(fit.flash_capacity)}", f"{fit.flash_headroom:.0%}",
            f"{_kib(fit.ram_total)} / {_kib(fit.ram_capacity)}", f"{fit.ram_headroom:.0%}",
            f"{fit.model_region.name if fit.model_region else '-'} / {fit.arena_region.name if fit.arena_region else '-'}",
            f"~{fit.latency_ms:,.0f} ms",
        )
    console.print(table)
    detailed = len(fits) <= 3
    for fit in fits:
        if detailed or not fit.fits:
            margin = f" incl. {_kib(fit.margin.total)} margin" if fit.margin.total else " (exact)"
            console.print(
                f"  {fit.board.id}: flash = model {_kib(fit.model_bytes)} + runtime {_kib(fit.runtime.total)} "
                f"+ reserve {_kib(fit.flash_reserve)}; RAM = arena {_kib(fit.arena_bytes)}{margin} "
                f"+ reserve {_kib(fit.ram_reserve)}", highlight=False)
        for reason in fit.reasons:
            console.print(f"  [red]x[/red] {fit.board.id}: {reason}", highlight=False)
        if not fit.fits and hints.get(fit.board.id):
            console.print(f"    hint: {hints[fit.board.id]}", highlight=False)
        for warning in fit.warnings:
            console.print(f"  [yellow]![/yellow] {fit.board.id}: {warning}", highlight=False)
    if drivers:
        console.print(f"RAM peak ({first.board.id}) driven by: "
                      + ", ".join(f"{d['buffer']} ({_kib(d['bytes'])})" for d in drivers), highlight=False)
    console.print("Arena figures are TFLM's allocator replayed (exact on the host, and under QEMU on Cortex-M4 "
                  "and RV32 with reference kernels; CMSIS-NN/esp-nn scratch from their sources; boards add a "
                  "margin for Prepare-time temporaries and TFLM version drift). Runtime code is an upper bound from "
                  "Cortex-M4F .text per op; latency assumes each board's int8 MAC/cycle.", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("fit-check")(fit_check_command)
