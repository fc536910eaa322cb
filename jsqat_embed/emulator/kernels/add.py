"""ADD: int8 as TFLM's ``reference_integer_ops::Add`` / ``BroadcastAdd6DSlow``, int16 as
``reference_ops::AddGeneralParamScale`` / ``BroadcastAdd6DSlow``; float32 exactly.

Quantized: both operands are rescaled to a common scale with 20 bits of
headroom (``left_shift``; 15 for int16), summed, and rescaled to the output.
TFLM always takes this general path for int16: it passes ``pot_scale = false``
whatever the model's ``pot_scale_int16`` option says.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _elementwise

FLOAT_ACTIVATIONS = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


class Add(Kernel):
    #: compute Prepare's multipliers in float, as sub_common.cc at 90b983c does (see sub.py); ADD uses double
    float_prepare = False

    def prepare(self) -> None:
        op = self.op
        self.operands = [op.input(0), op.input(1)]
        output = op.outputs[0]
        if any(t is None for t in self.operands) or any(t.dtype != output.dtype for t in self.operands):
            self.unsupported("both inputs and the output must have the same type")
        self.float = output.dtype == "float32"
        activation = op.options.get("fused_activation_function", "NONE")
        # int32: TFLM's EvalAdd adds plainly (wrapping) and ignores the fused activation.
        self.int32 = output.dtype == "int32"
        if self.int32:
            return
        if self.float:
            if activation not in FLOAT_ACTIVATIONS:
                self.unsupported(f"fused activation {activation}")
            self.float_range = tuple(np.float32(v) for v in FLOAT_ACTIVATIONS[activation])
            return
        for tensor in (*self.operands, output):
            self.require_quantized(tensor)
        self.params = _elementwise.quantized_add_sub_params(*self.operands, output, float_twice_max=self.float_prepare)
        self.activation = fixedpoint.activation_range_quantized(activation, output.scale, output.zero_point,
                                                                output.dtype)

    def combine(self, a, b):
        return a + b

    def eval(self, inputs):
        output = self.op.outputs[0]
        a, b = _elementwise.aligned(inputs, self.operands, [self.is_constant(0), self.is_constant(1)])
        samples = max(a.shape[0], b.shape[0])
        if self.int32:
            result = fixedpoint.wrap_int32(self.combine(a.astype(np.int64), b.astype(np.int64))).astype(np.int32)
        elif self.float:
            result = np.clip(self.combine(a.astype(np.float32), b.astype(np.float32)), *self.float_range).astype(np.float32)
        else:
            p = self.params
            scaled_a = _elementwise.scaled_operand(a, p["input1_offset"], p["left_shift"], p["input1"])
            scaled_b = _elementwise.scaled_operand(b, p["input2_offset"], p["left_shift"], p["input2"])
            result = _elementwise.finish(self.combine(scaled_a, scaled_b), p, self.activation, output.dtype)
        result = np.broadcast_to(result, (samples, *result.shape[1:]))
        return [np.ascontiguousarray(result).reshape(samples, *output.shape)]


KERNEL = Add
