"""The operator table: one descriptor per TFLite operator (see ``table.py``)."""

from jsqat_embed.ops.descriptor import CodeSize, OpDescriptor
from jsqat_embed.ops.table import OPS, descriptor, emulated_ops

__all__ = ["OPS", "CodeSize", "OpDescriptor", "descriptor", "emulated_ops"]
