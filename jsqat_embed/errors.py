"""One error hierarchy for the whole library.

Library code raises these with context (file, operator index, tensor, step) and
never prints or exits; only ``jsqat_embed.cli`` turns them into messages and exit
codes.
"""


class JsqatError(Exception):
    """Base class of every error jsqat-embed raises on purpose."""


class ModelFormatError(JsqatError):
    """The .tflite file is malformed, truncated or hostile."""


class UnsupportedModelError(JsqatError):
    """The model is well formed but uses something we do not implement."""


class InputDataError(JsqatError):
    """User-supplied input data (arrays, images, folders) is unusable."""


class BoardProfileError(JsqatError):
    """A board profile file is missing, malformed or inconsistent."""


class ReferenceRuntimeError(JsqatError):
    """A reference interpreter (TFLM, LiteRT) failed or is not installed."""


class OutputLocationError(JsqatError):
    """An output path cannot be written safely."""


class DoesNotFitError(JsqatError):
    """The model does not fit the requested board."""


class InternalError(Exception):
    """A bug in jsqat-embed, found where it happened (e.g. a kernel failing on a model that passed
    every load-time check). Deliberately not a :class:`JsqatError`: nothing that handles bad input
    may catch it; the CLI reports it as a bug (exit 70)."""
