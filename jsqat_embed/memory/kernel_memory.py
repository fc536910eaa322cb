"""What each kernel asks of the arena: builtin params, Init/Prepare persistent buffers, scratch.

One small function per op (the op table, ``jsqat_embed/ops/table.py``, names
which op uses which), read from TFLM's reference
kernels (``kernels/*.cc``) and, where they differ, CMSIS-NN's and esp-nn's
(``kernels/cmsis_nn/*.cc``, ``kernels/esp_nn/*.cc`` in esp-tflite-micro).
Sizes of TFLM structs come from :mod:`jsqat_embed.memory.tflm_structs` by name;
the kernel libraries' own OpData structs from :data:`LIBRARY_OPDATA`.

The kernel libraries, as the boards' builds link them:

- ``cmsis-nn``: TFLM's ``kernels/cmsis_nn`` over CMSIS-NN (the commit TFLM 90b983c pins)
  on a core with the DSP extension and without MVE (Cortex-M4, M7, M33), built with GCC
  as TFLM's Makefile builds it (``KERNELS_OPTIMIZED_FOR_SPEED``). Its scratch sizes are
  CMSIS-NN's ``*_get_buffer_size`` for that path. Exact (checked under QEMU).
- ``esp-nn``: esp-tflite-micro 1.4.0's ``kernels/esp_nn`` over esp-nn's generic C
  (ESP32, ESP32-C3). Exact (checked under QEMU, RV32).
- ``esp-nn-s3``: the same over esp-nn's ESP32-S3 assembly: scratch rules read from
  esp-nn's sources, not run here (no Xtensa emulator): bounds.

Builtin params: ``PrepareNodeAndRegistrationDataFromFlatbuffer`` allocates the op's
params struct with its own alignment. Kernel buffers: ``AllocatePersistentBuffer``
(16-aligned), first every op's Init, then every op's Prepare. Scratch: requests
made in Prepare, planned in the head for the op's own scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.graph.model import Operator
from jsqat_embed.graph.padding import padding_before

REFERENCE = "reference"
CMSIS_NN = "cmsis-nn"
ESP_NN = "esp-nn"  # esp-nn's portable/generic builds (ESP32, ESP32-C3): no conv scratch
ESP_NN_S3 = "esp-nn-s3"  # esp-nn's ESP32-S3 assembly kernels: large conv scratch
KERNEL_LIBRARIES = (REFERENCE, CMSIS_NN, ESP_NN, ESP_NN_S3)

#: sizeof of the OpData a kernel library's TFLM wrapper allocates in Init, where it is not the
#: reference kernel's: (library, op) -> (bytes, kernel source, type). Probed with the target's
#: compiler from the pinned sources (CMSIS-NN: arm-none-eabi-g++ -mcpu=cortex-m4, TFLM 90b983c;
#: esp-nn: riscv64-unknown-elf-g++ rv32imac/ilp32, esp-tflite-micro 1.4.0);
#: tests/memory/test_arena_qemu.py probes them again. Persistent buffers are 16-aligned, so
#: 60 bytes cost what the reference 56 cost, but 72 for 48 (FULLY_CONNECTED) costs 32 more.
LIBRARY_OPDATA: dict[tuple[str, str], tuple[int, str, str]] = {
    (CMSIS_NN, "CONV_2D"): (60, "kernels/cmsis_nn/conv.cc", "OpData"),
    (CMSIS_NN, "DEPTHWISE_CONV_2D"): (60, "kernels/cmsis_nn/depthwise_conv.cc", "OpData"),
    (CMSIS_NN, "FULLY_CONNECTED"): (72, "kernels/cmsis_nn/fully_connected.cc", "OpData"),
    (CMSIS_NN, "ADD"): (60, "kernels/cmsis_nn/add.cc", "OpData"),
    (CMSIS_NN, "AVERAGE_POOL_2D"): (36, "kernels/cmsis_nn/pooling.cc", "OpData"),
    (CMSIS_NN, "MAX_POOL_2D"): (36, "kernels/cmsis_nn/pooling.cc", "OpData"),
    (CMSIS_NN, "SOFTMAX"): (64, "kernels/cmsis_nn/softmax.cc", "CMSISNNSoftmaxParams"),
    (CMSIS_NN, "SVDF"): (40, "kernels/cmsis_nn/svdf.cc", "CmsisNnOpDataSvdf"),
    (CMSIS_NN, "TRANSPOSE_CONV"): (76, "kernels/cmsis_nn/transpose_conv.cc", "OpData"),
    (CMSIS_NN, "UNIDIRECTIONAL_SEQUENCE_LSTM"): (912, "kernels/cmsis_nn/unidirectional_sequence_lstm.cc", "OpData"),
    (ESP_NN, "CONV_2D"): (60, "kernels/esp_nn/conv.cc", "NodeData"),
    (ESP_NN, "DEPTHWISE_CONV_2D"): (60, "kernels/esp_nn/depthwise_conv.cc", "NodeData"),
    (ESP_NN, "SOFTMAX"): (64, "kernels/esp_nn/softmax.cc", "NodeData"),
}


def _opdata(operator: Operator, library: str, reference: Request) -> Request:
    """The Init buffer: the library's own OpData where it has one, else the reference kernel's."""
    found = LIBRARY_OPDATA.get((ESP_NN if library == ESP_NN_S3 else library, operator.opcode))
    return found[0] if found else reference


#: a persistent request: a byte count, a struct name, (struct name, count) for an array, or a
#: list of those making up one buffer
Request = int | str | tuple[str, int] | list


@dataclass
class KernelMemory:
    params: str | None = None  # builtin params struct name
    init: list[Request] = field(default_factory=list)
    prepare: list[Request] = field(default_factory=list)
    scratch: list[Request] = field(default_factory=list)
    estimated: bool = False  # True where the figure is a bound, not TFLM's exact request


def _channels(operator: Operator, input_index: int = 1) -> int:
    weights = operator.input(input_index)
    if weights is None or weights.quantization is None:
        return 0
    return weights.quantization.channels


def _convolution(params: str, channel_axis: int, scratch_rules: dict) -> Callable[[Operator, str], KernelMemory]:
    """CONV_2D / DEPTHWISE_CONV_2D: OpDataConv (CMSIS-NN's and esp-nn's wrappers add a scratch
    index), per-channel multiplier and shift arrays, the library's scratch (esp-nn's generic
    ``_opt`` kernels ask for none)."""

    def memory(operator: Operator, library: str) -> KernelMemory:
        filter_tensor = operator.input(1)
        out_channels = filter_tensor.shape[channel_axis] if filter_tensor is not None else 0
        result = KernelMemory(params, [_opdata(operator, library, "OpDataConv")], [4 * out_channels, 4 * out_channels])
        rule = scratch_rules.get(library)
        if rule is not None:
            result.scratch = rule(operator)
        result.estimated = library == ESP_NN_S3
        return result

    return memory


def fully_connected(operator: Operator, library: str) -> KernelMemory:
    """FULLY_CONNECTED: OpData; per-channel arrays for a per-channel filter. CMSIS-NN
    (cmsis_nn/fully_connected.cc) takes an int8 layer whose output has more than two
    dimensions and whose depth is a multiple of 4 as a 1x1 convolution, and with a
    per-tensor filter asks for a scratch of per-channel multipliers and shifts
    (2 x 4 bytes per output channel); its own buffers (arm_fully_connected_s8_get_buffer_size,
    arm_convolve_1x1_s8_fast_get_buffer_size) are 0 on DSP cores built with GCC."""
    memory = KernelMemory("TfLiteFullyConnectedParams", [_opdata(operator, library, "OpDataFullyConnected")])
    channels = _channels(operator)
    if channels > 1:  # per-channel quantized filter (TF 2.21 quantizes Dense so)
        memory.prepare = [4 * channels, 4 * channels]
    source, filter_tensor, output = operator.input(0), operator.input(1), operator.outputs[0]
    if (library == CMSIS_NN and source is not None and source.dtype == "int8" and filter_tensor is not None
            and filter_tensor.dtype == "int8" and len(output.shape) > 2 and filter_tensor.shape[-1] % 4 == 0
            and channels <= 1):
        memory.scratch = [8 * output.shape[-1]]
    memory.estimated = library == ESP_NN_S3
    return memory


def add(operator: Operator, library: str) -> KernelMemory:
    """ADD: OpDataAdd (CMSIS-NN's own OpData has the same size; esp-nn's wrapper keeps OpDataAdd)."""
    return KernelMemory("TfLiteAddParams", [_opdata(operator, library, "OpDataAdd")],
                        estimated=library == ESP_NN_S3)


def pooling(average: bool) -> Callable[[Operator, str], KernelMemory]:
    """AVERAGE_POOL_2D / MAX_POOL_2D: OpDataPooling. CMSIS-NN's wrapper adds a scratch index
    and, for an integer average pool, asks for arm_avgpool_s8/s16_get_buffer_size: 4 bytes
    per channel on DSP cores."""

    def memory(operator: Operator, library: str) -> KernelMemory:
        result = KernelMemory("TfLitePoolParams", [_opdata(operator, library, "OpDataPooling")],
                              estimated=library == ESP_NN_S3)
        source = operator.input(0)
        if library == CMSIS_NN and average and source is not None and source.dtype in ("int8", "int16"):
            result.scratch = [4 * operator.outputs[0].shape[3]]
        return result

    return memory


def transpose_conv(operator: Operator, library: str) -> KernelMemory:
    """TRANSPOSE_CONV (transpose_conv.cc): OpData; in Prepare the per-channel multiplier and
    shift arrays, then a scratch buffer of accumulators, one per output element (int32 for
    int8, int64 for int16), then for an int16 input with an int16 bias its int64 copy."""
    filter_tensor, source, bias, output = operator.input(1), operator.input(2), operator.input(3), operator.outputs[0]
    channels = filter_tensor.shape[0] if filter_tensor is not None else 0
    memory = KernelMemory("TfLiteTransposeConvParams", [_opdata(operator, library, "TransposeConvOpData")],
                          [4 * channels, 4 * channels], estimated=library == ESP_NN_S3)
    dtype = source.dtype if source is not None else None
    if dtype == "int8":
        memory.scratch = _cmsis_transpose_conv_scratch(operator) if library == CMSIS_NN else [4 * output.size]
    elif dtype == "int16":
        memory.scratch = [8 * output.size]
        if bias is not None and bias.dtype == "int16":
            memory.scratch.append(8 * bias.size)
    return memory


def _cmsis_transpose_conv_scratch(operator: Operator) -> list[int]:
    """arm_transpose_conv_s8_get_buffer_size and _get_reverse_conv_buffer_size on DSP cores (no MVE)."""
    filter_tensor, source, output = operator.input(1), operator.input(2), operator.outputs[0]
    out_channels, kh, kw, in_channels = filter_tensor.shape
    width = source.shape[2]
    stride_h, stride_w = operator.options.get("stride_h", 1), operator.options.get("stride_w", 1)
    if stride_w <= 2 and stride_h <= 2 and in_channels > 16:  # REVERSE_TCOL_EFFICIENT_THRESHOLD
        columns = kw * kh * in_channels
        return [2 * ((columns + 3) // 4 * 4) * 2, in_channels * kw * kh * out_channels]
    # CMSIS-NN compares the filter width with the *height* stride here
    return [((width - 1) * stride_w + max(kw, stride_h)) * output.shape[3] * max(kh, stride_h) * 4, 0]


def softmax(operator: Operator, library: str) -> KernelMemory:
    """SOFTMAX: SoftmaxParams (CMSIS-NN and esp-nn wrap it in a larger struct of the same
    16-aligned size); int16 lookup tables. esp-nn's wrapper (esp_nn/softmax.cc) asks, for
    int8 in and out, for esp_nn_get_softmax_scratch_size(dims->data[1], dims->data[2]):
    4 x ``dims->data[1]`` with the generic kernels, although esp_nn_softmax_s8_opt then writes
    4 x the *last* dimension into it; on an input whose last dimension exceeds its second
    (rank > 2) the kernel writes past its scratch (see docs/estimator.md)."""
    memory = KernelMemory("TfLiteSoftmaxParams", [_opdata(operator, library, "SoftmaxParams")])
    source, output = operator.input(0), operator.outputs[0]
    if source is not None and source.dtype == "int16":
        memory.prepare = [2 * 513, 2 * 513]  # kInt16LUTArraySize int16 lookup tables
    if (library in (ESP_NN, ESP_NN_S3) and source is not None and source.dtype == "int8"
            and output.dtype == "int8" and len(source.shape) >= 2):
        memory.scratch = [4 * source.shape[1]]
    memory.estimated = library == ESP_NN_S3 or (library == ESP_NN and source is not None and len(source.shape) < 2)
    return memory


def log_softmax(operator: Operator, library: str) -> KernelMemory:
    """LOG_SOFTMAX: no Init; Prepare allocates LogSoftmaxOpData for int8 only (log_softmax.cc)."""
    source = operator.input(0)
    return KernelMemory(None, [], ["LogSoftmaxOpData"] if source is not None and source.dtype == "int8" else [])


def reduce(params: str) -> Callable[[Operator, str], KernelMemory]:
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


def simple(params: str | None, *init: str) -> Callable[[Operator, str], KernelMemory]:
    def memory(operator: Operator, library: str) -> KernelMemory:
        return KernelMemory(params, list(init))

    return memory


def writable_output_dims(params: str) -> Callable[[Operator, str], KernelMemory]:
    """GATHER, DEPTH_TO_SPACE, SPACE_TO_DEPTH: Prepare's ``CreateWritableTensorDimsWithCopy``
    moves the output's dims to a persistent TfLiteIntArray: ``TfLiteIntArrayGetSizeInBytes(rank)``,
    a 4-byte size plus 4 bytes per dimension on every ABI."""

    def memory(operator: Operator, library: str) -> KernelMemory:
        return KernelMemory(params, [], [4 + 4 * len(operator.outputs[0].shape)])

    return memory


def mirror_pad(operator: Operator, library: str) -> KernelMemory:
    """MIRROR_PAD: OpDataMirrorPad in Init; Prepare asks for two scratch arrays of one int per input dimension."""
    source = operator.input(0)
    rank = len(source.shape) if source is not None else 0
    return KernelMemory("TfLiteMirrorPaddingParams", ["OpDataMirrorPad"], scratch=[4 * rank, 4 * rank])


def hard_swish(operator: Operator, library: str) -> KernelMemory:
    memory = KernelMemory(None, ["HardSwishParams"])
    if library == ESP_NN_S3:
        memory.scratch = [512]  # esp_nn_get_hard_swish_scratch_size_esp32s3: two 256-entry tables
        memory.estimated = True
    return memory


def decode(operator: Operator, library: str) -> KernelMemory:
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
        elif decode_type == 1:
            prepare.append("DecodeStateHuffman")  # decodes from the tables in place: nothing else
        else:
            prepare.append("DecodeStateLut")
    return KernelMemory(None, [], prepare)


def _geometry(operator: Operator):
    """(input H, W, C), (kernel H, W), (output H, W, C), strides, TFLM's leading padding (H, W)."""
    source, filter_tensor, output = operator.input(0), operator.input(1), operator.outputs[0]
    _, height, width, channels = source.shape
    _, kh, kw, _ = filter_tensor.shape  # OHWI for CONV_2D, 1HWC for DEPTHWISE_CONV_2D
    _, out_h, out_w, out_c = output.shape
    options = operator.options
    stride = (options.get("stride_h", 1), options.get("stride_w", 1))
    dilation = (options.get("dilation_h_factor", 1), options.get("dilation_w_factor", 1))
    pad = (padding_before(height, kh, stride[0], dilation[0], out_h), padding_before(width, kw, stride[1], dilation[1], out_w))
    return (height, width, channels), (kh, kw), (out_h, out_w, out_c), stride, dilation, pad


