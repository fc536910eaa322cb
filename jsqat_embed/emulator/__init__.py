"""Bit-exact numpy emulation of TFLite Micro's reference int8 kernels."""

from jsqat_embed.emulator.interpreter import Emulator

__all__ = ["Emulator"]
