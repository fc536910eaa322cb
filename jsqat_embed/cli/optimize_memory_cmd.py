"""``jsqat-embed optimize-memory``: rewrite a model so TFLM plans a smaller arena for it."""

from __future__ import annotations

from pathlib import Path

import typer

from jsqat_embed.cli.common import print_json, user_errors, write_output_file


def optimize_memory_command(
    model: Path = typer.Argument(..., help="Path to a .tflite model."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the rewritten .tflite."),
    board: str = typer.Option("host", "--board", "-b", help="Board whose TFLM build (ABI, kernels) the arena is planned for."),
    board_file: Path = typer.Option(None, "--board-file", help="A board profile TOML of your own instead of --board."),
    time_limit: float = typer.Option(20.0, "--time-limit", help="Seconds the search may take."),
    no_reorder: bool = typer.Option(False, "--no-reorder", help="Keep the operator order; plan offsets only."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document instead of text."),
) -> None:
    """Choose an operator order and an offline memory plan (OfflineMemoryAllocation metadata) that TFLM honours,
    and write the model with them; never worse than TFLM's own plan."""
    from jsqat_embed.boards import load_board, load_board_file
    from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION
    from jsqat_embed.memory.optimize import optimize_memory, reordered
    from jsqat_embed.ops.verdict import require_tflm_runs
    from jsqat_embed.tflite import read_model
    from jsqat_embed.tflite.writer import write_model

    with user_errors(json_output):
        import math

        from jsqat_embed.errors import InputDataError, OutputLocationError

        if not (math.isfinite(time_limit) and 0 < time_limit <= 86400):
            raise InputDataError(f"--time-limit {time_limit}: give seconds above 0 and at most 86400")
        if output.resolve() == model.resolve():
            raise OutputLocationError(f"--output {output} is the input model; choose another path (nothing was written)")
        graph = read_model(model)
        require_tflm_runs(graph, npu=True)
        profile = load_board_file(board_file) if board_file is not None else load_board(board)
        host = profile.tflm_runtime == "python-wheel"
        plan = optimize_memory(graph, HOST if host else profile.target, profile.kernel_library,
                               recording_allocator=host, tflm_version=HOST_TFLM_VERSION if host else None,
                               time_limit=time_limit, reorder=not no_reorder)
        data = write_model(reordered(graph, plan.order, plan.offsets))
        write_output_file(output, data, force)
    moved = sum(1 for new, old in enumerate(plan.order) if new != old)
    payload = {
        "model": str(model), "output": str(output), "board": profile.id,
        "tflm_plan_bytes": plan.baseline.total, "optimized_bytes": plan.arena.total,
        "saving_bytes": plan.saving, "ratio": round(plan.ratio, 4), "lower_bound_bytes": plan.lower_bound,
        "method": plan.method, "operators_moved": moved, "offline_plan": plan.offsets is not None,
        "candidates_scored": plan.tried, "notes": plan.notes,
    }
    if json_output:
        print_json(payload)
        return
    typer.echo(f"{model.name} -> {output}: arena {plan.arena.total:,} B, TFLM's own plan {plan.baseline.total:,} B "
               f"({plan.ratio:.1%}; floor for this order {plan.lower_bound:,} B)")
    typer.echo(f"  {plan.method}; {moved} operators moved; {plan.tried} candidates scored by the arena replay"
               + (f"; {'; '.join(plan.notes)}" if plan.notes else ""))


def register(app: typer.Typer) -> None:
    app.command("optimize-memory")(optimize_memory_command)
