"""The model graph as plain dataclasses."""

from jsqat_embed.graph.model import Model, Operator, Quantization, Subgraph, Tensor

__all__ = ["Model", "Operator", "Quantization", "Subgraph", "Tensor"]
