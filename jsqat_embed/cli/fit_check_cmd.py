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
    plot: Path | None = typer.Option(None, "--plot", help="Also draw flash and RAM per board to this .png/.svg/.pdf (needs jsqat-embed[plot])."),
) -> None:
    """Flash and RAM (arena to the byte) against board profiles; exit 0 iff it fits every board asked for."""
    from jsqat_embed.boards import list_boards, load_board, load_board_file
    from jsqat_embed.errors import BoardProfileError
    from jsqat_embed.memory.fit import fit_board, fit_with_encodings, sparsity_hint
    from jsqat_embed.tflite import read_model

    with user_errors(json_output):
        if not (board or all_boards or board_file):
            raise BoardProfileError("name at least one board: --board ID, --all or --board-file PATH")
        if plot is not None:
            from jsqat_embed.plot.common import check_output, require_matplotlib

            require_matplotlib()
            check_output(plot)
        graph = read_model(model)
        profiles = list_boards() if all_boards else [load_board(name) for name in board]
        profiles += [load_board_file(path) for path in board_file]
        dense = [fit_board(graph, profile) for profile in profiles]
        pruned = None
        if not all(fit.fits for fit in dense) and not any(op.opcode == "TFLM_DECODE" for op in graph.operators):
            from jsqat_embed.compress.plan import variants

            pruned = variants(graph)  # pruning first; the smallest encoding only for boards pruning does not fit
        fits = [fit if fit.fits or pruned is None else fit_with_encodings(graph, fit.board, pruned) for fit in dense]
        hints = {fit.board.id: _hint(graph, fit, fits, sparsity_hint) for fit in fits if not fit.fits}
        optimized = {fit.board.id: found for fit in fits if (found := _memory_optimized(graph, fit)) is not None}
        for board_id, (better, plan) in optimized.items():
            verdict = "then it fits" if better.fits else "it still does not fit"
            hints[board_id] = (f"with `jsqat-embed optimize-memory {_board_option(better.board)}` the arena is "
                               f"{better.arena_bytes:,} B instead of {plan.baseline.total + better.margin.total:,} B: "
                               f"{verdict}; " + hints.get(board_id, ""))
        if plot is not None:
            from jsqat_embed.plot import plot_fit

            plot_fit(fits, plot, model.name)
    peaks = {fit.board.id: _peak(fit) for fit in fits}
    if json_output:
        print_json({
            "model": str(model),
            "model_sha256": graph.sha256,
            "model_file_bytes": len(graph.source),
            "boards": [dict(fit.to_json(), hint=hints.get(fit.board.id), ram_peak=peaks[fit.board.id]) for fit in fits],
            "ram_drivers": peaks[fits[0].board.id]["buffers"] if fits else [],
        })
    else:
        _print(model, graph, fits, hints, peaks)
        if plot is not None:
            typer.echo(f"picture: {plot}")
    raise typer.Exit(EXIT_OK if all(fit.fits for fit in fits) else EXIT_NEGATIVE)


def _board_option(board) -> str:
    from jsqat_embed.boards import board_directory

    bundled = board.path is None or board.path.parent.resolve() == board_directory().resolve()
    return f"--board {board.id}" if bundled else f"--board-file {board.path}"


def _memory_optimized(graph, fit):
    """When the arena is what fails: the fit of the file `optimize-memory` would write (fast heuristics)."""
    if fit.fits or not any(reason.startswith("RAM") for reason in fit.reasons) or len(graph.subgraphs) > 1:
        return None
    from jsqat_embed.errors import UnsupportedModelError
    from jsqat_embed.memory.arena import DEFAULT_TFLM_VERSION, HOST, HOST_TFLM_VERSION
    from jsqat_embed.memory.fit import fit_board
    from jsqat_embed.memory.optimize import optimize_memory, reordered
    from jsqat_embed.tflite.writer import write_model

    host = fit.board.tflm_runtime == "python-wheel"
    try:
        plan = optimize_memory(graph, HOST if host else fit.board.target, fit.board.kernel_library,
                               recording_allocator=host, tflm_version=HOST_TFLM_VERSION if host else DEFAULT_TFLM_VERSION,
                               time_limit=2.0, exact=False)
    except UnsupportedModelError:
        return None
    if plan.arena.total >= plan.baseline.total:
        return None
    rewritten = write_model(reordered(graph, plan.order, plan.offsets))
    return fit_board(graph, fit.board, arena=plan.arena, file_bytes=len(rewritten)), plan


