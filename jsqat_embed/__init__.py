"""jsqat-embed: from a JSQAT-trained classifier to a microcontroller, bit-exact."""

__version__ = "0.1.0"
