"""SVDF: TFLM's ``svdf_common.cc`` (EvalIntegerSvdfReference<int8_t / int16_t>, EvalFloatSvdfReference).

Inputs: input (batch, input_size), weights_feature (filters, input_size),
weights_time (filters, memory), bias (units), activation_state (a variable
tensor, batch x memory*filters); filters = units * rank.

One invocation shifts the state left by one element (over the flat buffer),
writes each filter's feature activation into the newest column, takes the dot
product of each filter's memory with its time weights, sums ``rank`` filters
per unit onto the bias and rescales. The integer path ignores the fused
activation, as TFLM's does; the time weights' type (int8 or int16) is the
state's type.

State: the emulator runs every sample from the state TFLM's ``Reset`` leaves
(``ResetTensorData``: an int8 state memset to its zero point, anything else to
zero), so a sample's output equals one invocation of a fresh interpreter.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel

FLOAT_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "SIGN_BIT")


class Svdf(Kernel):

    def prepare(self) -> None:
        op = self.op
        if len(op.inputs) != 5:
            self.unsupported(f"{len(op.inputs)} inputs (TFLM requires 5, the bias may be omitted as -1)")
        source, feature, time, bias, state = (op.input(i) for i in range(5))
        output = op.outputs[0]
        if any(t is None for t in (source, feature, time, state)):
            self.unsupported("input, weights_feature, weights_time and activation_state are required")
        self.rank = int(op.options.get("rank", 1))
        if len(source.shape) != 2 or len(feature.shape) != 2 or len(time.shape) != 2 or len(state.shape) != 2:
            self.unsupported("input, weights and state must be 2-D")
        self.batch, self.input_size = source.shape
        self.filters = feature.shape[0]
        if self.rank <= 0 or self.filters % self.rank:
            self.unsupported(f"{self.filters} filters are not a multiple of rank {self.rank}")
        self.units = self.filters // self.rank
        self.memory = time.shape[1]
        if feature.shape[1] != self.input_size or time.shape[0] != self.filters:
            self.unsupported(f"weights shapes {list(feature.shape)} / {list(time.shape)} do not match the input")
        if tuple(output.shape) != (self.batch, self.units):
            self.unsupported(f"output shape {list(output.shape)}, expected {[self.batch, self.units]}", output)
        if bias is not None and bias.shape[0] != self.units:
            self.unsupported(f"bias of {bias.shape[0]} values for {self.units} units", bias)
        if tuple(state.shape) != (self.batch, self.memory * self.filters):
            self.unsupported(f"state shape {list(state.shape)}, expected {[self.batch, self.memory * self.filters]}", state)
        if not state.is_variable:
            self.unsupported("activation_state must be a variable tensor", state)
        self.feature = self.constant(1)
        self.time = self.constant(2)
        self.bias = self.constant(3) if bias is not None else None
        if source.dtype == "int8":
            self._prepare_integer(source, feature, time, bias, state, output)
        elif source.dtype == "float32":
            for tensor in (feature, time, state, output, *([bias] if bias is not None else [])):
                if tensor.dtype != "float32":
                    self.unsupported("float32 SVDF needs float32 weights, bias, state and output", tensor)
            activation = op.options.get("fused_activation_function", "NONE")
            if activation not in FLOAT_ACTIVATIONS:
                self.unsupported(f"fused activation {activation} (TFLM computes it with libm)")
            self.activation = activation
            self.integer = False
            self.initial_state = np.float32(0.0)
        else:
            self.unsupported(f"input type {source.dtype}", source)

    def _prepare_integer(self, source, feature, time, bias, state, output) -> None:
        if feature.dtype != "int8" or time.dtype not in ("int8", "int16") or output.dtype != "int8":
            self.unsupported("int8 SVDF needs int8 weights_feature, int8/int16 weights_time and an int8 output")
        if state.dtype != time.dtype:
            # TFLM reads the state as the time weights' type.
            self.unsupported(f"state type {state.dtype} differs from the time weights' type {time.dtype}", state)
        if bias is None:
            self.unsupported("int8 SVDF without a bias (TFLM's Prepare reads the missing bias' scale)")
        if bias.dtype != "int32":
            self.unsupported(f"bias type {bias.dtype} (TFLM requires int32)", bias)
        for tensor in (source, feature, time, bias, state, output):
            self.require_quantized(tensor)
        f32 = np.float32
        if not abs(float(bias.scale) - float(f32(state.scale) * f32(time.scale))) < 1e-5:
            self.unsupported("bias scale must equal state scale x time-weights scale (TFLM checks to 1e-5)", bias)
        scale_1 = float(f32(source.scale) * f32(feature.scale) / f32(state.scale))
        scale_2 = float(f32(state.scale) * f32(time.scale) / f32(output.scale))
        self.scale_1 = fixedpoint.quantize_multiplier(scale_1)
        self.scale_2 = fixedpoint.quantize_multiplier(scale_2)
        self.input_zero_point = source.zero_point
        self.output_zero_point = output.zero_point
        self.state_zero_point = state.zero_point
        self.state_dtype = np.dtype(state.dtype)
        self.integer = True
        # ResetTensorData: memset(value) with the zero point for int8, 0 otherwise.
        self.initial_state = np.int64(np.int8(np.uint8(state.zero_point & 0xFF))) if state.dtype == "int8" else np.int64(0)
        self.feature_int = self.feature.astype(np.int64)
        self.time_int = self.time.astype(np.int64)

    def initial(self, samples: int) -> np.ndarray:
        """The reset state, (samples, batch, filters, memory)."""
        dtype = self.state_dtype if self.integer else np.float32
        return np.full((samples, self.batch, self.filters, self.memory), self.initial_state, dtype=dtype)

    def step(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One invocation: (samples, batch, input) and state -> output and the new state."""
        samples = x.shape[0]
        flat = state.reshape(samples, -1)
        shifted = np.concatenate([flat[:, 1:], flat[:, -1:]], axis=1).reshape(state.shape)
        if self.integer:
            return self._step_integer(x, shifted)
        return self._step_float(x, shifted)

    def _step_integer(self, x, state):
        info = np.iinfo(self.state_dtype)
        centered = x.astype(np.int64) - self.input_zero_point
        dot = fixedpoint.wrap_int32(np.einsum("sbi,fi->sbf", centered, self.feature_int))
        scaled = np.clip(fixedpoint.multiply_by_quantized_multiplier(dot, *self.scale_1), info.min, info.max)
        # Stored as T: the zero point is added after the clamp and wraps like the C assignment.
        state = state.copy()
        state[..., -1] = (scaled + self.state_zero_point).astype(self.state_dtype)
        centered_state = state.astype(np.int64) - self.state_zero_point
        scratch = fixedpoint.wrap_int32(np.einsum("sbfm,fm->sbf", centered_state, self.time_int))
        reduced = scratch.reshape(*scratch.shape[:2], self.units, self.rank).sum(axis=-1) + self.bias.astype(np.int64)
        result = fixedpoint.multiply_by_quantized_multiplier(fixedpoint.wrap_int32(reduced), *self.scale_2)
        return np.clip(result + self.output_zero_point, -128, 127).astype(np.int8), state

    def _step_float(self, x, state):
        x = x.astype(np.float32)
        feature = self.feature.astype(np.float32)
        dot = np.zeros(x.shape[:2] + (self.filters,), dtype=np.float32)
        for k in range(self.input_size):  # the C's left-to-right float sum
            dot = dot + feature[:, k] * x[..., k : k + 1]
        state = state.copy()
        state[..., -1] = dot
        time = self.time.astype(np.float32)
        scratch = np.zeros(dot.shape, dtype=np.float32)
        for j in range(self.memory):
            scratch = scratch + time[:, j] * state[..., j]
        if self.bias is not None:
            output = np.broadcast_to(self.bias.astype(np.float32), scratch.shape[:2] + (self.units,)).copy()
        else:
            output = np.zeros(scratch.shape[:2] + (self.units,), dtype=np.float32)
        per_unit = scratch.reshape(*scratch.shape[:2], self.units, self.rank)
        for r in range(self.rank):
            output = output + per_unit[..., r]
        return _float_activation(self.activation, output), state

    def eval(self, inputs):
        x = inputs[0]
        output, _ = self.step(x, self.initial(x.shape[0]))
        return [output]


def _float_activation(activation: str, value: np.ndarray) -> np.ndarray:
    """``ActivationValFloat`` with TFLM's default ``TfLiteMax``/``TfLiteMin`` (std::fmax/fmin)."""
    f = np.float32
    if activation == "RELU":
        return np.fmax(f(0.0), value)
    if activation == "RELU_N1_TO_1":
        return np.fmax(f(-1.0), np.fmin(value, f(1.0)))
    if activation == "RELU6":
        return np.fmax(f(0.0), np.fmin(value, f(6.0)))
    if activation == "SIGN_BIT":
        return np.signbit(value).astype(np.float32)
    return value


KERNEL = Svdf
