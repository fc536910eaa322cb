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


#: custom ops LiteRT's BuiltinOpResolver registers (tensorflow/lite/core/kernels/register.cc);
#: every other custom op TFLM registers (TFLM_DECODE, the signal library, CIRCULAR_BUFFER) is TFLM's own
LITERT_CUSTOM_OPS = ("TFLite_Detection_PostProcess", "AudioSpectrogram", "Mfcc", "NumericVerify")


def _tensors(count: int) -> str:
    return f"{count} per-channel tensor{'s' if count > 1 else ''}"


def _stores_one_zero_point(tensor: dict) -> bool:
    quantization = tensor.get("quantization") or {}
    scale, zero_point = quantization.get("scale"), quantization.get("zero_point")
    return scale is not None and zero_point is not None and len(scale) > 1 and len(zero_point) == 1


def check_litert_can_read(model: Model) -> tuple[bool, str]:
    """LiteRT, the second reference, is skipped for files only TFLM can run: TFLM's own custom ops
    (DECODE, the signal library), per-channel tensors that store one zero point for all channels
    (``compress --lean``; TFLM reads only the first) and 1-D per-channel tensors whose declared
    quantized_dimension is past their rank (TFLM's own person_detect; TFLM never reads it there).

    These are not failures: LiteRT has no kernel for the op, or refuses the layout, by design.
    """
    from jsqat_embed.ops.table import descriptor

    custom = sorted({op.opcode for op in model.operators if op.is_custom and op.opcode not in LITERT_CUSTOM_OPS
                     and descriptor(op.opcode) is not None})  # any other custom op: TFLM refuses the model first
    if custom:
        return False, f"LiteRT has no kernel for TFLM's custom op{'s' if len(custom) > 1 else ''} {', '.join(custom)}"
    quantized = [t.quantization for t in model.tensors if t.quantization is not None and t.quantization.per_channel]
    shared = sum(_stores_one_zero_point(tensor) for subgraph in (model.tree or {}).get("subgraphs", [])
                 for tensor in subgraph.get("tensors", []))  # the reader spreads it over the channels: ask the file
    if shared:
        return False, (f"{_tensors(shared)} store one zero point for all channels, which TFLM reads and LiteRT "
                       "refuses (compress --no-lean keeps one per channel)")
    off = sum(q.file_axis is not None for q in quantized)
    if off:
        return False, (f"{_tensors(off)} declare a quantized_dimension past their rank, which TFLM accepts and "
                       "LiteRT refuses")
    return True, ""
