"""RESHAPE: the same bytes under the output shape."""

from jsqat_embed.emulator.kernels._copy import Relayout

KERNEL = Relayout
