"""TFLM's load-time rules, as small checks: ``check(op) -> (ok, detail)``.

Each check's docstring is the rule a user reads (the docs' support table is
generated from them); ``detail`` names what in this operator breaks it. They
mirror refusals in TFLM's kernels' Prepare/Eval (paths in tensorflow/lite/micro/kernels).
"""

from __future__ import annotations

from jsqat_embed.graph.model import Operator

FLOAT_TYPES = ("float32", "float16", "float64")


def no_hybrid(op: Operator) -> tuple[bool, str]:
    """Weights and activations are both quantized or both float: TFLM refuses hybrid ops
    (int8 weights, float activations): "Hybrid models are not supported on TFLite Micro."
    (conv_common.cc, depthwise_conv_common.cc, fully_connected.cc, transpose_conv.cc)."""
    source, weights = op.input(0), op.input(1)
    if source is None or weights is None:
        return True, ""
    if source.dtype in FLOAT_TYPES and weights.dtype not in FLOAT_TYPES:
        return False, (f"hybrid operator ({weights.dtype} weights, {source.dtype} activations): "
                       "Hybrid models are not supported on TFLite Micro")
    return True, ""


def quantized_weights_for_quantized_input(op: Operator) -> tuple[bool, str]:
    """An int8/int16 input needs int8 (or int4) weights: TFLM's quantized kernels read the
    filter as integers ("Weight type ... not supported")."""
    source, weights = op.input(0), op.input(1)
    if source is None or weights is None:
        return True, ""
    if source.dtype in ("int8", "int16") and weights.dtype not in ("int8", "int4"):
        return False, f"{source.dtype} activations with {weights.dtype} weights: Weight type {weights.dtype} not supported"
    return True, ""


def quantized_io(op: Operator) -> tuple[bool, str]:
    """int8/int16 inputs need quantization parameters (a scale and zero point); TFLM reads
    them in Prepare and fails on a tensor without them."""
    for tensor in [op.input(0), *op.outputs]:
        if tensor is not None and tensor.dtype in ("int8", "int16", "uint8") and tensor.quantization is None:
            return False, f"{tensor.describe()} is {tensor.dtype} without quantization parameters"
    return True, ""


def input_types(op_name: str, dtypes: tuple[str, ...]):
    """A check that the first input's type is one TFLM's kernel for ``op_name`` accepts."""

    def check(op: Operator) -> tuple[bool, str]:
        source = op.input(0)
        if source is None or source.dtype in dtypes:
            return True, ""
        return False, f"input type {source.dtype} is not supported by TFLM's {op_name} (it takes {', '.join(dtypes)})"

    check.__doc__ = f"TFLM's {op_name} kernel takes {', '.join(dtypes)} inputs."
    check.__name__ = "input_types"
    return check
