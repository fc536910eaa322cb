"""SPLIT_V: inputs (input, size_splits, axis); parts sized by the outputs (see _split.py)."""

from jsqat_embed.emulator.kernels._split import SplitV

KERNEL = SplitV
