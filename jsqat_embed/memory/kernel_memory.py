"""What each kernel asks of the arena: builtin params, Init/Prepare persistent buffers, scratch.

One small function per op, in one explicit table, read from TFLM's reference
kernels (``kernels/*.cc``) and, where they differ, CMSIS-NN's and esp-nn's
(``kernels/cmsis_nn/*.cc``, ``kernels/esp_nn/*.cc`` in esp-tflite-micro).
Sizes of TFLM structs come from :mod:`jsqat_embed.memory.tflm_structs` by name.

Builtin params: ``PrepareNodeAndRegistrationDataFromFlatbuffer`` allocates the op's
params struct with its own alignment. Kernel buffers: ``AllocatePersistentBuffer``
(16-aligned), first every op's Init, then every op's Prepare. Scratch: requests
made in Prepare, planned in the head for the op's own scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from jsqat_embed.graph.model import Operator

REFERENCE = "reference"
CMSIS_NN = "cmsis-nn"
ESP_NN = "esp-nn"
KERNEL_LIBRARIES = (REFERENCE, CMSIS_NN, ESP_NN)


#: a persistent request: a byte count, a struct name, or (struct name, count) for an array
Request = int | str | tuple[str, int]


@dataclass
class KernelMemory:
    params: str | None = None  # builtin params struct name
    init: list[Request] = field(default_factory=list)
    prepare: list[Request] = field(default_factory=list)
    scratch: list[int] = field(default_factory=list)
    estimated: bool = False  # True where the figure is a bound, not TFLM's exact request


def _channels(operator: Operator, input_index: int = 1) -> int:
    weights = operator.input(input_index)
    if weights is None or weights.quantization is None:
        return 0
    return weights.quantization.channels


def _conv(operator: Operator, library: str) -> KernelMemory:
    filter_tensor = operator.input(1)
    out_channels = filter_tensor.shape[0] if filter_tensor is not None else 0
    memory = KernelMemory("TfLiteConvParams", ["OpDataConv"], [4 * out_channels, 4 * out_channels])
    if library == CMSIS_NN:
        memory.scratch = _cmsis_conv_scratch(operator)
        memory.estimated = True
    elif library == ESP_NN:
        memory.scratch = _esp_nn_conv_scratch(operator)
        memory.estimated = True
    return memory


def _depthwise(operator: Operator, library: str) -> KernelMemory:
    filter_tensor = operator.input(1)
    out_channels = filter_tensor.shape[3] if filter_tensor is not None else 0
    memory = KernelMemory("TfLiteDepthwiseConvParams", ["OpDataConv"], [4 * out_channels, 4 * out_channels])
    if library in (CMSIS_NN, ESP_NN):
        memory.scratch = _depthwise_scratch(operator, library)
        memory.estimated = True
    return memory


def _fully_connected(operator: Operator, library: str) -> KernelMemory:
    memory = KernelMemory("TfLiteFullyConnectedParams", ["OpDataFullyConnected"])
    channels = _channels(operator)
    if channels > 1:  # per-channel quantized filter (TF 2.21 quantizes Dense so)
        memory.prepare = [4 * channels, 4 * channels]
    if library == CMSIS_NN:
        # arm_fully_connected_s8_get_buffer_size: 0 on DSP cores for s8; kept exact at 0.
        memory.estimated = True
    return memory


def _softmax(operator: Operator, library: str) -> KernelMemory:
    memory = KernelMemory("TfLiteSoftmaxParams", ["SoftmaxParams"])
    source = operator.input(0)
    if source is not None and source.dtype == "int16":
        memory.prepare = [2 * 513, 2 * 513]  # kInt16LUTArraySize int16 lookup tables
    return memory


def _reduce(params: str) -> Callable[[Operator, str], KernelMemory]:
    def memory(operator: Operator, library: str) -> KernelMemory:
        source, axis, output = operator.input(0), operator.input(1), operator.outputs[0]
        rank = len(source.shape) if source is not None else 0
        axes = axis.size if axis is not None else 0
        if operator.opcode in ("MEAN", "SUM") and source is not None and source.dtype in ("int8", "int16"):
            scratch = [4 * output.size, 4 * rank, 4 * axes]
        else:
            scratch = [4 * rank, 4 * axes]
        return KernelMemory(params, ["OpDataReduce"], scratch=scratch)

    return memory


def _simple(params: str | None, *init: str) -> Callable[[Operator, str], KernelMemory]:
    def memory(operator: Operator, library: str) -> KernelMemory:
        return KernelMemory(params, list(init))

    return memory


def _decode(operator: Operator, library: str) -> KernelMemory:
    """DECODE: a DecodeState pointer per output, then each output's state (+ zero points)."""
    prepare: list[Request] = [("pointer", len(operator.outputs))]
    for k, output in enumerate(operator.outputs):
        ancillary = operator.input(2 * k + 1)
        decode_type = int(ancillary.data.reshape(-1)[0]) if ancillary is not None and ancillary.data is not None else 0
        if decode_type == 2:
            prepare.append("DecodeStatePrune")
            q = output.quantization
            if q is not None and q.channels > 1 and np.any(q.zero_point != 0):
                prepare.append(q.channels * output.itemsize)
        else:
            prepare.append("DecodeStateLut")
    return KernelMemory(None, [], prepare)


