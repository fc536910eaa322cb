"""SQUEEZE: the same bytes without the size-1 dimensions (the output shape says which)."""

from jsqat_embed.emulator.kernels._copy import Relayout

KERNEL = Relayout
