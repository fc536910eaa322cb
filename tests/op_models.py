"""Small hand-built .tflite models for ops the TF converter does not emit from Keras.

A model is described by :class:`T` specs (shape, type, quantization, constant
data, variable flag) wired into one or more operators, and written with the
project's own writer (``jsqat_embed.tflite.writer.write_model``). Model inputs
are the operator inputs that no operator writes and that are neither constant
nor variable; model outputs are the last operator's outputs unless named.

    x = T("x", (1, 8), "int8", scale=0.05, zero_point=3)
    y = T("y", (1, 4), "int8", scale=0.1)
    data = op_model([op("SVDF", [x, wf, wt, b, state], [y], rank=1)])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jsqat_embed.graph.model import Model, Operator, Quantization, Subgraph, Tensor
from jsqat_embed.tflite.flexbuffers import write_map
from jsqat_embed.tflite.writer import write_model


@dataclass(eq=False)
class T:
    """A tensor spec; ``scale`` set means quantized (per tensor, or per channel along ``axis``)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | list[float] | None = None
    zero_point: int | list[int] = 0
    data: np.ndarray | None = None
    variable: bool = False
    axis: int = 0


@dataclass
class Op:
    opcode: str
    inputs: list[T | None]
    outputs: list[T]
    options: dict = field(default_factory=dict)
    custom_options: dict | None = None  # a FlexBuffer map for custom ops
    version: int = 1


def op(opcode: str, inputs: list[T | None], outputs: list[T], *, custom: dict | None = None, version: int = 1,
       **options) -> Op:
    return Op(opcode, inputs, outputs, options, custom, version)


def _tensor(spec: T, index: int) -> Tensor:
    quantization = None
    if spec.scale is not None:
        scales = np.atleast_1d(np.asarray(spec.scale, dtype=np.float32))
        zero_points = np.atleast_1d(np.asarray(spec.zero_point, dtype=np.int64))
        if zero_points.size == 1 and scales.size > 1:
            zero_points = np.repeat(zero_points, scales.size)
        quantization = Quantization(scales, zero_points, spec.axis)
    data = None
    if spec.data is not None:
        data = np.ascontiguousarray(np.asarray(spec.data, dtype=spec.dtype).reshape(spec.shape))
    return Tensor(index, spec.name, tuple(spec.shape), spec.dtype, quantization, data, is_variable=spec.variable)


def op_model(ops: list[Op], outputs: list[T] | None = None, *, description: str = "tests/op_models.py") -> bytes:
    """The .tflite bytes of a one-subgraph model running ``ops`` in order."""
    tensors: dict[int, Tensor] = {}
    order: list[T] = []

    def get(spec: T) -> Tensor:
        if id(spec) not in tensors:
            tensors[id(spec)] = _tensor(spec, len(order))
            order.append(spec)
        return tensors[id(spec)]

    written = {id(t) for o in ops for t in o.outputs}
    model_inputs: list[Tensor] = []
    operators = []
    for index, spec in enumerate(ops):
        inputs = []
        for t in spec.inputs:
            if t is None:
                inputs.append(None)
                continue
            tensor = get(t)
            if id(t) not in written and t.data is None and not t.variable and tensor not in model_inputs:
                model_inputs.append(tensor)
            inputs.append(tensor)
        outs = [get(t) for t in spec.outputs]
        custom = spec.opcode not in _builtin_names()
        custom_options = write_map(spec.custom_options) if spec.custom_options else None
        operators.append(Operator(index, spec.opcode, custom, spec.version, inputs, outs, dict(spec.options),
                                  custom_options))
    model_outputs = [get(t) for t in (outputs if outputs is not None else ops[-1].outputs)]
    subgraph = Subgraph("main", [tensors[id(s)] for s in order], operators, model_inputs, model_outputs)
    return write_model(Model(3, description, [subgraph], {}))


def _builtin_names() -> set[str]:
    from jsqat_embed.tflite import schema

    return set(schema.BUILTIN_CODES)