def _hint(graph, fit, all_fits, sparsity_hint) -> str:
    """What would make this model fit: the first blocker decides what to suggest."""
    parts = []
    sparse = sparsity_hint(graph, fit)
    if sparse:
        parts.append(sparse)
    fitting = {f.board.id: f.board for f in all_fits if f.fits and f.board.tflm_runtime == "firmware"}
    if not fitting:
        from jsqat_embed.boards import list_boards
        from jsqat_embed.memory.fit import fit_board

        fitting = {b.id: b for b in list_boards() if b.tflm_runtime == "firmware" and b.id != fit.board.id
                   and fit_board(graph, b).fits}
    # The same chip first (usually a module with PSRAM or more flash), then the same core, then the rest.
    ranked = sorted(fitting.values(), key=lambda b: (b.mcu != fit.board.mcu, b.core != fit.board.core, b.id))
    parts.append(f"boards it fits as it is: {', '.join(b.id for b in ranked[:4])}" if ranked
                 else "no bundled board fits it as it is")
    return "; ".join(parts)


def _peak(fit, limit: int = 3) -> dict:
    """Where this board's arena head peaks and what is alive there: the buffers that drive RAM."""
    operator, head, alive = fit.arena.peak()
    shown = alive[:limit]
    return {
        "operator": operator,
        "opcode": fit.arena.opcodes[operator] if operator is not None else None,
        "head_bytes": head,
        "buffers": [{"buffer": _short(b.label), "bytes": b.size, "operators": _operator_span(b)} for b in shown],
        "other_buffers": len(alive) - len(shown),
        "other_bytes": sum(b.size for b in alive[limit:]),
    }


def _operator_span(buffer) -> str:
    """A buffer's lifetime in operator indices (TFLM's scope k + 1 is operator k; scope 0 the inputs)."""
    first = "input" if buffer.first_used <= 0 else str(buffer.first_used - 1)
    last = "input" if buffer.last_used <= 0 else str(buffer.last_used - 1)
    return first if first == last else f"{first}-{last}"


def _short(label: str, width: int = 48) -> str:
    """TF tensor names repeat the fused layers (``a/b/Relu6;a/b/BN;...``): keep the first."""
    first = label.split(";")[0]
    return first if len(first) <= width else "..." + first[-(width - 3):]


def _latency(fit) -> str:
    """``≈ 180 ms (×1.3)``: the estimate and its multiplicative uncertainty."""
    return fit.latency.text() if fit.latency is not None else f"~{fit.latency_ms:,.0f} ms"


def _verdict(fit) -> str:
    if not fit.fits:
        return "NO"
    return "yes" if fit.encoding == "dense" else {"prune": "pruned", "auto": "encoded"}.get(fit.encoding, fit.encoding)


