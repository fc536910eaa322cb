"""Reading .tflite flatbuffers: the only package that touches the wire format."""

from jsqat_embed.tflite.reader import read_model

__all__ = ["read_model"]
