"""DEPTHWISE_CONV_2D, int8: TFLM's ``reference_integer_ops::DepthwiseConvPerChannel``.

Output channel c reads input channel c // depth_multiplier. The sum over the
kh x kw taps runs as one vectorized multiply-add per tap (at most a few dozen
Python iterations), exact in int32 like the C accumulator.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _gemm
from jsqat_embed.graph.padding import output_size, padding_before
from jsqat_embed.emulator.kernels.conv_2d import padded_windows


class DepthwiseConv2D(Kernel):

    def prepare(self) -> None:
        op = self.op
        input_tensor, filter_tensor, bias_tensor = op.input(0), op.input(1), op.input(2)
        output = op.outputs[0]
        for tensor in (input_tensor, filter_tensor, output):
            self.require_quantized(tensor)
        if filter_tensor.dtype != "int8" or output.dtype != "int8":
            self.unsupported(f"filter {filter_tensor.dtype} / output {output.dtype}: only int8 is emulated")
        weights = self.constant(1).astype(np.int64)  # (1, kh, kw, Cout)
        if weights.ndim != 4 or weights.shape[0] != 1 or len(input_tensor.shape) != 4 or len(output.shape) != 4:
            self.unsupported("DEPTHWISE_CONV_2D needs a (1, kh, kw, C) filter and 4-D input and output")
        _, kh, kw, out_channels = weights.shape
        in_channels = input_tensor.shape[3]
        if out_channels != output.shape[3] or in_channels == 0 or out_channels % in_channels:
            self.unsupported(f"output depth {out_channels} is not a multiple of input depth {in_channels}")
        self.depth_multiplier = out_channels // in_channels
        options = op.options
        self.stride = (options["stride_h"], options["stride_w"])
        self.dilation = (options["dilation_h_factor"], options["dilation_w_factor"])
        if min(self.stride + self.dilation) < 1:
            self.unsupported(f"stride {self.stride} / dilation {self.dilation} must be >= 1")
        height, width = input_tensor.shape[1:3]
        out_h, out_w = output.shape[1:3]
        if (output_size(options["padding"], height, kh, self.stride[0], self.dilation[0]) != out_h
                or output_size(options["padding"], width, kw, self.stride[1], self.dilation[1]) != out_w):
            self.unsupported(f"output shape {list(output.shape)} does not match {options['padding']} padding")
        self.pad = (padding_before(height, kh, self.stride[0], self.dilation[0], out_h),
                    padding_before(width, kw, self.stride[1], self.dilation[1], out_w))
        self.kernel_hw = (kh, kw)
        self.weights = weights[0].astype(np.int32)  # (kh, kw, Cout)
        self.input_zero_point = input_tensor.zero_point
        self.output_zero_point = output.zero_point
        self.multipliers, self.shifts = _gemm.per_channel_multipliers(
            input_tensor.scale, filter_tensor.quantization.scale, output.scale, out_channels)
        self.activation = fixedpoint.activation_range_quantized(
            options["fused_activation_function"], output.scale, output.zero_point)
        self.bias = self.constant(2).astype(np.int64) if bias_tensor is not None else np.zeros(out_channels, np.int64)

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        batch = x.reshape(-1, *x.shape[2:]).astype(np.int32) - np.int32(self.input_zero_point)
        if self.depth_multiplier > 1:
            batch = np.repeat(batch, self.depth_multiplier, axis=-1)
        out_h, out_w = output.shape[1:3]
        windows = padded_windows(batch, self.kernel_hw, self.stride, self.dilation, self.pad, (out_h, out_w))
        acc = np.zeros((batch.shape[0], out_h, out_w, batch.shape[3]), dtype=np.int32)
        kh, kw = self.kernel_hw
        for ty in range(kh):
            for tx in range(kw):
                acc += windows[:, :, :, ty, tx, :] * self.weights[ty, tx]
        acc = fixedpoint.wrap_int32(acc.astype(np.int64) + self.bias)
        result = _gemm.requantize(acc, self.multipliers, self.shifts, self.output_zero_point, *self.activation)
        return [result.reshape(x.shape[0], *output.shape)]


KERNEL = DepthwiseConv2D