def _print(model: Path, graph, fits, hints, peaks) -> None:
    from jsqat_embed.cli.layout import fits as fits_width, table, terminal_width, wrap

    width = terminal_width()
    out: list[str] = []
    first = fits[0]
    # The file's own size; in flash each board holds it 16-aligned (or its DECODE-pruned encoding).
    out += wrap(f"{model.name}: {len(graph.source):,} bytes ({_kib(-(-len(graph.source) // 16) * 16)} in flash, "
                f"16-aligned), {first.macs:,} MACs", width)
    rows = [[fit.board.id, _verdict(fit), f"{_kib(fit.flash_total)} / {_kib(fit.flash_capacity)}",
             f"{fit.flash_headroom:.0%}", f"{_kib(fit.ram_total)} / {_kib(fit.ram_capacity)}", f"{fit.ram_headroom:.0%}",
             f"{fit.model_region.name if fit.model_region else '-'} / {fit.arena_region.name if fit.arena_region else '-'}",
             _latency(fit)] for fit in fits]
    grid = table(["board", "fits", "flash used / size", "free", "RAM used / size", "free", "model / arena in",
                  "latency"], rows, right={2, 3, 4, 5, 7})
    tabular = fits_width(grid, width)
    if tabular:
        out += [""] + grid + [""]
    detailed = len(fits) <= 3
    for fit in fits:
        if not tabular:
            out.append(f"{fit.board.id}: {'fits' if fit.fits else 'does NOT fit'}"
                       + (" with DECODE " + {"prune": "pruning", "huffman": "Huffman", "lut": "LUT"}.get(
                           fit.encoding, "compression") if fit.fits and fit.encoding != "dense" else ""))
        if detailed or not fit.fits or not tabular:
            margin = f" incl. {_kib(fit.margin.total)} margin" if fit.margin.total else " (exact)"
            flash = (f"flash {_kib(fit.flash_total)} of {_kib(fit.flash_capacity)} = model {_kib(fit.model_bytes)} + "
                     f"runtime {_kib(fit.runtime.total)} + reserve {_kib(fit.flash_reserve)}")
            ram = (f"RAM {_kib(fit.ram_total)} of {_kib(fit.ram_capacity)} = arena {_kib(fit.arena_bytes)}{margin} + "
                   f"reserve {_kib(fit.ram_reserve)}")
            if tabular:
                out += wrap(f"{fit.board.id}: {flash}; {ram}", width, "  ")
            else:
                out += wrap(flash, width, "    ") + wrap(ram, width, "    ")
            if not tabular:
                out += wrap(f"model in {fit.model_region.name if fit.model_region else '-'}, arena in "
                            f"{fit.arena_region.name if fit.arena_region else '-'}; latency {_latency(fit)}",
                            width, "    ")
        for reason in fit.reasons:
            out += wrap(f"x {fit.board.id}: {reason}", width, "  ")
        if not fit.fits and hints.get(fit.board.id):
            out += wrap(f"hint: {hints[fit.board.id]}", width, "    ")
        for warning in fit.warnings:
            out += wrap(f"! {fit.board.id}: {warning}", width, "  ")
    peak = peaks.get(first.board.id)
    if peak and peak["buffers"]:
        where = "the inputs" if peak["operator"] is None else f"operator {peak['operator']} ({peak['opcode']})"
        listed = ", ".join(f"{d['buffer']} ({_kib(d['bytes'])}, ops {d['operators']})" for d in peak["buffers"])
        others = (f" + {peak['other_buffers']} more ({_kib(peak['other_bytes'])})" if peak["other_buffers"] else "")
        live = sum(d["bytes"] for d in peak["buffers"]) + peak["other_bytes"]
        gaps = (f"; the other {_kib(peak['head_bytes'] - live)} are gaps the planner left between them"
                if peak["head_bytes"] - live >= 1024 else "")
        out += wrap(f"RAM peak on {first.board.id}: planned tensors reach {_kib(peak['head_bytes'])} at {where}, "
                    f"where {_kib(live)} are live: {listed}{others}{gaps}", width)
    out += wrap("Arena figures are TFLM's allocator replayed (exact on the host, and under QEMU on Cortex-M4 and RV32 "
                "with reference kernels, CMSIS-NN and esp-nn; esp-nn-s3 scratch from its sources; boards add a margin "
                "for AllocateTensors' temporaries and TFLM version drift). Runtime code: TFLM as the generated project "
                "links it on Cortex-M4F, measured per op. Latency: a per-operator cycle model fitted to MLPerf Tiny where it measured the "
                "core and kernel library (docs/latency.md), else the board's int8 MAC/cycle; (×k) is its "
                "uncertainty.", width)
    typer.echo("\n".join(out))


def register(app: typer.Typer) -> None:
    app.command("fit-check")(fit_check_command)
