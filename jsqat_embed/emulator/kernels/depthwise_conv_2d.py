"""DEPTHWISE_CONV_2D, int8 and 16x8: TFLM's ``reference_integer_ops::DepthwiseConvPerChannel``.

Output channel c reads input channel c // depth_multiplier. The sum over the
kh x kw taps runs as one vectorized multiply-add per tap (at most a few dozen
Python iterations), exact in int32 like the C accumulator.

16x8 (int16 input and output, int8 filter): no zero points, an int64
accumulator and bias, the int64 ``MultiplyByQuantizedMultiplier``. TFLM reads
the bias as int64 whatever its type (depthwise_conv.cc), so only an int64 bias
(or none) is emulated.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _gemm
from jsqat_embed.emulator.kernels.conv_2d import padded_windows, set_window


def _as_int16(value: int) -> int:
    return (value + (1 << 15)) % (1 << 16) - (1 << 15)


class DepthwiseConv2D(Kernel):

    def prepare(self) -> None:
        op = self.op
        input_tensor, filter_tensor, bias_tensor = op.input(0), op.input(1), op.input(2)
        output = op.outputs[0]
        for tensor in (input_tensor, filter_tensor, output):
            self.require_quantized(tensor)
        dtype = input_tensor.dtype
        if filter_tensor.dtype != "int8" or output.dtype != dtype:
            self.unsupported(f"filter {filter_tensor.dtype} / output {output.dtype} with {dtype} input: "
                             f"only int8 filters and an output of the input's type are emulated")
        if dtype == "int8" and bias_tensor is not None and bias_tensor.dtype != "int32":
            self.unsupported(f"{bias_tensor.dtype} bias with int8 input: TFLM's kernel reads it as int32",
                             bias_tensor)
        if dtype == "int16" and bias_tensor is not None and bias_tensor.dtype != "int64":
            self.unsupported(f"{bias_tensor.dtype} bias with int16 input: TFLM's 16x8 kernel reads it as int64",
                             bias_tensor)
        self.output_dtype = dtype
        weights = self.constant(1).astype(np.int64)  # (1, kh, kw, Cout)
        if weights.ndim != 4 or weights.shape[0] != 1 or len(input_tensor.shape) != 4 or len(output.shape) != 4:
            self.unsupported("DEPTHWISE_CONV_2D needs a (1, kh, kw, C) filter and 4-D input and output")
        out_channels = weights.shape[3]
        in_channels = input_tensor.shape[3]
        if out_channels != output.shape[3] or in_channels == 0 or out_channels % in_channels:
            self.unsupported(f"output depth {out_channels} is not a multiple of input depth {in_channels}")
        self.depth_multiplier = out_channels // in_channels
        options = op.options
        declared = options.get("depth_multiplier", 1)
        if _as_int16(declared) != self.depth_multiplier:
            # DepthwiseConvPerChannel loops over input channels x params.depth_multiplier (an int16_t
            # in DepthwiseParams) and writes output channel m + c * depth_multiplier unchecked (the
            # shape check is a DCHECK, off in release builds): any other multiplier leaves channels
            # unwritten or writes past them
            self.unsupported(f"depth_multiplier {declared} with input depth {in_channels} and output depth "
                             f"{out_channels} (TFLM's kernel would leave output channels unwritten or write "
                             f"past them; it expects {self.depth_multiplier})")
        weights = set_window(self, options, input_tensor.shape, output.shape, weights)
        self.weights = weights[0].astype(np.int32)  # (kh, kw, Cout)
        # the 16x8 overload reads neither zero point
        self.input_zero_point = input_tensor.zero_point if dtype == "int8" else 0
        self.output_zero_point = output.zero_point if dtype == "int8" else 0
        self.accumulator = np.int32 if dtype == "int8" else np.int64
        self.multipliers, self.shifts = _gemm.per_channel_multipliers(
            input_tensor.scale, filter_tensor.quantization.scale, output.scale, out_channels)
        self.activation = fixedpoint.activation_range_quantized(
            options["fused_activation_function"], output.scale, output.zero_point, dtype)
        self.bias = self.constant(2).astype(np.int64) if bias_tensor is not None else np.zeros(out_channels, np.int64)

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        batch = x.reshape(-1, *x.shape[2:]).astype(self.accumulator) - self.accumulator(self.input_zero_point)
        if self.depth_multiplier > 1:
            batch = np.repeat(batch, self.depth_multiplier, axis=-1)
        out_h, out_w = output.shape[1:3]
        windows = padded_windows(batch, self.kernel_hw, self.stride, self.dilation, self.pad, (out_h, out_w))
        acc = np.zeros((batch.shape[0], out_h, out_w, batch.shape[3]), dtype=self.accumulator)
        kh, kw = self.kernel_hw
        for ty in range(kh):
            for tx in range(kw):
                acc += windows[:, :, :, ty, tx, :] * self.weights[ty, tx]
        wide = self.accumulator is np.int64
        acc = acc.astype(np.int64) + self.bias
        if not wide:
            acc = fixedpoint.wrap_int32(acc)
        result = _gemm.requantize(acc, self.multipliers, self.shifts, self.output_zero_point, *self.activation,
                                  dtype=self.output_dtype, int64_accumulator=wide)
        return [result.reshape(x.shape[0], *output.shape)]


KERNEL = DepthwiseConv2D
