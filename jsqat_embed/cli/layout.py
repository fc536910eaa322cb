"""Text that fits the terminal: a table when it fits the width, one block per row when not.

Ids are never cut: a row that does not fit becomes a block whose first line is
the id, and long lines wrap with an indent. ``--json`` output never goes through here.
"""

from __future__ import annotations

import shutil
import textwrap

MIN_WIDTH = 40


def terminal_width() -> int:
    return max(shutil.get_terminal_size((80, 24)).columns, MIN_WIDTH)


def wrap(text: str, width: int, indent: str = "", more: str = "    ") -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + more,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset(), gap: int = 2) -> list[str]:
    """A plain table: columns as wide as their widest cell, ``right`` columns right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells) -> str:
        parts = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return (" " * gap).join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows]


def fits(lines: list[str], width: int) -> bool:
    return all(len(line) <= width for line in lines)
