"""Custom operators' options: a FlexBuffer map (``custom_options``) -> a plain dict.

TFLM's custom kernels (the signal library's, DETECTION_POSTPROCESS, ...) read
their parameters from a FlexBuffer map in ``Init`` (``FlexbufferWrapper``,
``flexbuffers::GetRoot(...).AsMap()``). Decoding uses the ``flatbuffers``
package's FlexBuffer reader; anything it trips over in a malformed or hostile
buffer (offsets out of range, cycles) becomes a :class:`ModelFormatError`
naming the operator, and the result must be a map of scalars, strings or lists.
"""

from __future__ import annotations

from jsqat_embed.errors import ModelFormatError

#: a map bigger than any TFLM kernel's options; guards the decoder against pathological input
MAX_OPTIONS_BYTES = 1 << 20


def read_map(data: bytes | None, owner: str) -> dict:
    """The FlexBuffer map in ``data`` (empty for no options); ``owner`` names the operator in errors."""
    if not data:
        return {}
    if len(data) > MAX_OPTIONS_BYTES:
        raise ModelFormatError(f"{owner}: custom options of {len(data)} bytes exceed {MAX_OPTIONS_BYTES}")
    from flatbuffers import flexbuffers

    try:
        value = flexbuffers.Loads(bytes(data))
    except Exception as exc:  # IndexError, struct.error, RecursionError, the decoder's own checks
        raise ModelFormatError(f"{owner}: custom options are not a valid FlexBuffer ({type(exc).__name__}: {exc})") from exc
    if not isinstance(value, dict):
        raise ModelFormatError(f"{owner}: custom options are a FlexBuffer {type(value).__name__}, not a map")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, (bool, int, float, str, bytes, list, type(None))):
            raise ModelFormatError(f"{owner}: custom option {key!r} has an unexpected value type {type(item).__name__}")
    return value


def write_map(values: dict) -> bytes:
    """A FlexBuffer map of ``values`` (what a converter writes as ``custom_options``)."""
    from flatbuffers import flexbuffers

    return bytes(flexbuffers.Dumps(dict(values)))
