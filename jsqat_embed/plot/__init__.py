"""Pictures of what the tool computes: board fit bars and the arena plan over the operators.

matplotlib is an optional extra (``pip install 'jsqat-embed[plot]'``) and is
imported only when a picture is drawn, so no other command pays for it. The
figures use matplotlib's object API (no pyplot, no global backend switch), and
the file type follows the suffix: ``.png``, ``.svg`` or ``.pdf``.
"""

from __future__ import annotations

from jsqat_embed.plot.arena import plot_arena
from jsqat_embed.plot.common import SUFFIXES, require_matplotlib
from jsqat_embed.plot.fit import plot_fit

__all__ = ["SUFFIXES", "plot_arena", "plot_fit", "require_matplotlib"]
