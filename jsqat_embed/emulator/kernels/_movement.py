"""Helpers shared by the data-movement kernels (resize, split, gather, pads, ...)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.graph.model import Tensor


def sampled(kernel: Kernel, index: int, value: np.ndarray) -> np.ndarray:
    """Input ``index``'s value with the leading samples axis (a constant gets one sample)."""
    return value[None] if kernel.is_constant(index) else value


def require_types(kernel: Kernel, source: Tensor, types: tuple[str, ...], what: str) -> None:
    """TFLM's type switch: ``source`` must be one of ``types``; each output must share its type."""
    if source.dtype not in types:
        kernel.unsupported(f"{what} type {source.dtype} (TFLM takes {', '.join(types)})", source)
    for output in kernel.op.outputs:
        if output.dtype != source.dtype:
            kernel.unsupported(f"output type {output.dtype} differs from input type {source.dtype}", output)


def constant_ints(kernel: Kernel, index: int, types: tuple[str, ...] = ("int32",)) -> list[int]:
    """A constant integer input (an axis, sizes, paddings) as Python ints, flattened."""
    tensor = kernel.tensor(index)
    if tensor is None:
        kernel.unsupported(f"input {index} is missing")
    if tensor.dtype not in types:
        kernel.unsupported(f"input {index} must be {' or '.join(types)}", tensor)
    return [int(v) for v in np.asarray(kernel.constant(index)).reshape(-1)]


def normalized_axis(kernel: Kernel, axis: int, rank: int) -> int:
    """A negative axis counts from the end, as TFLM's kernels do; out of range is refused."""
    resolved = axis + rank if axis < 0 else axis
    if not 0 <= resolved < rank:
        kernel.unsupported(f"axis {axis} is out of range for rank {rank}")
    return resolved