def _cmsis_conv_scratch(operator: Operator) -> list[int]:
    """arm_convolve_wrapper_s8_get_buffer_size on DSP cores: 2 * kh * kw * cin int16 columns."""
    filter_tensor = operator.input(1)
    _, kh, kw, cin = filter_tensor.shape
    options = operator.options
    if kh == kw == 1 and options.get("stride_w", 1) == 1 and options.get("stride_h", 1) == 1:
        return []  # arm_convolve_1x1_s8_fast needs none
    return [2 * ((kh * kw * cin + 3) // 4 * 4) * 2]


def _esp_nn_conv_scratch(operator: Operator) -> list[int]:
    """esp_nn_get_conv_scratch_size (ESP32-S3): the filter copy plus padded input rows, bounded."""
    filter_tensor = operator.input(1)
    source = operator.input(0)
    _, kh, kw, cin = filter_tensor.shape
    _, height, width, _ = source.shape
    filter_copy = filter_tensor.size + 16
    padded_input = (width + kw) * (height + kh) * cin if operator.options.get("padding") == "SAME" else 0
    return [filter_copy + padded_input + 32]


def _depthwise_scratch(operator: Operator, library: str) -> list[int]:
    filter_tensor = operator.input(1)
    source = operator.input(0)
    _, kh, kw, channels = filter_tensor.shape
    if library == CMSIS_NN:
        return [kh * kw * channels * 2]
    _, height, width, _ = source.shape
    return [(width + kw) * (height + kh) * channels + kh * kw * channels + 32]


KERNELS: dict[str, Callable[[Operator, str], KernelMemory]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
    "FULLY_CONNECTED": _fully_connected,
    "SOFTMAX": _softmax,
    "MEAN": _reduce("TfLiteReducerParams"),
    "SUM": _reduce("TfLiteReducerParams"),
    "REDUCE_MAX": _reduce("TfLiteReducerParams"),
    "ADD": _simple("TfLiteAddParams", "OpDataAdd"),
    "SUB": _simple("TfLiteSubParams", "OpDataSub"),
    "MUL": _simple("TfLiteMulParams", "OpDataMul"),
    "AVERAGE_POOL_2D": _simple("TfLitePoolParams", "OpDataPooling"),
    "MAX_POOL_2D": _simple("TfLitePoolParams", "OpDataPooling"),
    "LOGISTIC": _simple(None, "OpDataLogistic"),
    "TANH": _simple(None, "TanhOpData"),
    "HARD_SWISH": _simple(None, "HardSwishParams"),
    "LEAKY_RELU": _simple("TfLiteLeakyReluParams", "LeakyReluOpData"),
    "RELU": _simple(None, "ReluOpData"),
    "RELU6": _simple(None, "Relu6OpData"),
    "QUANTIZE": _simple(None, "OpDataQuantizeReference"),
    "DEQUANTIZE": _simple(None, "DequantizeOpData"),
    "PAD": _simple(None, "PadOpData"),
    "PADV2": _simple(None, "PadOpData"),
    "CONCATENATION": _simple("TfLiteConcatenationParams", "ConcatenationOpData"),
    "RESHAPE": _simple("TfLiteReshapeParams"),
    "SQUEEZE": _simple("TfLiteSqueezeParams"),
    "TRANSPOSE": _simple(None),
    "SPACE_TO_BATCH_ND": _simple(None, "SpaceToBatchParams"),
    "BATCH_TO_SPACE_ND": _simple(None),
    "SHAPE": _simple("TfLiteShapeParams"),
    "STRIDED_SLICE": _simple("TfLiteStridedSliceParams", "StridedSliceParams"),
    "PACK": _simple("TfLitePackParams"),
    "TFLM_DECODE": _decode,
}


def kernel_memory(operator: Operator, library: str = REFERENCE) -> KernelMemory | None:
    """The op's arena requests, or None when the estimator does not know the op."""
    rule = KERNELS.get(operator.opcode)
    return rule(operator, library) if rule is not None else None
