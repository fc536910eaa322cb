"""Shared geometry of AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (TFLM ``reference_integer_ops`` pooling.h)."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.graph.padding import output_size, padding_before
from jsqat_embed.emulator.kernels.conv_2d import padded_windows


def _clip_window(pad: int, filter_size: int, stride: int, size: int, out: int) -> tuple[int, int]:
    """(padding, filter size) along one axis that cover the same in-image taps for every output.

    Output ``y`` reads rows ``[y*stride - pad, y*stride - pad + filter)`` clipped to ``[0, size)``.
    A padding beyond ``(out-1)*stride`` puts every window's start before the image, so it can shrink
    (with the filter, keeping the ends); a window end beyond ``size`` for the first output is beyond
    it for all, so the filter can end at the image edge.
    """
    clipped_pad = min(pad, (out - 1) * stride)
    clipped = filter_size - (pad - clipped_pad)
    clipped = min(clipped, size + clipped_pad)
    return (clipped_pad, clipped) if clipped >= 1 else (pad, filter_size)


class Pool2D(Kernel):

    def prepare(self) -> None:
        input_tensor, output = self.op.input(0), self.op.outputs[0]
        for tensor in (input_tensor, output):
            self.require_quantized(tensor)
        if (output.dtype not in ("int8", "int16") or output.dtype != input_tensor.dtype
                or len(input_tensor.shape) != 4 or len(output.shape) != 4):
            self.unsupported("pooling needs 4-D int8 or int16 input and output of one type")
        if (abs(float(np.float32(input_tensor.scale) - np.float32(output.scale))) > 1.0e-6
                or input_tensor.zero_point != output.zero_point):
            self.unsupported("input and output quantization must be the same (TFLM requires it)", output)
        self.dtype = output.dtype
        options = self.op.options
        self.kernel_hw = (options["filter_height"], options["filter_width"])
        self.stride = (options["stride_h"], options["stride_w"])
        if min(self.kernel_hw + self.stride) < 1:
            self.unsupported(f"filter {self.kernel_hw} / stride {self.stride} must be >= 1")
        height, width = input_tensor.shape[1:3]
        out_h, out_w = output.shape[1:3]
        if (output_size(options["padding"], height, self.kernel_hw[0], self.stride[0]) != out_h
                or output_size(options["padding"], width, self.kernel_hw[1], self.stride[1]) != out_w):
            self.unsupported(f"output shape {list(output.shape)} does not match {options['padding']} padding")
        pads = (padding_before(height, self.kernel_hw[0], self.stride[0], 1, out_h),
                padding_before(width, self.kernel_hw[1], self.stride[1], 1, out_w))
        # TFLM clips every window to the image, so a filter far larger than the image (a bit-flipped
        # filter_height of 1,048,579) reads the same taps as a clipped one; clip before allocating.
        clipped = [_clip_window(*axis)
                   for axis in zip(pads, self.kernel_hw, self.stride, (height, width), (out_h, out_w))]
        self.pad = (clipped[0][0], clipped[1][0])
        self.kernel_hw = (clipped[0][1], clipped[1][1])
        self.activation = fixedpoint.activation_range_quantized(
            options["fused_activation_function"], output.scale, output.zero_point, output.dtype)
        # Valid taps per output position: windows hanging over the edge count fewer.
        ones = np.ones((1, height, width, 1), dtype=np.int32)
        self.counts = self.windows(ones, 0).sum(axis=(3, 4))[0]  # (out_h, out_w, 1)
        if (self.counts == 0).any():
            self.unsupported("a pooling window lies entirely in the padding (TFLM fails here)")

    def windows(self, batch: np.ndarray, fill: int) -> np.ndarray:
        """(B, out_h, out_w, kh, kw, C) view; out-of-image taps hold ``fill``."""
        out_h, out_w = self.op.outputs[0].shape[1:3]
        if fill == 0:
            return padded_windows(batch, self.kernel_hw, self.stride, (1, 1), self.pad, (out_h, out_w))
        shifted = batch.astype(np.int32) - fill
        return padded_windows(shifted, self.kernel_hw, self.stride, (1, 1), self.pad, (out_h, out_w)) + fill
