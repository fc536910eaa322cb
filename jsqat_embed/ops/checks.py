"""TFLM's load-time rules, as small checks: ``check(op) -> (ok, detail)``.

Each check's docstring is the rule a user reads (the docs' support table is
generated from them); ``detail`` names what in this operator breaks it. They
mirror refusals in TFLM's kernels' Prepare/Eval (paths in tensorflow/lite/micro/kernels).
"""

from __future__ import annotations

from jsqat_embed.graph.model import Operator, Tensor


def data_tensor(op: Operator) -> Tensor | None:
    """The input whose type selects TFLM's kernel: input 0 unless the op's descriptor names another."""
    from jsqat_embed.ops.table import OPS

    found = OPS.get(op.opcode)
    return op.input(found.data_input if found is not None else 0)


_HYBRID = "Hybrid models are not supported on TFLite Micro."


def weight_types(op_name: str, pairs: dict[str, tuple[str, ...]], source_file: str, message: str = _HYBRID):
    """A check that (input type, weight type) is a pair TFLM's ``op_name`` Prepare accepts.

    ``pairs`` maps an input type to the weight types allowed with it; any other input type
    passes here (the op's input-type rule covers it) unless ``message`` is the hybrid one,
    which TFLM's convolutions raise for every pair outside the list.
    """

    def check(op: Operator) -> tuple[bool, str]:
        source, weights = data_tensor(op), op.input(1)
        if source is None or weights is None:
            return True, ""
        allowed = pairs.get(source.dtype)
        if allowed is None and message != _HYBRID:
            return True, ""
        if allowed is not None and weights.dtype in allowed:
            return True, ""
        said = message.format(input=source.dtype.upper(), weights=weights.dtype.upper())
        return False, f"{source.dtype} input with {weights.dtype} weights: TFLM says \"{said}\" ({source_file})"

    listed = "; ".join(f"{i} input with {' or '.join(w)} weights" for i, w in pairs.items())
    check.__doc__ = (f"{op_name}: TFLM accepts only {listed}; anything else, e.g. int8 weights with float "
                     f"activations (a hybrid model), fails in Prepare ({source_file}).")
    check.__name__ = "weight_types"
    return check


def quantized_io(op: Operator) -> tuple[bool, str]:
    """int8/int16 inputs need quantization parameters (a scale and zero point); TFLM reads
    them in Prepare and fails on a tensor without them."""
    for tensor in [data_tensor(op), *op.outputs]:
        if tensor is not None and tensor.dtype in ("int8", "int16", "uint8") and tensor.quantization is None:
            return False, f"{tensor.describe()} is {tensor.dtype} without quantization parameters"
    return True, ""


def input_types(op_name: str, dtypes: tuple[str, ...]):
    """A check that the first input's type is one TFLM's kernel for ``op_name`` accepts."""

    def check(op: Operator) -> tuple[bool, str]:
        source = data_tensor(op)
        if source is None or source.dtype in dtypes:
            return True, ""
        return False, f"input type {source.dtype} is not supported by TFLM's {op_name} (it takes {', '.join(dtypes)})"

    check.__doc__ = f"TFLM's {op_name} kernel takes {', '.join(dtypes)} inputs."
    check.__name__ = "input_types"
    return check


def tensor_types(op_name: str, index: int, role: str, dtypes: tuple[str, ...]):
    """A check that input ``index`` (``role``, e.g. "data input 1") has a type TFLM's kernel takes;
    for ops whose first input is not the data (SPLIT's is the axis) or whose other inputs are typed."""

    def check(op: Operator) -> tuple[bool, str]:
        tensor = op.input(index)
        if tensor is None or tensor.dtype in dtypes:
            return True, ""
        return False, f"{role} is {tensor.dtype}; TFLM's {op_name} takes {', '.join(dtypes)}"

    check.__doc__ = f"TFLM's {op_name} takes a {role} of type {', '.join(dtypes)}."
    check.__name__ = "tensor_types"
    return check


def int32_index_output(op: Operator) -> tuple[bool, str]:
    """ARG_MAX/ARG_MIN write int32 indices only: TFLM refuses an int64 output (TensorFlow's default
    ``output_type``; export with ``output_type=tf.int32``): "Only int32_t are supported currently"."""
    for tensor in op.outputs:
        if tensor.dtype != "int32":
            return False, f"{tensor.describe()} is {tensor.dtype}: Only int32_t are supported currently"
    return True, ""
