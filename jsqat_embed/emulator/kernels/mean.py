"""MEAN, int8 and int16: TFLM's ``reference_ops::QuantizedMeanOrSum`` (reduce.h) as reduce_common.cc calls it.

The raw int32 sum over the reduced axes has ``zero_point * count`` removed, and
the 1/count factor is folded into the multiplier: it is shifted left by
floor(log2(count)) (clamped to 32 and to 31 + shift) and integer-divided by the
count, then applied with ``MultiplyByQuantizedMultiplier``.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel


def resolve_axes(kernel: Kernel, rank: int) -> tuple[int, ...]:
    """``ResolveAxis``: negative axes wrap, duplicates count once, out of range is refused."""
    raw = np.asarray(kernel.constant(1)).reshape(-1).tolist()
    axes = []
    for axis in raw:
        resolved = axis + rank if axis < 0 else axis
        if not 0 <= resolved < rank:
            kernel.unsupported(f"reduction axis {axis} out of range for rank {rank}")
        if resolved not in axes:
            axes.append(resolved)
    return tuple(axes)


class Mean(Kernel):

    def prepare(self) -> None:
        input_tensor, output = self.op.input(0), self.op.outputs[0]
        for tensor in (input_tensor, output):
            self.require_quantized(tensor)
        if output.dtype not in ("int8", "int16") or output.dtype != input_tensor.dtype:
            self.unsupported(f"{input_tensor.dtype} input with {output.dtype} output (int8 or int16, the same type)")
        self.dtype = output.dtype
        self.axes = resolve_axes(self, len(input_tensor.shape))
        count = int(np.prod([input_tensor.shape[a] for a in self.axes], dtype=np.int64)) if self.axes else 1
        self.count = count
        self.input_zero_point = input_tensor.zero_point
        self.output_zero_point = output.zero_point
        multiplier, shift = fixedpoint.quantize_multiplier(float(np.float32(input_tensor.scale)) / float(np.float32(output.scale)))
        if count > 0:
            fold = min(count.bit_length() - 1, 32, 31 + shift)
            multiplier = (multiplier << fold) // count if fold >= 0 else (multiplier >> -fold) // count
            shift -= fold
        self.multiplier, self.shift = multiplier, shift

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        if self.count == 0:
            return [np.zeros((x.shape[0], *output.shape), dtype=self.dtype)]
        axes = tuple(a + 1 for a in self.axes)
        total = fixedpoint.wrap_int32(x.astype(np.int64).sum(axis=axes))
        shifted = fixedpoint.wrap_int32(total - self.input_zero_point * self.count)
        result = fixedpoint.multiply_by_quantized_multiplier(shifted, self.multiplier, self.shift) + self.output_zero_point
        info = np.iinfo(self.dtype)
        return [np.clip(result, info.min, info.max).astype(self.dtype).reshape(x.shape[0], *output.shape)]


KERNEL = Mean
