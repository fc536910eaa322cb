"""Base class of the emulator's kernels.

A kernel is built once per operator. ``prepare()`` validates the operator and
precomputes what TFLM's Prepare computes (multipliers, shifts, activation
ranges; float math allowed there, as in TFLM). ``eval()`` is integer only.

Value convention: a non-constant tensor's value is an array of shape
``(samples, *tensor.shape)`` -- a leading axis for the batch of independent
samples the emulator runs at once. A constant input (including the output of a
DECODE operator, which depends only on constants) is passed as its plain data,
shape ``tensor.shape``, with no sample axis. ``eval`` returns one array per
output, each ``(samples, *output.shape)``.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.graph.model import Operator, Tensor


class Kernel:
    def __init__(self, op: Operator, constants: dict[int, np.ndarray]) -> None:
        from jsqat_embed.ops import descriptor

        self.op = op
        self._constants = constants
        # The types each op emulates are part of its descriptor (ops/table.py); () means any.
        found = descriptor(op.opcode)
        dtypes = found.dtypes if found is not None else ()
        first = op.input(found.data_input) if found is not None and found.data_input else next(
            (t for t in op.inputs if t is not None), None)
        if first is not None and dtypes and first.dtype not in dtypes:
            self.unsupported(f"input type {first.dtype} (emulated: {', '.join(dtypes)})", first)
        self.prepare()

    # -- helpers for subclasses ------------------------------------------------
    def unsupported(self, what: str, tensor: Tensor | None = None) -> None:
        where = f", {tensor.describe()}" if tensor is not None else ""
        raise UnsupportedModelError(f"{self.op.describe()}{where}: {what}")

    def tensor(self, i: int) -> Tensor | None:
        return self.op.input(i)

    def is_constant(self, i: int) -> bool:
        tensor = self.op.input(i)
        return tensor is not None and tensor.index in self._constants

    def constant(self, i: int) -> np.ndarray:
        """The constant value of input i (also the output of a DECODE operator)."""
        tensor = self.op.input(i)
        if tensor is None or tensor.index not in self._constants:
            self.unsupported(f"input {i} must be a constant tensor", tensor)
        return self._constants[tensor.index]

    def require_quantized(self, tensor: Tensor) -> None:
        if tensor.quantization is None:
            self.unsupported("tensor is not quantized", tensor)

    # -- the kernel ----------------------------------------------------------------
    def prepare(self) -> None:
        """Validate and precompute; raise via :meth:`unsupported`."""

    def eval(self, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise NotImplementedError
