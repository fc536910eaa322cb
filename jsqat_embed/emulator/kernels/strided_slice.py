"""STRIDED_SLICE: TFLM's ``reference_ops::StridedSlice`` with strided_slice_logic.h's
StartForAxis / StopForAxis (begin, end and shrink-axis masks; TFLM zeroes the
ellipsis and new-axis masks, so models that rely on them are refused)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class StridedSlice(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        options = self.op.options
        if options.get("ellipsis_mask") or options.get("new_axis_mask"):
            self.unsupported("ellipsis and new-axis masks (TFLM ignores them)")
        rank = len(source.shape)
        begin, end, strides = (np.asarray(self.constant(i)).astype(np.int64).reshape(-1) for i in (1, 2, 3))
        if not (len(begin) == len(end) == len(strides) == rank):
            self.unsupported(f"begin/end/strides must have {rank} entries")
        if (strides == 0).any():
            self.unsupported("stride 0")
        slices, kept_shape = [], []
        for axis in range(rank):
            size, stride = source.shape[axis], int(strides[axis])
            start = self._start(axis, int(begin[axis]), stride, size, options)
            if options.get("shrink_axis_mask", 0) & (1 << axis):
                stop = start + 1
            else:
                stop = self._stop(axis, int(end[axis]) + (int(begin[axis]) if options.get("offset") else 0), stride, size, options)
            slices.append(slice(start, stop if stop >= 0 else None, stride))
            if not options.get("shrink_axis_mask", 0) & (1 << axis):
                kept_shape.append(len(range(start, stop, stride)) if size else 0)
        if int(np.prod(kept_shape, dtype=np.int64)) != output.size:
            self.unsupported(f"slice gives shape {kept_shape}, output is {list(output.shape)}")
        self.slices = tuple(slices)

    @staticmethod
    def _start(axis, start, stride, size, options):
        if size == 0:
            return 0
        if options.get("begin_mask", 0) & (1 << axis):
            return 0 if stride > 0 else size - 1
        if start < 0:
            start += size
        return min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)

    @staticmethod
    def _stop(axis, stop, stride, size, options):
        if options.get("end_mask", 0) & (1 << axis):
            return size if stride > 0 else -1
        if stop < 0:
            stop += size
        return min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        if self.is_constant(0):
            x = x[None]
        part = x[(slice(None), *self.slices)]
        return [np.ascontiguousarray(part).reshape(x.shape[0], *output.shape)]


KERNEL = StridedSlice
