"""FULLY_CONNECTED, int8 and 16x8: TFLM's ``reference_integer_ops::FullyConnected`` and
``FullyConnectedPerChannel``.

The input is flattened to (-1, depth) as TFLM does (every dimension but the last
is a batch). Per-tensor weights may carry a zero point (``weights_offset``);
per-channel weights are symmetric.

16x8 (int16 input and output, int8 weights): the same templates with int16
data; unlike the convolutions they keep the zero points. The accumulator is the
bias type: int64 (then the int64 ``MultiplyByQuantizedMultiplier``), or int32
when the bias is int32 (fully_connected.cc's ``requires_int32_accum``).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _gemm


class FullyConnected(Kernel):

    def prepare(self) -> None:
        op = self.op
        input_tensor, filter_tensor, bias_tensor = op.input(0), op.input(1), op.input(2)
        output = op.outputs[0]
        for tensor in (input_tensor, filter_tensor, output):
            self.require_quantized(tensor)
        dtype = input_tensor.dtype
        if filter_tensor.dtype != "int8" or output.dtype != dtype:
            self.unsupported(f"filter {filter_tensor.dtype} / output {output.dtype} with {dtype} input: "
                             f"only int8 weights and an output of the input's type are emulated")
        self.output_dtype = dtype
        if dtype == "int8" and bias_tensor is not None and bias_tensor.dtype != "int32":
            # the int8 kernels take the bias as int32_t* whatever the tensor's type
            self.unsupported(f"{bias_tensor.dtype} bias with int8 input: TFLM's kernel reads it as int32",
                             bias_tensor)
        self.int64_accumulator = dtype == "int16" and _gemm.int16_accumulator_is_int64(self)
        if op.options.get("weights_format", "DEFAULT") != "DEFAULT":
            self.unsupported("shuffled weights format is not supported")
        weights = self.constant(1).astype(np.int64)
        if weights.ndim != 2:
            self.unsupported(f"weights must be 2-D, got shape {list(weights.shape)}")
        units, depth = weights.shape
        if input_tensor.size % depth:
            self.unsupported(f"input size {input_tensor.size} is not a multiple of the weights' depth {depth}")
        self.depth = depth
        per_channel = filter_tensor.quantization.per_channel
        self.filter_offset = 0 if per_channel else -filter_tensor.zero_point
        self.input_zero_point = input_tensor.zero_point
        self.output_zero_point = output.zero_point
        self.multipliers, self.shifts = _gemm.per_channel_multipliers(
            input_tensor.scale, filter_tensor.quantization.scale, output.scale, units)
        self.activation = fixedpoint.activation_range_quantized(
            op.options["fused_activation_function"], output.scale, output.zero_point, dtype)
        self.bias = self.constant(2).astype(np.int64) if bias_tensor is not None else np.zeros(units, np.int64)
        shifted = weights + self.filter_offset
        max_input = 255 if dtype == "int8" else (1 << 15) + abs(self.input_zero_point)
        self.compute_dtype = _gemm.exact_dtype(depth, max_input, int(np.abs(shifted).max(initial=0)))
        self.weights = shifted.T.astype(self.compute_dtype)  # (depth, units)

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        rows = x.reshape(-1, self.depth).astype(self.compute_dtype) - self.compute_dtype.type(self.input_zero_point)
        acc = (rows @ self.weights).astype(np.int64) + self.bias
        if not self.int64_accumulator:
            acc = fixedpoint.wrap_int32(acc)
        result = _gemm.requantize(acc, self.multipliers, self.shifts, self.output_zero_point, *self.activation,
                                  dtype=self.output_dtype, int64_accumulator=self.int64_accumulator)
        return [result.reshape(x.shape[0], *output.shape)]


KERNEL = FullyConnected
