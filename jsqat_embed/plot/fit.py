"""``fit-check --plot``: per board, flash and RAM as stacked bars against the region that holds them.

Each board is one row in two panels. Flash: runtime code + model + reserve
against the flash the board places them in (internal, or internal plus the
external flash the model went to). RAM: arena (estimate, then its margin) +
reserve against the region the arena goes to (the smallest SRAM it fits, else
PSRAM/SDRAM; for a board where it fits nowhere, the largest). Bars are in percent
of that capacity, since boards differ by a factor of a hundred; the absolute
figures and the region's name are written beside each bar.
"""

from __future__ import annotations

from pathlib import Path

from jsqat_embed.plot.common import new_figure, save, size_text

#: Colours (colour-blind safe pairs from the Okabe-Ito palette) and what they stand for.
RUNTIME = "#0072B2"
MODEL = "#E69F00"
ARENA = "#009E73"
MARGIN = "#8FD3B9"
RESERVE = "#BBBBBB"
COLOURS = {"runtime": RUNTIME, "model": MODEL, "arena": ARENA, "margin": MARGIN, "reserve": RESERVE}
VERDICT = {"yes": "#1B7837", "pruned": "#B35806", "NO": "#C51B1B"}
#: Bars longer than this share of capacity are cut, with the true share written at the cut.
CLIP_PERCENT = 200.0


def _verdict(fit) -> str:
    """fit-check's word for the board: yes, NO, or the DECODE encoding that makes it fit."""
    if not fit.fits:
        return "NO"
    if fit.encoding == "dense":
        return "yes"
    return "pruned" if fit.encoding == "prune" else fit.encoding


def _colour(fit) -> str:
    return VERDICT.get(_verdict(fit), VERDICT["pruned"])


def _flash_region(fit) -> str:
    code = max(fit.board.regions_of("flash") or fit.board.regions_of("external_flash"), key=lambda r: r.size_bytes)
    if fit.model_region is not None and fit.model_region is not code:
        return f"'{code.name}' + '{fit.model_region.name}'"
    return f"'{code.name}'"


def _ram_region(fit) -> str:
    if fit.arena_region is not None:
        return f"'{fit.arena_region.name}'"
    regions = fit.board.regions_of("sram", "psram", "sdram")
    return f"'{max(regions, key=lambda r: r.available_bytes).name}' (largest)" if regions else "-"


def bars(fit) -> dict[str, tuple[list[tuple[str, int]], int, str]]:
    """What the picture draws for one board: per panel ("flash", "ram") the stacked parts in bytes,
    the capacity they are measured against and the region's name. The parts add up to the
    ``flash_total`` and ``ram_total`` that fit-check prints."""
    return {
        "flash": ([("runtime", fit.runtime.total), ("model", fit.model_bytes), ("reserve", fit.flash_reserve)],
                  fit.flash_capacity, _flash_region(fit)),
        "ram": ([("arena", fit.arena.total), ("margin", fit.margin.total), ("reserve", fit.ram_reserve)],
                fit.ram_capacity, _ram_region(fit)),
    }


def plot_fit(fits: list, path: Path, model_name: str = "model") -> Path:
    """Draw the fit of one model on each board of ``fits`` (``BoardFit`` objects) to ``path``."""
    rows = list(reversed(fits))  # matplotlib counts rows from the bottom; the first board goes on top
    height = 1.3 + 0.34 * len(rows)
    figure = new_figure(13.0, height)
    flash_axis, ram_axis = figure.subplots(1, 2, sharey=True)
    positions = range(len(rows))
    drawn = [bars(fit) for fit in rows]

    def share(count: int, capacity: int) -> float:
        return 100.0 * count / capacity if capacity else 0.0

    panels = ((flash_axis, "flash", "flash: runtime code + model + reserve"),
              (ram_axis, "ram", "RAM: tensor arena (+ margin) + reserve"))
    for axis, kind, title in panels:
        longest = 0.0
        for row, fit, figures in zip(positions, rows, drawn):
            parts, capacity, region = figures[kind]
            used = sum(count for _, count in parts)
            left = 0.0
            for part, count in parts:
                colour, hatch = COLOURS[part], "////" if part == "model" and fit.encoding != "dense" else None
                width = share(count, capacity)
                shown = max(0.0, min(width, CLIP_PERCENT - left))
                if shown > 0:
                    axis.barh(row, shown, left=left, height=0.62, color=colour, hatch=hatch,
                              edgecolor="white" if hatch is None else "#7A4F00", linewidth=0.4)
                left += width
            total_share = share(used, capacity)
            longest = max(longest, min(total_share, CLIP_PERCENT))
            over = total_share > 100.0
            note = f"{size_text(used)} of {size_text(capacity)} {region}"
            if total_share > CLIP_PERCENT:
                note = f"{total_share:,.0f}%  " + note
            axis.text(min(total_share, CLIP_PERCENT) + 2, row, note, va="center", fontsize=7.5,
                      color=VERDICT["NO"] if over else "#333333")
        axis.axvline(100.0, color="#333333", linewidth=1.0, linestyle="--")
        # Room on the right for the figures written beside the longest bar.
        axis.set_xlim(0, max(longest, 100.0) + 85.0)
        ticks = [0, 25, 50, 75, 100] + ([150, 200] if longest > 125 else [])
        axis.set_xticks(ticks)
        axis.set_xticklabels([f"{t}%" if t == 100 else str(t) for t in ticks])
        axis.set_xlabel("share of the region's capacity (dashed: full)", fontsize=8)
        axis.set_title(title, fontsize=9.5, loc="left")
        axis.tick_params(axis="x", labelsize=8)
        axis.grid(axis="x", color="#E6E6E6", linewidth=0.6)
        axis.set_axisbelow(True)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)

    flash_axis.set_yticks(list(positions))
    flash_axis.set_yticklabels([f"{fit.board.id}  [{_verdict(fit)}]" for fit in rows], fontsize=8)
    for label, fit in zip(flash_axis.get_yticklabels(), rows):
        label.set_color(_colour(fit))
    flash_axis.set_ylim(-0.6, len(rows) - 0.4)

    from matplotlib.patches import Patch

    legend = [Patch(color=RUNTIME, label="TFLM runtime code"), Patch(color=MODEL, label="model"),
              Patch(facecolor=MODEL, hatch="////", edgecolor="#7A4F00", label="model, DECODE-encoded"),
              Patch(color=ARENA, label="arena (TFLM's allocator replayed)"),
              Patch(color=MARGIN, label="arena margin"), Patch(color=RESERVE, label="board reserve (OS, stacks)")]
    figure.legend(handles=legend, loc="outside lower center", ncols=6, fontsize=7.5, frameon=False)
    fitting = sum(fit.fits for fit in fits)
    figure.suptitle(f"{model_name}: fits {fitting} of {len(fits)} boards  "
                    "([yes] as it is, [pruned] with DECODE-encoded weights, [NO] does not fit)", fontsize=10.5)
    save(figure, path)
    return Path(path)