def _cmsis_conv_scratch(operator: Operator) -> list[int]:
    """arm_convolve_wrapper_s8_get_buffer_size on DSP cores with GCC: none for a 1x1 kernel without
    padding or dilation over all input channels (arm_convolve_1x1_s8_fast asks for 0 outside Arm's
    compiler), else two im2col columns of int16 (the 1xN and the general kernel alike);
    arm_convolve_wrapper_s16_get_buffer_size: two columns, asked for only with an int64 bias."""
    (_, _, cin), (kh, kw), _, _, dilation, pad = _geometry(operator)
    source, filter_tensor, bias = operator.input(0), operator.input(1), operator.input(2)
    if source is not None and source.dtype == "int16":
        return [] if bias is not None and bias.dtype != "int64" else [2 * cin * kw * kh * 2]
    if source is None or source.dtype != "int8":
        return []
    if kh == kw == 1 and pad == (0, 0) and dilation == (1, 1) and cin == filter_tensor.shape[3]:
        return []
    return [2 * ((kh * kw * cin + 3) // 4 * 4) * 2]


def _cmsis_depthwise_scratch(operator: Operator) -> list[int]:
    """arm_depthwise_conv_wrapper_s8_get_buffer_size on DSP cores (int8 only; cmsis_nn/depthwise_conv.cc
    asks nothing for int16): for multiplier 1, batch 1 and no dilation, none for 3x3 with padding
    <= 1, else one column of int16 (arm_depthwise_conv_s8_opt); none otherwise."""
    (_, _, channels), (kh, kw), (_, _, out_channels), _, dilation, pad = _geometry(operator)
    source = operator.input(0)
    if source is None or source.dtype != "int8":
        return []
    if channels != out_channels or source.shape[0] != 1 or dilation != (1, 1):
        return []
    if kh == kw == 3 and max(pad) <= 1:
        return []
    return [2 * kh * kw * channels]


def _esp_nn_s3_conv_scratch(operator: Operator) -> list[int]:
    """esp_nn_get_conv_scratch_size_esp32s3 (esp-nn, src/convolution/esp_nn_conv_esp32s3.c).

    Three regimes: 1x1 stride-1 unpadded (channel-padded copies), im2col for thin
    filters, and otherwise a filter copy padded to 16 channels plus a padded input.
    Dilated convolutions run TFLM's reference code and ask for nothing.
    """
    (height, width, cin), (kh, kw), (out_h, out_w, cout), stride, dilation, pad = _geometry(operator)
    if dilation != (1, 1):
        return []
    margin = 64  # 16 alignment + 48 assembly over-read
    if kh == kw == 1 and pad == (0, 0) and stride == (1, 1):
        channels8 = (cin + 7) // 8 * 8
        transpose = 0 if width * height < 8 else 2 * 8 * channels8
        padded_input = width * height * channels8 if cin % 8 else 0
        return [padded_input + channels8 * cout + transpose + margin]
    row = kw * cin
    window = kh * kw * cin
    if row < 16 and window >= 16:
        window16 = (window + 15) // 16 * 16
        return [cout * 4 + 16 + cout * window16 + 16 + window16 + margin]
    channels16 = (cin + 15) // 16 * 16
    padded_input = 0 if pad == (0, 0) else (width + 2 * pad[1]) * (height + 2 * pad[0]) * cin
    filter_copy = kh * kw * channels16 * cout
    filter_rows = (row + 15) // 16 * 16 * kh * cout
    pad_right = max(0, out_w * stride[1] + kw - 1 - width)
    pad_bottom = max(0, out_h * stride[0] + kh - 1 - height)
    boundary = (width + pad_right) * (height + pad_bottom) * cin if (pad_right or pad_bottom) else 0
    return [padded_input + filter_copy + filter_rows + boundary + margin + cout * 4]


def _esp_nn_s3_depthwise_scratch(operator: Operator) -> list[int]:
    """esp_nn_get_depthwise_conv_scratch_size_esp32s3 (esp-nn, esp_nn_depthwise_conv_esp32s3.c)."""
    (height, width, channels), (kh, kw), (out_h, out_w, _), stride, dilation, pad = _geometry(operator)
    if dilation != (1, 1):
        return []
    multiplier = operator.options.get("depth_multiplier", 1)
    filter_size = kh * kw * channels * multiplier
    if multiplier == 1 and channels % 8 == 0:
        if kh == kw == 3:
            if channels % 16 == 0:
                if pad != (0, 0):
                    pad_w, pad_h = 2 * pad[1], 2 * pad[0]
                else:
                    pad_w, pad_h = out_w * stride[1] + 2 - width, out_h * stride[0] + 2 - height
                if pad_w or pad_h:
                    full = (width + pad_w) * (height + pad_h) * channels
                    if full <= 40 * 1024:
                        return [filter_size + full + 16]
                    return [filter_size + (width + pad_w) * kh * channels + 16]
                return [filter_size + 16]
            if channels >= 12:
                channels16 = (channels + 15) // 16 * 16
                total_pad_w = 2 * pad[1] + max(0, out_w * stride[1] + 2 - width)
                total_pad_h = 2 * pad[0] + max(0, out_h * stride[0] + 2 - height)
                return [9 * channels16 + (width + total_pad_w) * (height + total_pad_h) * channels16
                        + out_w * out_h * channels16 + 64]
            return [2 * (filter_size + width * height * channels) + 32]
        s16 = 2 * (filter_size + width * height * channels)
        if s16 <= 48 * 1024:
            return [s16 + 32]
        return [2 * filter_size + 2 * width * kh * channels + 32]
    if multiplier == 1 and channels > 3:
        channels8 = (channels + 7) // 8 * 8

        def up16(value: int) -> int:
            return (value + 15) // 16 * 16

        input_start = up16(2 * kh * kw * channels8)
        out_start = up16(input_start + 2 * width * height * channels8)
        bias_start = up16(out_start + out_w * out_h * channels8)
        return [bias_start + 3 * 4 * channels8 + 16]
    if multiplier % 4 == 0:
        return [2 * (filter_size + width * height * channels) + 32]
    return [32]


def ethos_u(operator: Operator, library: str) -> KernelMemory:
    """Arm's Ethos-U custom op (TFLM kernels/ethos_u/ethosu.cc): a 3-int OpData in Init, then two
    scratch arrays per input and output (base addresses as uint64, their sizes as size_t).
    Not checked against a real Ethos-U build here (none can run), so reported as a bound."""
    count = len(operator.inputs) + len(operator.outputs)
    return KernelMemory(None, [12], scratch=[8 * count, ("pointer", count)], estimated=True)


convolution_2d = _convolution("TfLiteConvParams", 0, {CMSIS_NN: _cmsis_conv_scratch, ESP_NN_S3: _esp_nn_s3_conv_scratch})
depthwise_convolution_2d = _convolution("TfLiteDepthwiseConvParams", 3, {
    CMSIS_NN: _cmsis_depthwise_scratch, ESP_NN_S3: _esp_nn_s3_depthwise_scratch})

def unidirectional_sequence_lstm(operator: Operator, library: str) -> KernelMemory:
    """UNIDIRECTIONAL_SEQUENCE_LSTM (unidirectional_sequence_lstm.cc): OpDataLSTM from Init; Prepare
    asks for no persistent data with per-tensor weights (the only kind TFLM's LSTM reads) and
    four scratch buffers of batch x units cell values (int16, or float32 for a float LSTM).

    CMSIS-NN's kernel adds cmsis_nn_lstm_params to its OpData, eight effective-bias arrays of
    units x bias type in Prepare, and needs only three scratch buffers for integer LSTMs.
    """
    source, hidden, cell = operator.input(0), operator.input(18), operator.input(19)
    time_major = bool(operator.options.get("time_major", False))
    batch = source.shape[1 if time_major else 0] if source is not None and len(source.shape) == 3 else 1
    units = hidden.shape[1] if hidden is not None and len(hidden.shape) >= 2 else 0
    cell_bytes = cell.itemsize if cell is not None else 2
    scratch = batch * units * cell_bytes
    memory = KernelMemory("TfLiteUnidirectionalSequenceLSTMParams", [_opdata(operator, library, "OpDataLSTM")],
                          scratch=[scratch] * 4, estimated=library == ESP_NN_S3)
    integer = cell is not None and cell.dtype == "int16" and source is not None and source.dtype in ("int8", "int16")
    if library == CMSIS_NN and integer:
        memory.prepare = [units * (4 if source.dtype == "int8" else 8)] * 8
        memory.scratch = [scratch] * 3
    return memory


def svdf(operator: Operator, library: str) -> KernelMemory:
    """SVDF (svdf.cc, svdf_common.cc): OpDataSvdf; scratch of batch x filters int32 (and batch x
    units int32 for the integer kernel). The state is a variable tensor (the tail's variables)."""
    memory = KernelMemory("TfLiteSVDFParams", [_opdata(operator, library, "OpDataSvdf")],
                          estimated=library == ESP_NN_S3)
    source, feature = operator.input(0), operator.input(1)
    if source is None or feature is None or len(source.shape) != 2 or not feature.shape:
        return memory
    batch, filters = source.shape[0], feature.shape[0]
    rank = max(1, int(operator.options.get("rank", 1)))
    memory.scratch = [4 * batch * filters]
    if source.dtype == "int8":
        memory.scratch.append(4 * batch * (filters // rank))
    return memory


def _custom_options(operator: Operator) -> dict:
    from jsqat_embed.tflite.flexbuffers import read_map

    return read_map(operator.custom_options, operator.describe())


def _option(operator: Operator, options: dict, key: str, default: int) -> int:
    """An integer custom option of a signal op (TFLM's Init reads each as the raw integer of its slot,
    whatever its type, so a value of another type has no size we could estimate)."""
    value = options.get(key, default)
    if not isinstance(value, (bool, int)):
        raise UnsupportedModelError(f"{operator.describe()}: custom option {key} is {value!r}, not an integer "
                                    f"(TFLM would read the raw bytes of its {type(value).__name__} as one)")
    return int(value)


def _kiss_fftr_state(fft_length: int, complex_bytes: int) -> list:
    """``kiss_fftr_alloc``'s memneeded: kiss_fftr_state (three pointers), the complex FFT's
    kiss_fft_state (nfft, inverse, factors[64], twiddles[1]: 264 bytes + one complex, 4-aligned)
    with its nfft - 1 further twiddles, then 3/2 nfft complex values (tmpbuf, super twiddles);
    nfft = fft_length / 2."""
    nfft = fft_length // 2
    state = (264 + complex_bytes + 3) // 4 * 4
    return [("pointer", 3), state + complex_bytes * (nfft - 1) + complex_bytes * (nfft * 3 // 2)]


def signal(operator: Operator, library: str) -> KernelMemory:
    """TFLM's signal library (signal/micro/kernels): each kernel's Init allocates its params
    struct (and buffers sized from its options), RFFT's Prepare a work-area scratch; no
    builtin params (custom ops)."""
    name = operator.opcode
    if name in ("SignalFftAutoScale", "SignalFilterBankSquareRoot"):
        return KernelMemory(None)
    simple_params = {"SignalWindow": "TFLMSignalWindowParams", "SignalEnergy": "TFLMSignalEnergyParams",
                     "SignalPCAN": "TfLitePcanParams", "SignalFilterBankLog": "TFLMSignalLogParams"}
    if name in simple_params:
        return KernelMemory(None, [simple_params[name]])
    options = _custom_options(operator)
    if name == "SignalFilterBank":
        channels = _option(operator, options, "num_channels", 0)
        return KernelMemory(None, ["TFLMSignalFilterBankParams", 8 * (channels + 1)])
    if name == "SignalFilterBankSpectralSubtraction":
        channels = _option(operator, options, "num_channels", 0)
        return KernelMemory(None, ["TFLMSignalSpectralSubtractionParams", 4 * channels])
    if name in ("SignalRfft", "SignalIrfft"):
        fft_length = _option(operator, options, "fft_length", 0)
        scalar_bytes = {7: 2, 2: 4, 0: 4}.get(_option(operator, options, "T", 7), 2)  # int16, int32, float32
        state = _kiss_fftr_state(fft_length, 2 * scalar_bytes)
        if name == "SignalIrfft":  # no work area: kiss_fftri writes the output directly
            if _option(operator, options, "T", 7) == 0:
                # irfft_float.cc's IrfftFloatState {int32_t; cfg pointer} precedes the KISS state:
                # 16 bytes on LP64, 8 on ILP32, i.e. two pointers on both.
                state = [("pointer", 2), *state]
            return KernelMemory(None, ["TfLiteAudioFrontendIrfftParams", state])
        return KernelMemory(None, ["TfLiteAudioFrontendRfftParams", state], scratch=[fft_length * scalar_bytes])
    source = operator.input(0)
    shape = source.shape if source is not None else ()
    width = shape[-1] if shape else 0
    rows = (int(np.prod(shape)) // width) if width else 0

    def circular_buffer(capacity: int) -> list:
        return ["CircularBuffer", 2 * 2 * capacity]  # CircularBufferGetNeededMemory: the int16 buffer, twice

    if name == "SignalDelay":
        capacity = width + _option(operator, options, "delay_length", 0)
        return KernelMemory(None, ["TFLMSignalFrontendDelayParams"],
                            [("pointer", rows), ("pointer", rows), *[circular_buffer(capacity)] * rows])
    if name == "SignalFramer":
        size, step = _option(operator, options, "frame_size", 0), max(1, _option(operator, options, "frame_step", 1))
        capacity = (size + step - 1) // step * step
        return KernelMemory(None, ["TFLMSignalFramerParams"],
                            [("pointer", rows), ("pointer", rows), *[circular_buffer(capacity)] * rows])
    if name == "SignalStacker":
        channels = _option(operator, options, "num_channels", 0)
        context = _option(operator, options, "stacker_left_context", 0) + _option(operator, options, "stacker_right_context", 0)
        return KernelMemory(None, ["TFLMSignalStackerParams", circular_buffer(channels * (context + 1))])
    if name == "SignalOverlapAdd":
        frame_size = width
        frames = shape[-2] if len(shape) >= 2 else 1
        outer = int(np.prod(shape)) // max(frame_size * frames, 1) if shape else 0
        scalar_bytes = 4 if _option(operator, options, "T", 7) == 0 else 2
        return KernelMemory(None, ["TFLMSignalOverlapAddParams"],
                            [("pointer", outer), *[frame_size * scalar_bytes] * outer])
    raise ValueError(f"no arena rule for signal op {name}")


def kernel_memory(operator: Operator, library: str = REFERENCE) -> KernelMemory | None:
    """The op's arena requests, or None when the estimator does not know the op."""
    from jsqat_embed.ops import descriptor

    found = descriptor(operator.opcode)
    rule = found.memory if found is not None else None
    return rule(operator, library) if rule is not None else None
