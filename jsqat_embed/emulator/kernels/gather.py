"""GATHER: TFLM's ``Gather``: for each batch (the first ``batch_dims`` axes) and each
outer index, copy the input's slices at the given positions along ``axis``.

TFLM's Prepare takes float32 and int8 inputs and int32 positions only; the
positions may be constant or computed. TFLM checks them only in debug builds
(an out-of-range position reads outside the input), so the emulator refuses one.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels._movement import require_types, sampled

TYPES = ("float32", "int8")


class Gather(Kernel):

    def prepare(self) -> None:
        source, positions, output = self.op.input(0), self.op.input(1), self.op.outputs[0]
        require_types(self, source, TYPES, "input")
        if positions is None or positions.dtype != "int32":
            self.unsupported("positions must be int32 (TFLM: \"Positions of type ... are not supported\")",
                             positions)
        rank, coords_rank = len(source.shape), len(positions.shape)
        axis = int(self.op.options.get("axis", 0))
        axis = axis + rank if axis < 0 else axis
        batch_dims = int(self.op.options.get("batch_dims", 0))
        batch_dims = batch_dims + coords_rank if batch_dims < 0 else batch_dims
        if not (0 <= axis < rank and 0 <= batch_dims <= axis and batch_dims < rank and batch_dims <= coords_rank):
            self.unsupported(f"axis {axis} and batch_dims {batch_dims} for input rank {rank}, positions rank "
                             f"{coords_rank}")
        if tuple(source.shape[:batch_dims]) != tuple(positions.shape[:batch_dims]):
            self.unsupported("input and positions differ in their batch dimensions")
        expected = (*source.shape[:axis], *positions.shape[batch_dims:], *source.shape[axis + 1 :])
        if tuple(output.shape) != expected:
            self.unsupported(f"output shape {list(output.shape)} is not {list(expected)}", output)

        def product(dims) -> int:
            return int(np.prod(dims, dtype=np.int64))

        self.blocks = (product(source.shape[:batch_dims]), product(source.shape[batch_dims:axis]),
                       source.shape[axis], product(source.shape[axis + 1 :]))
        self.coord_size = product(positions.shape[batch_dims:])
        if self.is_constant(1):
            self._check_positions(np.asarray(self.constant(1)))

    def _check_positions(self, positions: np.ndarray) -> None:
        axis_size = self.blocks[2]
        if positions.size and (positions.min() < 0 or positions.max() >= axis_size):
            self.unsupported(f"a position is outside [0, {axis_size}) (TFLM would read outside the input)")

    def eval(self, inputs):
        x = sampled(self, 0, inputs[0])
        positions = sampled(self, 1, inputs[1])
        if not self.is_constant(1):
            self._check_positions(positions)
        samples = max(x.shape[0], positions.shape[0])
        batch, outer, axis_size, inner = self.blocks
        x = np.broadcast_to(x, (samples, *x.shape[1:])).reshape(samples, batch, outer, axis_size, inner)
        coords = np.broadcast_to(positions, (samples, *positions.shape[1:])).reshape(samples, batch, 1, self.coord_size)
        picked = x[np.arange(samples)[:, None, None, None], np.arange(batch)[None, :, None, None],
                   np.arange(outer)[None, None, :, None], coords]
        return [np.ascontiguousarray(picked).reshape(samples, *self.op.outputs[0].shape)]


KERNEL = Gather
