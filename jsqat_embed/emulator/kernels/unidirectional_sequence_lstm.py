"""UNIDIRECTIONAL_SEQUENCE_LSTM, integer: TFLM's ``EvalLstm`` (kernels/lstm_eval.h, lstm_eval.cc,
lstm_eval_common.cc) for 8x8->16 (int8 activations, int32 bias) and 16x8->16 (int16 activations,
int64 bias), both with an int16 cell state.

What TFLM does, and so what this does:
- Only the standard LSTM: all four gates, no peephole, projection or layer norm (inputs 9-11,
  16-17, 20-23 must be absent), hidden and cell state variable tensors (inputs 18, 19).
- Each gate is two fully connected layers, input -> gate and hidden state -> gate, each
  requantized to int16 at the fixed scale 2^-12 (Q3.12; the converter's recorded intermediate
  scales are not used), added with int16 saturation, then sigmoid or (cell gate) the op's
  activation (tanh), into Q0.15. Only the input FC has a bias.
- cell = forget * cell + input * cell_gate (two int16 MULs, a saturating add), clipped to the
  quantized ``cell_clip`` when it is positive; hidden = tanh(cell) * output gate, requantized
  to the hidden state's type and zero point. The hidden state is copied to the output each step.
- State starts as ``ResetVariableTensors`` leaves it: int8 tensors at their zero point, others
  at 0. TFLM keeps the state between invocations; the emulator runs every sample from the
  reset state (as TFLM does after ``interpreter.Reset()``).
- Batch-major and time-major layouts compute the same thing row by row (TFLM loops over batch
  rows one at a time in the first, all at once in the second), so both run every batch row of
  every sample together here.

The input FC does not depend on the state, so it runs for all time steps in one product;
only the recurrent FC and the element-wise steps loop over time.
"""

from __future__ import annotations

import math

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _gemm

INPUT = 0
INPUT_WEIGHTS = (1, 2, 3, 4)  # to the input, forget, cell and output gates: the order of the stacked gates
RECURRENT_WEIGHTS = (5, 6, 7, 8)
GATE_BIASES = (12, 13, 14, 15)
OUTPUT_STATE, CELL_STATE = 18, 19
ABSENT = (9, 10, 11, 16, 17, 20, 21, 22, 23)  # peephole, projection, layer norm

#: Q3.12 gate pre-activations and Q0.15 gate outputs (PrepareGateParametersInteger)
GATE_INPUT_SCALE = 2.0 ** -12
GATE_OUTPUT_SCALE = 2.0 ** -15
#: the cell gate's tanh is called with this scale power, so its input is taken as Q3.12
GATE_TANH_SCALE_POWER = -12
#: activation type -> the bias type TFLM reads with it (EvalLstm<int8, int8, int16, int32> and <int16, ..., int64>)
BIAS_TYPES = {"int8": "int32", "int16": "int64"}
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
#: cell-state scale powers for which TFLM's int16 tanh stays within int arithmetic: a left shift of
#: at most 14 (|x| * 3 << 14 < 2^31 for every int16 x) or a right shift of at most 31
CELL_SCALE_POWERS = range(-31 - 12, 14 - 12 + 1)


def checked_log2(value: float) -> int:
    """``CheckedLog2`` (quantization_util.cc): float log(x) / log(2), rounded half away from zero.

    TFLM ignores whether the scale really is a power of two; so does this.
    """
    x = np.float32(np.log(np.float32(value))) * np.float32(1.0 / np.float32(np.log(np.float32(2.0))))
    return int(fixedpoint.tflite_round(float(np.float32(x))))


def tanh_parameters(cell_state_scale_power: int) -> tuple[int, int]:
    """``lstm_internal::Tanh``: (input_multiplier, input_left_shift) for a 2^power-scaled input.

    ``reference_integer_ops::Tanh`` then computes in int: ``3 << shift`` times an int16 when the
    multiplier is 0, ``1 << (shift - 1)`` as the rounding otherwise. Both are defined only for
    ``CELL_SCALE_POWERS`` (a cell scale of 2^-43 to 2^2); beyond, the C shifts by 32 or more or
    overflows an int (undefined, different on x86 and Arm), so the model is refused.
    """
    if cell_state_scale_power not in CELL_SCALE_POWERS:
        left_shift = (15 + cell_state_scale_power) - 3
        what = (f"3 << {left_shift} times an int16 cell value" if left_shift >= 0
                else f"a rounding shift by {-left_shift}")
        raise fixedpoint.UndefinedInTFLM(
            f"cell state scale 2^{cell_state_scale_power}: TFLM's int16 tanh of the cell would compute {what}, "
            f"which overflows an int (undefined in C); cell scales 2^{CELL_SCALE_POWERS.start} to "
            f"2^{CELL_SCALE_POWERS.stop - 1} are defined")
    left_shift = (15 + cell_state_scale_power) - 3
    if left_shift < 0:
        return 3, -left_shift
    return 0, left_shift


