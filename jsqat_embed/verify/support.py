"""Which models ``verify`` and ``build`` take: the rules, each a small check returning ``(ok, detail)``.

The emulator reproduces TFLM's integer kernels; a model computed in floating point
throughout has nothing for it to reproduce bit for bit. ``inspect`` and
``fit-check`` still answer for such models.
"""

from __future__ import annotations

from pathlib import Path

from jsqat_embed.errors import InputDataError, UnsupportedModelError
from jsqat_embed.graph.model import Model

FLOAT_TYPES = ("float32", "float16", "float64", "bfloat16")
#: types that hold shapes, indices, axes and flags in float models too
INDEX_TYPES = ("int32", "int64", "bool", "string", "resource", "variant")


def check_not_fully_floating_point(model: Model) -> tuple[bool, str]:
    """A model whose weights and activations are all floating point is refused: quantize it first (int8).

    Fully floating point: some tensor is float and every other tensor, constant or
    not, holds only shapes, indices or flags (int32, int64, bool). Models with
    any int8/uint8/int16 (or narrower) tensor pass, including int8 models with
    float inputs or outputs (the converter's QUANTIZE/DEQUANTIZE at the edges)
    and integer signal-processing graphs with a float result.
    """
    dtypes = {t.dtype for t in model.tensors}
    if dtypes & set(FLOAT_TYPES) and dtypes <= set(FLOAT_TYPES) | set(INDEX_TYPES):
        return False, "fully floating-point model; quantize it first (int8)"
    return True, ""


def require_quantized(model: Model, label: str | Path) -> None:
    """Raise UnsupportedModelError, one line naming ``label``, for a model TFLM refuses (TFLM's reason
    first, as TFLM would give it) or a fully floating-point model."""
    from jsqat_embed.ops.verdict import require_tflm_runs

    require_tflm_runs(model)
    ok, detail = check_not_fully_floating_point(model)
    if not ok:
        raise UnsupportedModelError(f"{Path(label).name if isinstance(label, Path) else label}: {detail}")


def check_image_input(model: Model) -> tuple[bool, str]:
    """Images (``--images``, ``--golden-images``) need a model with exactly one input, an NHWC image."""
    inputs = model.inputs
    if len(inputs) != 1:
        listed = ", ".join(f"'{t.name}' {t.dtype}[{'x'.join(map(str, t.shape))}]" for t in inputs)
        return False, (f"images need a model with exactly one image input; this model has {len(inputs)} inputs "
                       f"({listed}): use random inputs")
    if len(inputs[0].shape) != 4:
        return False, (f"images need an NHWC image input; input '{inputs[0].name}' has shape "
                       f"{list(inputs[0].shape)}: use random inputs")
    return True, ""


def require_image_input(model: Model, option: str) -> None:
    ok, detail = check_image_input(model)
    if not ok:
        raise InputDataError(f"{option}: {detail}")
