"""The model as small explicit dataclasses with object references.

Everything downstream (emulator, estimator, encoder, renderer) works on these,
never on flatbuffer accessors. Tensors keep their schema index so messages and
the arena planner can name them the way TFLM does.

Objects read from a file keep the flatbuffer table they came from in ``tree``
(see :mod:`jsqat_embed.tflite.codec`), so that fields this module does not model
survive a read -> write round trip; edits go to the modelled fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel."""

    scale: np.ndarray  # float32, 1 or C entries
    zero_point: np.ndarray  # int64, 1 or C entries
    axis: int = 0  # quantized_dimension, meaningful when per-channel
    file_axis: int | None = None  # the file's quantized_dimension where the reader corrected it (kept on write)

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def channels(self) -> int:
        return int(self.scale.size)


@dataclass(eq=False)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # TFLite type spelled as numpy does: "int8", "int32", "float32", ...
    quantization: Quantization | None = None
    data: np.ndarray | None = None  # constant data, shaped; None for activations
    buffer_index: int = 0
    is_variable: bool = False
    shape_signature: tuple[int, ...] | None = None
    tree: dict | None = field(default=None, repr=False)  # the Tensor table as read

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize if self.dtype in _NUMPY_SIZED else 0

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one for per-channel tensors)."""
        if self.quantization is None:
            return 0.0
        return float(self.quantization.scale[0])

    @property
    def zero_point(self) -> int:
        if self.quantization is None:
            return 0
        return int(self.quantization.zero_point[0])

    def describe(self) -> str:
        return f"tensor {self.index} '{self.name}' {self.dtype}{list(self.shape)}"


_NUMPY_SIZED = {
    "float32", "float16", "int32", "uint8", "int64", "bool", "int16", "int8",
    "float64", "uint64", "uint32", "uint16",
}


@dataclass(eq=False)
class Operator:
    index: int
    opcode: str  # builtin name ("CONV_2D") or the custom code ("TFLM_DECODE")
    is_custom: bool
    version: int
    inputs: list[Tensor | None]  # None for an omitted optional input (-1)
    outputs: list[Tensor]
    options: dict = field(default_factory=dict)
    custom_options: bytes | None = None
    tree: dict | None = field(default=None, repr=False)  # the Operator table as read

    def describe(self) -> str:
        return f"operator {self.index} ({self.opcode})"

    def input(self, i: int) -> Tensor | None:
        return self.inputs[i] if i < len(self.inputs) else None


@dataclass(eq=False)
class Subgraph:
    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[Tensor]
    outputs: list[Tensor]
    tree: dict | None = field(default=None, repr=False)  # the SubGraph table as read


@dataclass(eq=False)
class Model:
    version: int
    description: str
    subgraphs: list[Subgraph]
    metadata: dict[str, bytes]
    source: bytes = field(repr=False, default=b"")
    name: str = "model"
    tree: dict | None = field(default=None, repr=False)  # the whole Model table as read

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source).hexdigest()

    @property
    def operators(self) -> list[Operator]:
        return self.main.operators

    @property
    def tensors(self) -> list[Tensor]:
        return self.main.tensors

    @property
    def inputs(self) -> list[Tensor]:
        return self.main.inputs

    @property
    def outputs(self) -> list[Tensor]:
        return self.main.outputs

    def consumers(self, tensor: Tensor) -> list[Operator]:
        return [op for op in self.operators if any(t is tensor for t in op.inputs)]
