"""``jsqat-embed boards``: the bundled board profiles."""

from __future__ import annotations

import typer

from jsqat_embed.cli.common import print_json, user_errors


def _kib(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB" if count >= 1 << 20 else f"{count // 1024} KiB"


def boards_command(
    json_output: bool = typer.Option(False, "--json", help="Print a JSON document instead of a table."),
) -> None:
    """List the bundled board profiles: core, clock, memory regions, kernel library."""
    from jsqat_embed.boards import board_directory, list_boards

    with user_errors(json_output):
        boards = list_boards()
    if json_output:
        print_json({
            "directory": str(board_directory()),
            "boards": [
                {
                    "id": b.id, "name": b.name, "mcu": b.mcu, "core": b.core, "pointer_bits": b.pointer_bits,
                    "clock_mhz": b.clock_mhz, "kernel_library": b.kernel_library,
                    "aliases": list(b.aliases), "build_systems": list(b.build_systems), "int8_macs_per_cycle": b.int8_macs_per_cycle,
                    "tflm_runtime": b.tflm_runtime, "sources": list(b.sources),
                    "regions": [
                        {"name": r.name, "kind": r.kind, "size_bytes": r.size_bytes,
                         "reserved_bytes": r.reserved_bytes, "note": r.note}
                        for r in b.regions
                    ],
                }
                for b in boards
            ],
        })
        return
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    lines = []
    for b in boards:
        # One block per board: the id on a line of its own, so no terminal width ever cuts it.
        aliases = f"  (alias: {', '.join(b.aliases)})" if b.aliases else ""
        lines.append(f"{b.id}{aliases}")
        flash = ", ".join(f"{r.name} {_kib(r.size_bytes)}" for r in b.regions if r.is_flash)
        ram = ", ".join(f"{r.name} {_kib(r.size_bytes)}" for r in b.regions if not r.is_flash)
        builds = ", ".join(b.build_systems) if b.build_systems else "none (estimates only)"
        for text in (f"{b.name}: {b.core}, {b.clock_mhz:g} MHz, {b.kernel_library} kernels",
                     f"flash: {flash}; RAM: {ram}", f"build systems: {builds}"):
            lines.extend(textwrap.wrap(text, width=max(width, 40) - 4, initial_indent="    ", subsequent_indent="      "))
    footer = (f"{len(boards)} profiles in {board_directory()}; names and aliases match without case, dashes or "
              "underscores; add your own with --board-file PATH")
    lines.extend(textwrap.wrap(footer, width=max(width, 40)))
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("boards")(boards_command)
