"""MUL: int8 and int16 as TFLM's ``reference_integer_ops::Mul`` / ``BroadcastMul6DSlow``
((a - za) * (b - zb) rescaled by double(sa) * double(sb) / double(so); int16 needs
zero points 0); float32 exactly."""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _elementwise
from jsqat_embed.emulator.kernels.add import FLOAT_ACTIVATIONS


class Mul(Kernel):

    def prepare(self) -> None:
        op = self.op
        self.operands = [op.input(0), op.input(1)]
        output = op.outputs[0]
        if any(t is None for t in self.operands) or any(t.dtype != output.dtype for t in self.operands):
            self.unsupported("both inputs and the output must have the same type")
        activation = op.options.get("fused_activation_function", "NONE")
        self.float = output.dtype == "float32"
        # int32: the wrapping product, clamped by CalculateActivationRange<int32_t>.
        self.int32 = output.dtype == "int32"
        if self.int32:
            top = np.iinfo(np.int32).max
            ranges = {"NONE": (-top - 1, top), "RELU": (0, top), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}
            if activation not in ranges:
                self.unsupported(f"fused activation {activation}")
            self.int32_range = ranges[activation]
            return
        if self.float:
            self.float_range = tuple(np.float32(v) for v in FLOAT_ACTIVATIONS[activation])
            return
        for tensor in (*self.operands, output):
            self.require_quantized(tensor)
        a, b = self.operands
        if output.dtype == "int16" and (a.zero_point or b.zero_point or output.zero_point):
            self.unsupported("int16 zero points must be 0 (TFLM requires it)")
        real = float(np.float32(a.scale)) * float(np.float32(b.scale)) / float(np.float32(output.scale))
        self.multiplier, self.shift = fixedpoint.quantize_multiplier(real)
        self.offsets = (-a.zero_point, -b.zero_point)
        self.output_zero_point = output.zero_point
        self.activation = fixedpoint.activation_range_quantized(activation, output.scale, output.zero_point,
                                                                output.dtype)

    def eval(self, inputs):
        output = self.op.outputs[0]
        a, b = _elementwise.aligned(inputs, self.operands, [self.is_constant(0), self.is_constant(1)])
        samples = max(a.shape[0], b.shape[0])
        if self.int32:
            product = fixedpoint.wrap_int32(a.astype(np.int64) * b.astype(np.int64))
            result = np.clip(product, *self.int32_range).astype(np.int32)
        elif self.float:
            result = np.clip(a.astype(np.float32) * b.astype(np.float32), *self.float_range).astype(np.float32)
        else:
            product = fixedpoint.wrap_int32((a.astype(np.int64) + self.offsets[0]) * (b.astype(np.int64) + self.offsets[1]))
            scaled = fixedpoint.multiply_by_quantized_multiplier(product, self.multiplier, self.shift)
            result = np.clip(scaled + self.output_zero_point, *self.activation).astype(output.dtype)
        result = np.broadcast_to(result, (samples, *result.shape[1:]))
        return [np.ascontiguousarray(result).reshape(samples, *output.shape)]


KERNEL = Mul
