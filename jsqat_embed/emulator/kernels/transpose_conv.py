"""TRANSPOSE_CONV, int8, 16x8 and float32: TFLM's ``reference_integer_ops::TransposeConv``
overloads and ``reference_ops::TransposeConv``.

Inputs: 0 the output shape (TFLM ignores its values and takes the output
tensor's shape), 1 the filter (Cout, kh, kw, Cin), 2 the input, 3 the optional
bias. The C scatters: every input pixel adds (input + input_offset) * filter
into the kh x kw output window at (in * stride - padding), skipping what falls
outside the output, into a scratch buffer of accumulators; then bias,
per-channel ``MultiplyByQuantizedMultiplier``, output offset and clamp. The
padding is that of a forward convolution over the *output* (transpose_conv.cc
calls ``ComputePaddingHeightWidth`` with the output's height and width).

Here each filter tap is one product of every input pixel with that tap's
weights, added into a buffer large enough for the whole scatter, which is then
cropped to the output window: the same sums (integer addition is exact and,
for the int32 scratch, wraps the same modulo 2^32).

int8: int32 scratch and bias, input and output zero points, weights' zero
point ignored (as the C does). 16x8: int64 scratch, no zero points; an int64
bias, or an int16 one widened to int64 (the C copies it into a second scratch
buffer); an int32 bias TFLM would read as int64, so it is refused.

float32: the same scatter in float, so the order of the additions matters. One
output element receives its products in the C's loop order, input row, then
column, then channel, ascending; that is filter row and column *descending*, then
input channel. The float path runs in that order, one float32 multiply and one
float32 add per product (no fused multiply-add, as the wheel's x86-64 build),
then the bias and the activation clamp. (TFLM 90b983c reads the activation
through a ``TfLiteConvParams`` cast of the params, past their end; the wheel
clamps as the options say, and so does this.)
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _gemm
from jsqat_embed.emulator.kernels.conv_2d import require_int16_window
from jsqat_embed.graph.padding import output_size, padding_before

OUTPUT_SHAPE, FILTER, INPUT, BIAS = 0, 1, 2, 3


class TransposeConv(Kernel):

    def prepare(self) -> None:
        op = self.op
        input_tensor, filter_tensor, bias_tensor = op.input(INPUT), op.input(FILTER), op.input(BIAS)
        output = op.outputs[0]
        if input_tensor is None or filter_tensor is None:
            self.unsupported("TRANSPOSE_CONV needs a filter (input 1) and an input (input 2)")
        dtype = input_tensor.dtype
        if dtype == "float32":
            self._prepare_float(input_tensor, filter_tensor, bias_tensor, output)
            return
        for tensor in (input_tensor, filter_tensor, output):
            self.require_quantized(tensor)
        if filter_tensor.dtype != "int8" or output.dtype != dtype:
            self.unsupported(f"filter {filter_tensor.dtype} / output {output.dtype} with {dtype} input: "
                             f"only int8 filters and an output of the input's type are emulated")
        expected_bias = ("int32",) if dtype == "int8" else ("int64", "int16")
        if bias_tensor is not None and bias_tensor.dtype not in expected_bias:
            self.unsupported(f"{bias_tensor.dtype} bias with {dtype} input: TFLM's kernel reads it as "
                             f"{expected_bias[0]}", bias_tensor)
        weights = self.constant(FILTER).astype(np.int64)  # (Cout, kh, kw, Cin)
        if weights.ndim != 4:
            self.unsupported("TRANSPOSE_CONV needs 4-D input, filter and output")
        out_channels, kh, kw, in_channels = weights.shape
        self._geometry(input_tensor, weights.shape, output)
        options = op.options
        self.output_dtype = dtype
        self.int64_accumulator = dtype == "int16"
        # the 16x8 overload reads neither zero point
        self.input_zero_point = input_tensor.zero_point if dtype == "int8" else 0
        self.output_zero_point = output.zero_point if dtype == "int8" else 0
        self.multipliers, self.shifts = _gemm.per_channel_multipliers(
            input_tensor.scale, filter_tensor.quantization.scale, output.scale, out_channels)
        self.activation = fixedpoint.activation_range_quantized(
            options["fused_activation_function"], output.scale, output.zero_point, dtype)
        self.bias = (self.constant(BIAS).astype(np.int64) if bias_tensor is not None
                     else np.zeros(out_channels, np.int64))
        max_input = 255 if dtype == "int8" else 1 << 15
        # an output element sums at most kh * kw * Cin products
        self.compute_dtype = _gemm.exact_dtype(kh * kw * in_channels, max_input, int(np.abs(weights).max(initial=0)))
        # (Cin, kh * kw * Cout): one product gives every tap's contribution
        self.weights = weights.transpose(3, 1, 2, 0).reshape(in_channels, -1).astype(self.compute_dtype)

    def _geometry(self, input_tensor, filter_shape, output) -> None:
        out_channels, kh, kw, in_channels = filter_shape
        if len(input_tensor.shape) != 4 or len(output.shape) != 4:
            self.unsupported("TRANSPOSE_CONV needs 4-D input, filter and output")
        if input_tensor.shape[3] != in_channels or output.shape[3] != out_channels:
            self.unsupported(f"filter {list(filter_shape)} does not match input {list(input_tensor.shape)} "
                             f"and output {list(output.shape)}")
        if input_tensor.shape[0] != output.shape[0]:
            self.unsupported(f"input batch {input_tensor.shape[0]} differs from output batch {output.shape[0]}")
        options = self.op.options
        self.stride = (options["stride_h"], options["stride_w"])
        if min(self.stride) < 1:
            self.unsupported(f"stride {self.stride} must be >= 1")
        out_h, out_w = output.shape[1:3]
        # transpose_conv.cc: the padding of a forward convolution over the output (dilation 1)
        self.pad = tuple(
            padding_before(size, k, s, 1, output_size(options["padding"], size, k, s, 1))
            for size, k, s in ((out_h, kh, self.stride[0]), (out_w, kw, self.stride[1])))
        require_int16_window(self, self.stride, (1, 1), self.pad)
        self.kernel_hw = (kh, kw)

    def _prepare_float(self, input_tensor, filter_tensor, bias_tensor, output) -> None:
        if filter_tensor.dtype != "float32" or output.dtype != "float32":
            self.unsupported(f"filter {filter_tensor.dtype} / output {output.dtype} with float32 input: "
                             f"only float32 filters and output are emulated")
        if bias_tensor is not None and bias_tensor.dtype != "float32":
            self.unsupported(f"{bias_tensor.dtype} bias with float32 input", bias_tensor)
        weights = np.asarray(self.constant(FILTER), dtype=np.float32)
        if weights.ndim != 4:
            self.unsupported("TRANSPOSE_CONV needs 4-D input, filter and output")
        self._geometry(input_tensor, weights.shape, output)
        self.output_dtype = "float32"
        self.float_weights = weights  # (Cout, kh, kw, Cin)
        self.float_bias = (np.asarray(self.constant(BIAS), dtype=np.float32) if bias_tensor is not None else None)
        self.float_activation = _float_activation_range(self.op.options["fused_activation_function"])

    def _eval_float(self, x: np.ndarray, output) -> np.ndarray:
        batch = x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]).astype(np.float32)
        images, height, width, in_channels = batch.shape
        (kh, kw), (sh, sw), (pad_h, pad_w) = self.kernel_hw, self.stride, self.pad
        out_h, out_w, out_channels = output.shape[1:]
        full = np.zeros((images, max((height - 1) * sh + kh, pad_h + out_h), max((width - 1) * sw + kw, pad_w + out_w),
                         out_channels), dtype=np.float32)
        for ty in reversed(range(kh if height and width else 0)):
            for tx in reversed(range(kw)):
                window = full[:, ty : ty + (height - 1) * sh + 1 : sh, tx : tx + (width - 1) * sw + 1 : sw]
                for channel in range(in_channels):
                    window += batch[..., channel : channel + 1] * self.float_weights[:, ty, tx, channel]
        acc = full[:, pad_h : pad_h + out_h, pad_w : pad_w + out_w]
        if self.float_bias is not None:
            acc = acc + self.float_bias
        low, high = self.float_activation
        return np.minimum(np.maximum(acc, low), high).astype(np.float32)

    def eval(self, inputs):
        x = inputs[INPUT]
        output = self.op.outputs[0]
        if self.output_dtype == "float32":
            return [self._eval_float(x, output).reshape(x.shape[0], *output.shape)]
        batch = (x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]).astype(self.compute_dtype)
                 - self.compute_dtype.type(self.input_zero_point))
        images, height, width, _ = batch.shape
        (kh, kw), (sh, sw), (pad_h, pad_w) = self.kernel_hw, self.stride, self.pad
        out_h, out_w, out_channels = output.shape[1:]
        full_h = max((height - 1) * sh + kh, pad_h + out_h)
        full_w = max((width - 1) * sw + kw, pad_w + out_w)
        result = np.empty((images, out_h, out_w, out_channels), dtype=self.output_dtype)
        step = _gemm.rows_per_chunk(max(height * width * self.weights.shape[1], full_h * full_w * out_channels)
                                    * self.compute_dtype.itemsize * 2)
        for start in range(0, images, step):
            chunk = batch[start : start + step]
            count = chunk.shape[0]
            # an empty input scatters nothing: the output is the bias alone, as in TFLM's loops
            taps = (chunk.reshape(count * height * width, chunk.shape[3]) @ self.weights).reshape(
                count, height, width, kh, kw, out_channels)
            full = np.zeros((count, full_h, full_w, out_channels), dtype=self.compute_dtype)
            for ty in range(kh if height and width else 0):
                for tx in range(kw):
                    full[:, ty : ty + (height - 1) * sh + 1 : sh, tx : tx + (width - 1) * sw + 1 : sw] += \
                        taps[:, :, :, ty, tx]
            acc = full[:, pad_h : pad_h + out_h, pad_w : pad_w + out_w].astype(np.int64) + self.bias
            if not self.int64_accumulator:
                acc = fixedpoint.wrap_int32(acc)
            result[start : start + count] = _gemm.requantize(
                acc, self.multipliers, self.shifts, self.output_zero_point, *self.activation,
                dtype=self.output_dtype, int64_accumulator=self.int64_accumulator)
        return [result.reshape(x.shape[0], *output.shape)]


def _float_activation_range(activation: str) -> tuple[np.float32, np.float32]:
    """``CalculateActivationRange`` for float (kernel_util.h)."""
    largest = np.finfo(np.float32).max
    ranges = {"NONE": (-largest, largest), "RELU": (0.0, largest), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}
    if activation not in ranges:
        raise ValueError(f"fused activation {activation} is not supported")
    low, high = ranges[activation]
    return np.float32(low), np.float32(high)


KERNEL = TransposeConv
