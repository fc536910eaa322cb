"""CONV_2D, int8 and 16x8: TFLM's ``reference_integer_ops::ConvPerChannel`` overloads.

Per output element: acc = sum over taps inside the image of
filter * (input - input_zero_point), plus bias; then the per-channel
``MultiplyByQuantizedMultiplier``, the output zero point and the activation
clamp. Taps outside the image are skipped in the C; here the input is padded
with zeros *after* subtracting the zero point, which adds the same nothing.
Grouped convolutions (input depth a multiple of the filter's) are supported.

16x8 (int16 input and output, int8 filter): the C's overload uses neither the
input nor the output zero point, and accumulates in int64 with an int64 bias
(requantized by the int64 ``MultiplyByQuantizedMultiplier``), or in int32 when
the bias is int32 (conv.cc's ``requires_int32_accum``).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _gemm
from jsqat_embed.graph.padding import output_size, padding_before


def live_taps(size: int, taps: int, stride: int, dilation: int, pad: int, out: int) -> tuple[int, int]:
    """(first, count): the range of filter taps along one axis that read the image for some output
    position. TFLM skips a tap that falls in the padding (it adds nothing), so with a huge dilation
    (30,000 on a 28-row image) most taps never touch the image; leaving them out before the padded
    buffer is allocated bounds it by the image and the output instead of by ``(taps - 1) * dilation``.
    When no tap touches the image, tap 0 alone is kept (it reads only padding: zeros)."""
    offsets = np.arange(taps, dtype=np.int64) * dilation - pad  # input row of output 0, per tap
    first_step = np.maximum(0, -(offsets // stride))  # first output whose row is not above the image
    touches = (first_step < out) & (offsets + first_step * stride < size)
    if not touches.any():
        return 0, 1
    live = np.flatnonzero(touches)
    return int(live[0]), int(live[-1] - live[0] + 1)


def padded_windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                   pad: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """View (B, Ho, Wo, kh, kw, C) of the zero-padded NHWC batch ``x``: every tap of every output.

    A negative ``pad`` (the first taps left out by :func:`live_taps`) crops the image instead."""
    (kh, kw), (sh, sw), (dh, dw), (pad_h, pad_w), (out_h, out_w) = kernel, stride, dilation, pad, out_hw
    x = x[:, max(-pad_h, 0):, max(-pad_w, 0):, :]
    pad_h, pad_w = max(pad_h, 0), max(pad_w, 0)
    batches, height, width, channels = x.shape
    need_h = (out_h - 1) * sh + (kh - 1) * dh + 1
    need_w = (out_w - 1) * sw + (kw - 1) * dw + 1
    padded = np.zeros((batches, max(need_h, height + pad_h), max(need_w, width + pad_w), channels), dtype=x.dtype)
    padded[:, pad_h : pad_h + height, pad_w : pad_w + width, :] = x
    s0, s1, s2, s3 = padded.strides
    return np.lib.stride_tricks.as_strided(
        padded,
        shape=(batches, out_h, out_w, kh, kw, channels),
        strides=(s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3),
        writeable=False,
    )


#: TFLM's ConvParams and DepthwiseParams (kernels/internal/types.h) hold strides, dilations and
#: PaddingValues as int16_t: a larger value reaches the kernel truncated
INT16_MAX = (1 << 15) - 1


def require_int16_window(kernel: Kernel, stride, dilation, pads) -> None:
    """Refuse a window TFLM's int16_t parameter fields cannot hold (a stride of 65,536 reaches
    its kernel as 0): the emulator would compute what the model says, TFLM something else."""
    for name, values in (("stride", stride), ("dilation", dilation), ("padding", pads)):
        if max(values) > INT16_MAX:
            kernel.unsupported(f"{name} {tuple(values)} does not fit the int16_t TFLM's kernel parameters "
                               f"hold it in (at most {INT16_MAX}); TFLM would compute with it truncated")


def set_window(kernel: Kernel, options: dict, input_shape, output_shape, weights: np.ndarray) -> np.ndarray:
    """A convolution's window over the image, as ``kernel.stride``, ``dilation``, ``pad`` and
    ``kernel_hw``, checked against the output's shape; returns ``weights`` (``[*, kh, kw, *]``)
    without the taps that never touch the image (TFLM skips them)."""
    kernel.stride = (options["stride_h"], options["stride_w"])
    kernel.dilation = (options["dilation_h_factor"], options["dilation_w_factor"])
    if min(kernel.stride + kernel.dilation) < 1:
        kernel.unsupported(f"stride {kernel.stride} / dilation {kernel.dilation} must be >= 1")
    (height, width), (out_h, out_w), (kh, kw) = input_shape[1:3], output_shape[1:3], weights.shape[1:3]
    for axis, size, filt, stride, dilation, out in (
            ("height", height, kh, kernel.stride[0], kernel.dilation[0], out_h),
            ("width", width, kw, kernel.stride[1], kernel.dilation[1], out_w)):
        expected = output_size(options["padding"], size, filt, stride, dilation)
        if expected != out:
            kernel.unsupported(f"output {axis} {out} does not match {options['padding']} padding ({expected})")
    pads = (padding_before(height, kh, kernel.stride[0], kernel.dilation[0], out_h),
            padding_before(width, kw, kernel.stride[1], kernel.dilation[1], out_w))
    require_int16_window(kernel, kernel.stride, kernel.dilation, pads)
    (first_h, kh), (first_w, kw) = (
        live_taps(*axis) for axis in zip((height, width), (kh, kw), kernel.stride, kernel.dilation, pads, (out_h, out_w)))
    kernel.pad = (pads[0] - first_h * kernel.dilation[0], pads[1] - first_w * kernel.dilation[1])
    kernel.kernel_hw = (kh, kw)
    return weights[:, first_h:first_h + kh, first_w:first_w + kw, :]


class Conv2D(Kernel):

    def prepare(self) -> None:
        op = self.op
        self.input_tensor, filter_tensor, bias_tensor = op.input(0), op.input(1), op.input(2)
        output = op.outputs[0]
        for tensor in (self.input_tensor, filter_tensor, output):
            self.require_quantized(tensor)
        dtype = self.input_tensor.dtype
        if filter_tensor.dtype != "int8" or output.dtype != dtype:
            self.unsupported(f"filter {filter_tensor.dtype} / output {output.dtype} with {dtype} input: "
                             f"only int8 filters and an output of the input's type are emulated")
        self.output_dtype = dtype
        if dtype == "int8" and bias_tensor is not None and bias_tensor.dtype != "int32":
            # the int8 kernels take the bias as int32_t* whatever the tensor's type
            self.unsupported(f"{bias_tensor.dtype} bias with int8 input: TFLM's kernel reads it as int32",
                             bias_tensor)
        self.int64_accumulator = dtype == "int16" and _gemm.int16_accumulator_is_int64(self)
        weights = self.constant(1).astype(np.int64)  # (Cout, kh, kw, Cin_per_group)
        if weights.ndim != 4 or len(self.input_tensor.shape) != 4 or len(output.shape) != 4:
            self.unsupported("CONV_2D needs 4-D input, filter and output")
        out_channels, _, _, filter_depth = weights.shape
        in_channels = self.input_tensor.shape[3]
        if filter_depth == 0 or in_channels % filter_depth or out_channels % (in_channels // filter_depth):
            self.unsupported(f"input depth {in_channels} is not a multiple of filter depth {filter_depth}")
        options = op.options
        weights = set_window(self, options, self.input_tensor.shape, output.shape, weights)
        self.groups = in_channels // filter_depth
        # the 16x8 overload reads neither zero point
        self.input_zero_point = self.input_tensor.zero_point if dtype == "int8" else 0
        self.output_zero_point = output.zero_point if dtype == "int8" else 0
        self.multipliers, self.shifts = _gemm.per_channel_multipliers(
            self.input_tensor.scale, filter_tensor.quantization.scale, output.scale, out_channels)
        self.activation = fixedpoint.activation_range_quantized(
            options["fused_activation_function"], output.scale, output.zero_point, dtype)
        self.bias = self.constant(2).astype(np.int64) if bias_tensor is not None else np.zeros(out_channels, np.int64)
        depth = self.kernel_hw[0] * self.kernel_hw[1] * filter_depth  # the taps that touch the image
        max_input = 255 if dtype == "int8" else 1 << 15
        self.compute_dtype = _gemm.exact_dtype(depth, max_input, int(np.abs(weights).max(initial=0)))
        per_group = out_channels // self.groups
        # (groups, K, Cout_per_group): tap-major, input channel fastest, like the filter layout
        self.weights = (weights.reshape(self.groups, per_group, depth).transpose(0, 2, 1).astype(self.compute_dtype))
        self.filter_depth = filter_depth

    def eval(self, inputs):
        x = inputs[0]
        samples = x.shape[0]
        output = self.op.outputs[0]
        batch = x.reshape(-1, *x.shape[2:]).astype(self.compute_dtype) - self.compute_dtype.type(self.input_zero_point)
        out_h, out_w, out_channels = output.shape[1:]
        windows = padded_windows(batch, self.kernel_hw, self.stride, self.dilation, self.pad, (out_h, out_w))
        rows = batch.shape[0] * out_h
        depth = self.weights.shape[1]
        step = _gemm.rows_per_chunk(out_w * depth * self.groups * self.compute_dtype.itemsize * 2)
        result = np.empty((rows, out_w, out_channels), dtype=self.output_dtype)
        flat = windows.reshape(rows, out_w, *windows.shape[3:])
        for start in range(0, rows, step):
            chunk = flat[start : start + step]
            count = chunk.shape[0] * out_w
            acc = np.empty((count, out_channels), dtype=np.int64)
            per_group = out_channels // self.groups
            for group in range(self.groups):
                taps = chunk[..., group * self.filter_depth : (group + 1) * self.filter_depth].reshape(count, depth)
                acc[:, group * per_group : (group + 1) * per_group] = taps @ self.weights[group]
            acc += self.bias
            if not self.int64_accumulator:
                acc = fixedpoint.wrap_int32(acc)
            result[start : start + step] = _gemm.requantize(
                acc, self.multipliers, self.shifts, self.output_zero_point, *self.activation,
                dtype=self.output_dtype, int64_accumulator=self.int64_accumulator,
            ).reshape(chunk.shape[0], out_w, out_channels)
        return [result.reshape(samples, *output.shape)]


KERNEL = Conv2D
