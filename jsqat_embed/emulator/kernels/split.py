"""SPLIT: inputs (axis, input); ``num_splits`` equal parts (see _split.py)."""

from jsqat_embed.emulator.kernels._split import Split

KERNEL = Split