def inter_gate_multiplier(input1_scale: float, input2_scale: float, output_scale: float) -> tuple[int, int]:
    """``CreateInterGateMulParams``: double(input1) * double(input2) / double(output), quantized."""
    effective = float(np.float32(input1_scale)) * float(np.float32(input2_scale)) / float(np.float32(output_scale))
    return fixedpoint.quantize_multiplier(effective)


def saturating_add_int16(a, b):
    """``lstm_internal::AddElementWise`` (int16): int32 sum clamped to int16."""
    return np.clip(a + b, INT16_MIN, INT16_MAX)


class UnidirectionalSequenceLstm(Kernel):

    def prepare(self) -> None:
        op = self.op
        if len(op.inputs) != 24 or len(op.outputs) != 1:
            self.unsupported(f"expects 24 inputs and 1 output (TFLM requires it), got {len(op.inputs)} and "
                             f"{len(op.outputs)}")
        source, output = op.input(INPUT), op.outputs[0]
        hidden, cell = op.input(OUTPUT_STATE), op.input(CELL_STATE)
        activation_type = source.dtype
        if activation_type not in BIAS_TYPES:
            self.unsupported(f"activation type {activation_type}: only int8 and int16 (16x8) are emulated", source)
        for index, tensor in ((OUTPUT_STATE, hidden), (CELL_STATE, cell)):
            if tensor is None or not tensor.is_variable:
                self.unsupported(f"input {index} (a state) must be a variable tensor (TFLM requires it)", tensor)
        if hidden.dtype != activation_type or output.dtype != activation_type:
            self.unsupported(f"hidden state {hidden.dtype} and output {output.dtype} must have the input's type "
                             f"{activation_type} (TFLM requires it)")
        if cell.dtype != "int16":
            self.unsupported("the quantized kernel needs an int16 cell state (TFLM requires it)", cell)
        for index in ABSENT:
            if op.input(index) is not None:
                self.unsupported(f"input {index} is given: peephole, projection and layer-norm LSTMs are not "
                                 "supported (TFLM rejects them)", op.input(index))
        weights = [op.input(i) for i in INPUT_WEIGHTS + RECURRENT_WEIGHTS]
        biases = [op.input(i) for i in GATE_BIASES]
        if any(t is None for t in weights + biases):
            self.unsupported("all four gates' weights and biases are required (no CIFG: TFLM requires it)")
        if any(t.dtype != "int8" for t in weights):
            self.unsupported("weights must be int8 (the only type TFLM's integer LSTM takes)")
        bias_type = BIAS_TYPES[activation_type]
        if any(t.dtype != bias_type for t in biases):
            self.unsupported(f"biases must be {bias_type} for {activation_type} activations (TFLM reads them so)")
        for tensor in [source, hidden, cell, output] + weights:
            self.require_quantized(tensor)
        for tensor in weights:
            if tensor.quantization.per_channel:
                # TFLM's LSTM reads only the per-tensor multiplier, which per-channel weights leave unset.
                self.unsupported("per-channel weights are not supported (TFLM uses per-tensor multipliers)", tensor)

        options = op.options
        time_major = bool(options.get("time_major", False))
        if len(source.shape) != 3 or len(hidden.shape) < 2:
            self.unsupported(f"input must be 3-D and the hidden state at least 2-D, got {list(source.shape)} and "
                             f"{list(hidden.shape)}")
        steps, batch = source.shape[:2] if time_major else source.shape[1::-1]
        depth, units = source.shape[2], hidden.shape[1]
        self.time_major, self.steps, self.batch, self.depth, self.units = time_major, steps, batch, depth, units
        for index, tensor in zip(INPUT_WEIGHTS + RECURRENT_WEIGHTS, weights):
            expected = (units, depth) if index in INPUT_WEIGHTS else (units, units)
            if tuple(tensor.shape) != expected:
                self.unsupported(f"input {index} must have shape {list(expected)}", tensor)
        for tensor in biases:
            if tuple(tensor.shape) != (units,):
                self.unsupported(f"biases must have shape [{units}]", tensor)
        for tensor in (hidden, cell):
            if tensor.size != batch * units:
                self.unsupported(f"state must hold {batch} x {units} values", tensor)
        if len(output.shape) != 3 or tuple(output.shape) != (source.shape[0], source.shape[1], units):
            self.unsupported(f"output shape {list(output.shape)} does not match the input and state", output)
        activation = options.get("fused_activation_function", "TANH")
        if activation != "TANH":
            # TFLM's gate code knows sigmoid and tanh, and the schema cannot say sigmoid: anything
            # else stops TFLM with an assertion.
            self.unsupported(f"cell gate activation {activation}: TFLM computes only TANH here")

        # Gate FCs (CreateGateParams): per-tensor multipliers to the Q3.12 gate scale, no activation.
        input_weights = [self.constant(i).astype(np.int64) for i in INPUT_WEIGHTS]
        recurrent_weights = [self.constant(i).astype(np.int64) for i in RECURRENT_WEIGHTS]
        self.input_multipliers = self._gate_multipliers(source.scale, [op.input(i) for i in INPUT_WEIGHTS])
        self.recurrent_multipliers = self._gate_multipliers(hidden.scale, [op.input(i) for i in RECURRENT_WEIGHTS])
        self.input_offset, self.hidden_offset = -source.zero_point, -hidden.zero_point
        filter_offsets = [-op.input(i).zero_point for i in INPUT_WEIGHTS + RECURRENT_WEIGHTS]
        stacked_input = np.concatenate([w + f for w, f in zip(input_weights, filter_offsets[:4])])  # (4U, depth)
        stacked_recurrent = np.concatenate([w + f for w, f in zip(recurrent_weights, filter_offsets[4:])])
        input_range = 1 << (8 if activation_type == "int8" else 15)
        self.input_dtype = _gemm.exact_dtype(depth, 2 * input_range, int(np.abs(stacked_input).max(initial=0)))
        self.recurrent_dtype = _gemm.exact_dtype(units, 2 * input_range, int(np.abs(stacked_recurrent).max(initial=0)))
        self.input_weights = stacked_input.T.astype(self.input_dtype)  # (depth, 4U)
        self.recurrent_weights = stacked_recurrent.T.astype(self.recurrent_dtype)  # (U, 4U)
        self.bias = np.concatenate([self.constant(i).astype(np.int64) for i in GATE_BIASES])
        self.wide_accumulator = activation_type == "int16"  # int64 BiasType: the int64 requantization

        # Cell state (CreateLstmCellStateInfo) and the inter-gate MULs (CreateInterGateMulParams).
        self.cell_state_scale_power = checked_log2(cell.scale)
        cell_clip = float(np.float32(options.get("cell_clip", 0.0)))
        self.cell_clip = cell_clip > 0
        quantized = min(max(cell_clip / float(np.float32(cell.scale)), -32768.0), 32767.0)
        self.quantized_cell_clip = int(math.trunc(quantized))  # static_cast<int16_t> of a double truncates
        self.forget_mul = inter_gate_multiplier(GATE_OUTPUT_SCALE, cell.scale, cell.scale)
        self.input_mul = inter_gate_multiplier(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, cell.scale)
        self.output_mul = inter_gate_multiplier(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, hidden.scale)
        self.hidden_zero_point = hidden.zero_point
        info = np.iinfo(activation_type)
        self.hidden_range = (int(info.min), int(info.max))
        # ResetVariableTensors: int8 tensors filled with their zero point, every other type with 0.
        self.initial_hidden = hidden.zero_point if activation_type == "int8" else 0
        try:
            self.cell_tanh = tanh_parameters(self.cell_state_scale_power)
        except fixedpoint.UndefinedInTFLM as exc:
            self.unsupported(str(exc), cell)
        self.gate_tanh = tanh_parameters(GATE_TANH_SCALE_POWER)

    def _gate_multipliers(self, input_scale: float, weights) -> list[tuple[int, int]]:
        """``CalculateOpDataFullyConnected`` per gate: double(input) * double(filter) / double(2^-12)."""
        result = []
        for tensor in weights:
            effective = float(np.float32(input_scale)) * float(np.float32(tensor.scale)) / GATE_INPUT_SCALE
            result.append(fixedpoint.quantize_multiplier(effective))
        return result

    def _requantize_gates(self, accumulator: np.ndarray, multipliers) -> np.ndarray:
        """FC accumulators (..., 4U) -> int16 at Q3.12, each gate with its own multiplier."""
        units = self.units
        multiplier = np.repeat([m for m, _ in multipliers], units)
        shift = np.repeat([s for _, s in multipliers], units)
        if self.wide_accumulator:
            scaled = fixedpoint.multiply_by_quantized_multiplier_int64(accumulator, multiplier, shift)
        else:
            scaled = fixedpoint.multiply_by_quantized_multiplier(fixedpoint.wrap_int32(accumulator), multiplier, shift)
        return np.clip(scaled, INT16_MIN, INT16_MAX)  # output offset 0, no activation: the int16 range

    def _mul(self, a, b, params, low=INT16_MIN, high=INT16_MAX, offset=0):
        """``MulElementwise`` on symmetric int16 inputs: int32 product, requantize, offset, clamp."""
        multiplier, shift = params
        return np.clip(fixedpoint.multiply_by_quantized_multiplier(a * b, multiplier, shift) + offset, low, high)

    def _activate(self, gate: np.ndarray, sigmoid: bool) -> np.ndarray:
        if sigmoid:  # lstm_internal::Sigmoid: Logistic with multiplier 0, shift 0
            return fixedpoint.logistic_int16(gate, 0, 0).astype(np.int64)
        return fixedpoint.tanh_int16(gate, *self.gate_tanh).astype(np.int64)

    def eval(self, inputs):
        x = inputs[INPUT]
        samples = x.shape[0]
        steps, batch, depth, units = self.steps, self.batch, self.depth, self.units
        if self.time_major:  # (samples, T, B, I) -> rows (samples * B) x T
            sequence = np.moveaxis(x, 1, 2)
        else:
            sequence = x
        rows = samples * batch
        sequence = sequence.reshape(rows, steps, depth)

        # Input FC of every step at once: (rows, T, 4U) int16 at Q3.12.
        shifted = sequence.astype(self.input_dtype) + self.input_dtype.type(self.input_offset)
        accumulator = (shifted.reshape(-1, depth) @ self.input_weights).astype(np.int64) + self.bias
        from_input = self._requantize_gates(accumulator, self.input_multipliers).reshape(rows, steps, 4 * units)

        hidden = np.full((rows, units), self.initial_hidden, dtype=np.int64)
        cell = np.zeros((rows, units), dtype=np.int64)
        outputs = np.empty((rows, steps, units), dtype=np.int64)
        low, high = self.hidden_range
        for t in range(steps):
            recurrent = (hidden + self.hidden_offset).astype(self.recurrent_dtype) @ self.recurrent_weights
            from_state = self._requantize_gates(recurrent.astype(np.int64), self.recurrent_multipliers)
            gates = saturating_add_int16(from_input[:, t], from_state)
            input_gate = self._activate(gates[:, 0:units], sigmoid=True)
            forget_gate = self._activate(gates[:, units:2 * units], sigmoid=True)
            cell_gate = self._activate(gates[:, 2 * units:3 * units], sigmoid=False)
            output_gate = self._activate(gates[:, 3 * units:], sigmoid=True)
            cell = saturating_add_int16(self._mul(forget_gate, cell, self.forget_mul),
                                        self._mul(input_gate, cell_gate, self.input_mul))
            if self.cell_clip:
                cell = np.clip(cell, -self.quantized_cell_clip, self.quantized_cell_clip)
            cell_tanh = fixedpoint.tanh_int16(cell, *self.cell_tanh).astype(np.int64)
            hidden = self._mul(cell_tanh, output_gate, self.output_mul, low, high, self.hidden_zero_point)
            outputs[:, t] = hidden

        output = self.op.outputs[0]
        result = outputs.reshape(samples, batch, steps, units)
        if self.time_major:
            result = np.moveaxis(result, 2, 1)
        return [result.astype(output.dtype).reshape(samples, *output.shape)]


KERNEL = UnidirectionalSequenceLstm
