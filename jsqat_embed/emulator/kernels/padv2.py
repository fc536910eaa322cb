"""PADV2: PAD with an explicit constant (third input)."""

from jsqat_embed.emulator.kernels.pad import Pad

KERNEL = Pad
