"""``inspect --plot``: the tensor arena's planned head over the operators, and what makes its peak.

Each planned buffer (a tensor or a kernel's scratch request) is a rectangle:
its lifetime along x in operator indices (TFLM's allocation scope k + 1 is
operator k; scope 0, the model inputs, is drawn at -1) and its place in the
arena along y (offset to offset + size, as TFLM's greedy planner puts it). The
outline is the head's top at each operator, the blue line the bytes actually
live there (the difference is gaps the planner left); the buffers alive where
the outline is highest are coloured and named, every other one is grey. The tail (persistent
allocations: TFLM's bookkeeping, kernel data) is in the title.
"""

from __future__ import annotations

from pathlib import Path

from jsqat_embed.plot.common import new_figure, save, short_label, size_text

#: Distinct colours for the buffers that make the peak (Okabe-Ito, then Tableau).
PEAK_COLOURS = ["#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442", "#8C564B"]
OTHER = "#C9CED6"
#: How many of the buffers alive at the peak get a colour and a name.
NAMED = 6


def head_profile(estimate, operators: int) -> list[int]:
    """The head's top (highest end of a live buffer) in bytes for the model inputs, then after each
    of ``operators`` operators: the arena's head must hold the largest of them."""
    return [max((b.end for b in estimate.buffers if b.first_used <= scope <= b.last_used), default=0)
            for scope in range(operators + 1)]


def plot_arena(model, path: Path, estimate=None, *, title: str | None = None) -> Path:
    """Draw the arena plan of ``model`` (``estimate``: an ``ArenaEstimate``; default: the host,
    reference kernels) to ``path``."""
    from matplotlib.patches import Patch, Rectangle

    from jsqat_embed.memory.arena import estimate_arena

    estimate = estimate or estimate_arena(model)
    figure = new_figure(12.0, 5.6)
    axis = figure.subplots()
    scale = 1024.0  # bytes per KiB on the y axis
    operators = len(model.operators)
    peak_operator, peak_head, alive = estimate.peak()
    named = alive[:NAMED]
    colour = {id(buffer): PEAK_COLOURS[i % len(PEAK_COLOURS)] for i, buffer in enumerate(named)}

    def span(buffer) -> tuple[float, float]:
        first = max(buffer.first_used, 0) - 1
        last = max(buffer.last_used, buffer.first_used, 0) - 1
        return first - 0.45, last + 0.45

    for buffer in sorted(estimate.buffers, key=lambda b: id(b) in colour):
        start, end = span(buffer)
        highlighted = id(buffer) in colour
        axis.add_patch(Rectangle(
            (start, buffer.offset / scale), end - start, buffer.size / scale,
            facecolor=colour.get(id(buffer), OTHER), edgecolor="#333333" if highlighted else "white",
            linewidth=0.6 if highlighted else 0.3, hatch="xx" if buffer.tensor_index is None else None,
            zorder=3 if highlighted else 2))

    tops = [top / scale for top in head_profile(estimate, operators)]
    axis.step(range(-1, operators), tops, where="mid", color="#222222", linewidth=0.9, zorder=4,
              label="head in use (highest live buffer end)")
    live = [sum(b.size for b in estimate.buffers if b.first_used <= scope <= b.last_used) / scale
            for scope in range(operators + 1)]
    axis.step(range(-1, operators), live, where="mid", color="#0072B2", linewidth=1.3, zorder=4,
              label="bytes live (the rest up to the outline: gaps between buffers)")
    axis.axhline(estimate.head / scale, color="#C51B1B", linestyle="--", linewidth=0.9, zorder=4,
                 label=f"planned head {size_text(estimate.head)}")
    if peak_operator is not None or alive:
        where = -1 if peak_operator is None else peak_operator
        # Label on the side with more room.
        offset, align = ((14, 6), "left") if where < 0.6 * operators else ((-14, 6), "right")
        axis.annotate(f"peak at operator {where} ({estimate.opcodes[where] if where >= 0 else 'inputs'})",
                      xy=(where, peak_head / scale), xytext=offset, textcoords="offset points", ha=align,
                      fontsize=8.5, arrowprops={"arrowstyle": "->", "color": "#C51B1B"}, zorder=5)

    axis.set_xlim(-1.5, operators - 0.5)
    axis.set_ylim(0, max(estimate.head, 1) / scale * 1.12)
    axis.set_xlabel("operator index (-1: the model inputs)", fontsize=9)
    axis.set_ylabel("arena offset (KiB)", fontsize=9)
    axis.tick_params(labelsize=8)
    for side in ("top", "right"):
        axis.spines[side].set_visible(False)

    def operator_span(buffer) -> str:
        first, last = max(buffer.first_used, 0) - 1, max(buffer.last_used, 0) - 1
        text = lambda index: "in" if index < 0 else str(index)  # noqa: E731
        return text(first) if first == last else f"{text(first)}-{text(last)}"

    handles = [Patch(facecolor=colour[id(b)], edgecolor="#333333", hatch="xx" if b.tensor_index is None else None,
                     label=f"{short_label(b.label)}  {size_text(b.size)}, ops {operator_span(b)}") for b in named]
    rest = alive[NAMED:]
    if rest:
        handles.append(Patch(color=OTHER, label=f"+ {len(rest)} more alive at the peak ({size_text(sum(b.size for b in rest))}) "
                                                 "and all other buffers"))
    else:
        handles.append(Patch(color=OTHER, label="other buffers"))
    line_handles, _ = axis.get_legend_handles_labels()
    axis.legend(handles=line_handles + handles, loc="upper right", fontsize=7.5, framealpha=0.92,
                title="buffers alive at the peak (hatched: scratch)", title_fontsize=7.5)
    name = title or model.name
    figure.suptitle(f"{name}: tensor arena {size_text(estimate.total)} = head {size_text(estimate.head)} "
                    f"(planned tensors, below) + tail {size_text(estimate.tail)} (persistent)  "
                    f"[{estimate.target}, {estimate.kernel_library} kernels]", fontsize=10)
    save(figure, path)
    return Path(path)
