"""What a model costs and what will hurt on a device: per-layer rows, totals, warnings.

Pure functions over :class:`Model`; ``inspect``, ``fit-check`` and the training
reports all read their MAC counts and weight sparsity from here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from jsqat_embed.graph.model import Model, Operator, Tensor

#: Ops whose second input is a weight tensor (the ones pruning and compression act on).
WEIGHT_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})

#: Below this a quantization scale is degenerate: the tensor carries no information
#: at int8 and TFLM's Prepare math breaks down (see softmax check below).
DEGENERATE_SCALE = 1e-6


@dataclass
class LayerRow:
    index: int
    op: str
    input_shapes: list[list[int]]
    output_shapes: list[list[int]]
    params: int
    macs: int
    weight_sparsity: float | None  # fraction of weights equal to their zero point
    weight_tensor: str | None = None


@dataclass
class DeviceWarning:
    code: str
    message: str
    operator: int | None = None
    tensor: str | None = None
    #: "error": TFLM will refuse the model (its reason is the message); "warning": it runs, but mind this
    level: str = "warning"


@dataclass
class ModelSummary:
    name: str
    sha256: str
    size_bytes: int
    op_counts: dict[str, int]
    layers: list[LayerRow]
    total_params: int
    total_macs: int
    weight_bytes: int
    overall_weight_sparsity: float | None
    inputs: list[dict]
    outputs: list[dict]
    warnings: list[DeviceWarning] = field(default_factory=list)

    def to_json(self) -> dict:
        out = asdict(self)
        out["warnings"] = [asdict(w) for w in self.warnings]
        return out


def weight_tensor(op: Operator) -> Tensor | None:
    if op.opcode in WEIGHT_OPS:
        index = 1  # TRANSPOSE_CONV too: its inputs are output_shape, weights, input, bias
        tensor = op.input(index)
        if tensor is not None and tensor.is_constant:
            return tensor
    return None


def weight_sparsity(tensor: Tensor) -> float:
    """Fraction of elements equal to their (per-channel) zero point."""
    data = tensor.data
    if data is None or data.size == 0:
        return 0.0
    zero = np.zeros(1, dtype=np.int64)
    quant = tensor.quantization
    if quant is not None:
        zero = quant.zero_point
        if quant.per_channel:
            shape = [1] * data.ndim
            shape[quant.axis] = -1
            zero = zero.reshape(shape)
    return float(np.count_nonzero(data == zero) / data.size)


def count_macs(op: Operator) -> int:
    """Multiply-accumulates of one inference of ``op`` (0 for ops without a weight product)."""
    out = op.outputs[0] if op.outputs else None
    if out is None:
        return 0
    if op.opcode == "CONV_2D":
        filt = op.input(1)
        if filt is None or len(filt.shape) != 4:
            return 0
        return out.size * int(np.prod(filt.shape[1:]))
    if op.opcode == "DEPTHWISE_CONV_2D":
        filt = op.input(1)
        if filt is None or len(filt.shape) != 4:
            return 0
        return out.size * filt.shape[1] * filt.shape[2]
    if op.opcode == "FULLY_CONNECTED":
        filt = op.input(1)
        if filt is None or len(filt.shape) != 2:
            return 0
        return out.size * filt.shape[1]
    if op.opcode == "TRANSPOSE_CONV":
        filt = op.input(1)
        inp = op.input(2)
        if filt is None or inp is None or len(filt.shape) != 4:
            return 0
        return inp.size * int(np.prod(filt.shape[:3]))
    return 0


def _params(op: Operator) -> int:
    return sum(t.size for t in op.inputs if t is not None and t.is_constant and op.opcode in WEIGHT_OPS)


def summarize(model: Model) -> ModelSummary:
    layers = []
    weight_elements = zero_elements = weight_bytes = 0
    for op in model.operators:
        weights = weight_tensor(op)
        sparsity = weight_sparsity(weights) if weights is not None else None
        if weights is not None:
            weight_elements += weights.size
            zero_elements += round(sparsity * weights.size)
            weight_bytes += weights.nbytes
        layers.append(
            LayerRow(
                index=op.index,
                op=op.opcode,
                input_shapes=[list(t.shape) for t in op.inputs if t is not None and not t.is_constant],
                output_shapes=[list(t.shape) for t in op.outputs],
                params=_params(op),
                macs=count_macs(op),
                weight_sparsity=sparsity,
                weight_tensor=weights.name if weights is not None else None,
            )
        )
    return ModelSummary(
        name=model.name,
        sha256=model.sha256,
        size_bytes=len(model.source),
        op_counts=dict(Counter(op.opcode for op in model.operators).most_common()),
        layers=layers,
        total_params=sum(row.params for row in layers),
        total_macs=sum(row.macs for row in layers),
        weight_bytes=weight_bytes,
        overall_weight_sparsity=(zero_elements / weight_elements) if weight_elements else None,
        inputs=[_io(t) for t in model.inputs],
        outputs=[_io(t) for t in model.outputs],
        warnings=device_warnings(model),
    )


def _io(tensor: Tensor) -> dict:
    return {"name": tensor.name, "shape": list(tensor.shape), "dtype": tensor.dtype,
            "scale": tensor.scale if tensor.quantization else None,
            "zero_point": tensor.zero_point if tensor.quantization else None}


def device_warnings(model: Model) -> list[DeviceWarning]:
    """Things that will hurt on a microcontroller, each a one-line explanation."""
    from jsqat_embed.ops import descriptor
    from jsqat_embed.ops.verdict import operator_refusals

    warnings: list[DeviceWarning] = []
    seen: set[int] = set()
    if len(model.subgraphs) > 1:
        warnings.append(DeviceWarning("control-flow", f"{len(model.subgraphs)} subgraphs: control flow costs RAM and is not emulated"))
    for op in model.operators:
        refusals = operator_refusals(op)
        for reason in refusals:
            warnings.append(DeviceWarning("tflm-refuses", f"{op.describe()}: TFLM cannot run this: {reason}", op.index,
                                          level="error"))
        found = descriptor(op.opcode)
        source = op.input(0)
        if refusals or found is None:
            pass
        elif not found.emulated:
            warnings.append(DeviceWarning("not-emulated", f"{op.describe()}: TFLM runs {op.opcode}, but jsqat-embed cannot emulate it yet, so `verify` will refuse this model", op.index))
        elif found.dtypes and source is not None and source.dtype not in found.dtypes:
            warnings.append(DeviceWarning("not-emulated", f"{op.describe()}: TFLM runs {op.opcode} on {source.dtype} inputs, but jsqat-embed emulates it only for {', '.join(found.dtypes)}, so `verify` will refuse this model", op.index))
        if op.opcode == "SOFTMAX":
            warnings.extend(_softmax_scale(op))
        if op.opcode == "SPACE_TO_BATCH_ND" and _has_padding(op):
            # TFLM (reference and micro kernel) pads with SpaceToBatchParams.output_offset,
            # a persistent buffer its Init allocates and nothing writes.
            warnings.append(DeviceWarning(
                "uninitialized-pad",
                f"{op.describe()}: TFLM pads with a value it never initializes (byte 0 on a zeroed arena, as "
                f"jsqat-embed's firmware and the tflite-micro package give it; anything on an arena reused "
                f"without clearing), not with the zero point {op.outputs[0].zero_point}", op.index))
        for tensor in [t for t in op.inputs if t is not None] + op.outputs:
            if tensor.index in seen:
                continue
            seen.add(tensor.index)
            warnings.extend(_tensor_warnings(tensor, op))
    return warnings


def _has_padding(op: Operator) -> bool:
    paddings = op.input(2)
    return paddings is None or paddings.data is None or bool(np.any(paddings.data))


def _softmax_scale(op: Operator) -> list[DeviceWarning]:
    tensor = op.input(0)
    if tensor is None or tensor.quantization is None or tensor.dtype != "int8":
        return []
    beta = float(op.options.get("beta", 1.0) or 1.0)
    # TFLM's int8 SOFTMAX Prepare turns beta*scale*2^26 into a multiplier that must be > 1
    # (QuantizeMultiplierGreaterThanOne); otherwise TFLITE_CHECK aborts the process.
    if beta * tensor.scale * (1 << 26) <= 1.0:
        return [DeviceWarning(
            "degenerate-scale",
            f"{op.describe()}: input scale {tensor.scale:.3g} is so small that TFLM's SOFTMAX Prepare "
            f"aborts the process (needs beta*scale*2^26 > 1); the model was probably converted untrained "
            f"or calibrated on unrepresentative data",
            op.index, tensor.name)]
    return []


def _tensor_warnings(tensor: Tensor, op: Operator) -> list[DeviceWarning]:
    out = []
    quant = tensor.quantization
    if quant is not None and not tensor.is_constant:
        scale = float(np.min(quant.scale))
        if scale < DEGENERATE_SCALE:
            out.append(DeviceWarning("degenerate-scale",
                                f"{tensor.describe()}: quantization scale {scale:.3g} is degenerate (< {DEGENERATE_SCALE:g}); "
                                f"TFLM may abort or produce constant outputs", op.index, tensor.name))
    if tensor.dtype in ("float32", "float16", "float64") and not tensor.is_constant:
        out.append(DeviceWarning("float-tensor", f"{tensor.describe()}: float activations are slow on MCUs without an FPU and need 4x the RAM", op.index, tensor.name))
    elif tensor.dtype in ("float32", "float16") and tensor.is_constant and op.opcode in WEIGHT_OPS:
        out.append(DeviceWarning("float-weights", f"{tensor.describe()}: float weights (not quantized)", op.index, tensor.name))
    if tensor.dtype == "int16" and not tensor.is_constant:
        out.append(DeviceWarning("int16-activation", f"{tensor.describe()}: int16 activations need twice the RAM of int8", op.index, tensor.name))
    return out
