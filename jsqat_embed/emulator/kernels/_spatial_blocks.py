"""Block geometry shared by SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND (1 or 2 spatial dims)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel


class SpatialBlocks(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        if source.dtype != output.dtype:
            self.unsupported(f"input type {source.dtype} differs from output {output.dtype}")
        if len(source.shape) not in (3, 4):
            self.unsupported(f"rank {len(source.shape)}: TFLM supports 3-D and 4-D inputs only")
        self.block = [int(v) for v in np.asarray(self.constant(1)).reshape(-1)]
        self.spatial = len(source.shape) - 2
        if len(self.block) != self.spatial or min(self.block) < 1:
            self.unsupported(f"block shape {self.block} does not fit {self.spatial} spatial dims")
        self.margins = np.asarray(self.constant(2)).astype(np.int64).reshape(self.spatial, 2)
        if (self.margins < 0).any():
            self.unsupported(f"negative paddings/crops {self.margins.tolist()}")
        expected = self.output_shape(tuple(source.shape))
        if expected != tuple(output.shape):
            self.unsupported(
                f"the output's stored shape {list(output.shape)} is stale (the op produces {list(expected)}): "
                f"the model was exported with a dynamic batch; re-export it with a fixed batch size of 1")

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError
