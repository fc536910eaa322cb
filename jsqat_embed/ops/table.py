"""The one table of operators: every op TFLM can register, with its parts.

Adding an op means one entry here (plus its kernel module and tests). Emulated
ops carry every part; ops TFLM has but jsqat-embed does not emulate carry what
the estimator and the firmware need (resolver method, code size) so `inspect`
can say "TFLM runs this; the emulator does not". The consistency test
(tests/ops/test_table.py) checks that every emulated op has every part, and the
docs' support table (docs/ops.md) is generated from this table by
``scripts/gen_op_docs.py``.

Code sizes: every op TFLM links is measured by ``scripts/measure_code_size.py``
(jsqat_embed/memory/code_sizes.py: text + data on Cortex-M4F as the generated CMake
project links it, reference kernels and CMSIS-NN), and ``_table`` puts those figures
(what linking the op alone adds) in place of the ones written here, which stay as the
fallback for an op the measurement does not reach: earlier .text figures
(shared/TFLM_NOTES.md) or estimates taken from the op whose code has the same shape.
"""

from __future__ import annotations

import dataclasses

from jsqat_embed.memory import kernel_memory as km
from jsqat_embed.ops import checks, shapes
from jsqat_embed.ops.descriptor import CodeSize, OpDescriptor

INTEGER = ("int8", "int16")
ALL_NUMERIC = ("float32", "int8", "int16", "int32")


def measured(reference: int, cmsis_nn: int | None = None) -> CodeSize:
    return CodeSize(reference, reference if cmsis_nn is None else cmsis_nn, "measured")


def like(op: str, reference: int, cmsis_nn: int | None = None) -> CodeSize:
    return CodeSize(reference, reference if cmsis_nn is None else cmsis_nn, f"estimate: like {op}")


def guess(reference: int = 8_000) -> CodeSize:
    return CodeSize(reference, reference, "estimate: typical kernel")


ADD_CODE = like("ADD", 12_512, 14_432)
QUANTIZE_CODE = like("QUANTIZE", 5_408)
COPY_CODE = like("RESHAPE-style data movement", 4_000)


def _measured_code(name: str) -> CodeSize | None:
    try:
        from jsqat_embed.memory.code_sizes import OPS as MEASURED
    except ImportError:
        return None
    figures = MEASURED.get(name, {})
    if "reference" not in figures:
        return None
    reference = figures["reference"][0]
    return CodeSize(reference, figures.get("cmsis-nn", (reference,))[0], "measured")


def _table(*descriptors: OpDescriptor) -> dict[str, OpDescriptor]:
    table: dict[str, OpDescriptor] = {}
    for descriptor in descriptors:
        if descriptor.name in table:
            raise ValueError(f"op {descriptor.name} is in the table twice")
        code = _measured_code(descriptor.name)
        table[descriptor.name] = dataclasses.replace(descriptor, code=code) if code else descriptor
    return table


_CONV_TYPES = ("float32", "int8", "int16")
_CONV_PAIRS = {"float32": ("float32",), "int8": ("int8", "int4"), "int16": ("int8",)}
_CONV_CHECKS = (checks.weight_types("CONV_2D", _CONV_PAIRS, "conv_common.cc"), checks.quantized_io)
_DEPTHWISE_CHECKS = (checks.weight_types("DEPTHWISE_CONV_2D", _CONV_PAIRS, "depthwise_conv_common.cc"),
                     checks.quantized_io)
_FC_CHECKS = (checks.weight_types("FULLY_CONNECTED", _CONV_PAIRS, "fully_connected.cc",
                                  "Input type: {input} with filter type: {weights} not supported."), checks.quantized_io)
_TRANSPOSE_CONV_CHECKS = (checks.weight_types("TRANSPOSE_CONV", {"float32": ("float32",), "int8": ("int8",),
                                                                 "int16": ("int8",)}, "transpose_conv.cc"),
                          checks.quantized_io)

#: signal-library ops the emulator runs: kernel module and first-input types
_SIGNAL_EMULATED = {
    "SignalWindow": ("signal_window", ("int16",)), "SignalFftAutoScale": ("signal_fft_auto_scale", ("int16",)),
    "SignalRfft": ("signal_rfft", ("int16", "int32", "float32")), "SignalEnergy": ("signal_energy", ("int16",)),
    "SignalIrfft": ("signal_irfft", ("int16", "int32", "float32")), "SignalDelay": ("signal_delay", ("int16",)),
    "SignalFramer": ("signal_framer", ("int16",)), "SignalStacker": ("signal_stacker", ("int16",)),
    "SignalOverlapAdd": ("signal_overlap_add", ("int16", "float32")),
    "SignalFilterBank": ("signal_filter_bank", ("uint32",)),
    "SignalFilterBankSquareRoot": ("signal_filter_bank_square_root", ("uint64",)),
    "SignalFilterBankSpectralSubtraction": ("signal_filter_bank_spectral_subtraction", ("uint32",)),
    "SignalPCAN": ("signal_pcan", ("uint32",)), "SignalFilterBankLog": ("signal_filter_bank_log", ("uint32",)),
}

OPS: dict[str, OpDescriptor] = _table(
    # -- convolutions and matrix products -------------------------------------------------
    OpDescriptor("CONV_2D", "AddConv2D", measured(10_912, 31_296), options="Conv2DOptions",
                 tflm_dtypes=_CONV_TYPES, checks=_CONV_CHECKS, kernel="conv_2d", dtypes=("int8", "int16"),
                 memory=km.convolution_2d, shape=shapes.conv_2d, optional_inputs=(2,),
                 operand_counts=((2, 3), (1,))),
    OpDescriptor("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D", measured(9_824, 21_152),
                 options="DepthwiseConv2DOptions", tflm_dtypes=_CONV_TYPES, checks=_DEPTHWISE_CHECKS,
                 kernel="depthwise_conv_2d", dtypes=("int8", "int16"), memory=km.depthwise_convolution_2d,
                 shape=shapes.depthwise_conv_2d,
                 # no optional input: a bias given as -1 makes TFLM's Prepare read a missing tensor (the
                 # wheel dies with SIGSEGV); a bias-less one has two inputs
                 operand_counts=((2, 3), (1,))),
    OpDescriptor("FULLY_CONNECTED", "AddFullyConnected", measured(8_384, 19_936),
                 options="FullyConnectedOptions", tflm_dtypes=_CONV_TYPES, checks=_FC_CHECKS,
                 kernel="fully_connected", dtypes=("int8", "int16"), memory=km.fully_connected,
                 shape=shapes.fully_connected, optional_inputs=(2,)),
    OpDescriptor("TRANSPOSE_CONV", "AddTransposeConv", like("CONV_2D", 10_912), options="TransposeConvOptions",
                 tflm_dtypes=_CONV_TYPES, checks=_TRANSPOSE_CONV_CHECKS, data_input=2, kernel="transpose_conv",
                 dtypes=("int8", "int16", "float32"), memory=km.transpose_conv,
                 shape=shapes.transpose_conv, optional_inputs=(3,),
                 operand_counts=((3, 4), (1,))),
    OpDescriptor("BATCH_MATMUL", "AddBatchMatMul", like("FULLY_CONNECTED", 8_384), options="BatchMatMulOptions",
                 tflm_dtypes=("float32", "int8", "int16")),
    OpDescriptor("SVDF", "AddSvdf", like("FULLY_CONNECTED", 8_384), options="SVDFOptions",
                 tflm_dtypes=("float32", "int8"), checks=(checks.quantized_io,), kernel="svdf",
                 dtypes=("int8", "float32"), memory=km.svdf,
                 notes="int8 input with int8 or int16 time weights/state; each sample runs from the reset state",
                 optional_inputs=(3,),
                 operand_counts=((5,), (1,))),
    OpDescriptor("UNIDIRECTIONAL_SEQUENCE_LSTM", "AddUnidirectionalSequenceLSTM", guess(16_000),
                 options="UnidirectionalSequenceLSTMOptions", tflm_dtypes=("float32", "int8", "int16"),
                 kernel="unidirectional_sequence_lstm", dtypes=("int8", "int16"),
                 memory=km.unidirectional_sequence_lstm, shape=shapes.unidirectional_sequence_lstm,
                 optional_inputs=(1, 5, 9, 10, 11, 12, 16, 17, 20, 21, 22, 23)),
    # -- elementwise arithmetic ----------------------------------------------------------
    OpDescriptor("ADD", "AddAdd", measured(12_512, 14_432), options="AddOptions",
                 tflm_dtypes=("float32", "int8", "int16", "int32"), checks=(checks.quantized_io,),
                 kernel="add", dtypes=("int8", "int16", "float32", "int32"), memory=km.add, shape=shapes.broadcast),
    OpDescriptor("SUB", "AddSub", ADD_CODE, options="SubOptions", tflm_dtypes=("float32", "int8", "int16", "int32"),
                 checks=(checks.quantized_io,), kernel="sub", dtypes=("int8", "int16", "float32"),
                 memory=km.simple("TfLiteSubParams", "OpDataSub"), shape=shapes.broadcast),
    OpDescriptor("MUL", "AddMul", ADD_CODE, options="MulOptions", tflm_dtypes=("float32", "int8", "int16", "int32"),
                 checks=(checks.quantized_io,), kernel="mul", dtypes=("int8", "int16", "float32", "int32"),
                 memory=km.simple("TfLiteMulParams", "OpDataMul"), shape=shapes.broadcast,
                 operand_counts=((2,), (1,))),
    OpDescriptor("DIV", "AddDiv", ADD_CODE, options="DivOptions", tflm_dtypes=("float32", "int32", "int8"),
                 checks=(checks.quantized_io,), kernel="div", dtypes=("float32", "int32", "int8"),
                 memory=km.simple("TfLiteDivParams", "OpDataDiv"), shape=shapes.broadcast),
    OpDescriptor("MAXIMUM", "AddMaximum", ADD_CODE, options="MaximumMinimumOptions",
                 tflm_dtypes=("float32", "int8", "int16", "int32", "int64"), kernel="maximum_minimum",
                 dtypes=("float32", "int8", "int16", "int32", "int64"), memory=km.simple(None),
                 shape=shapes.broadcast),
    OpDescriptor("MINIMUM", "AddMinimum", ADD_CODE, options="MaximumMinimumOptions",
                 tflm_dtypes=("float32", "int8", "int16", "int32", "int64"), kernel="maximum_minimum",
                 dtypes=("float32", "int8", "int16", "int32", "int64"), memory=km.simple(None),
                 shape=shapes.broadcast),
    OpDescriptor("SQUARED_DIFFERENCE", "AddSquaredDifference", ADD_CODE, options="SquaredDifferenceOptions",
                 shape=shapes.broadcast),
    OpDescriptor("ADD_N", "AddAddN", ADD_CODE, options="AddNOptions"),
    OpDescriptor("FLOOR_DIV", "AddFloorDiv", ADD_CODE, options="FloorDivOptions"),
    OpDescriptor("FLOOR_MOD", "AddFloorMod", ADD_CODE, options="FloorModOptions"),
    # -- pooling and reductions -----------------------------------------------------------
    OpDescriptor("AVERAGE_POOL_2D", "AddAveragePool2D", measured(5_536, 6_144), options="Pool2DOptions",
                 tflm_dtypes=("float32", "int8", "int16"), checks=(checks.quantized_io,),
                 kernel="average_pool_2d", dtypes=INTEGER, memory=km.pooling(average=True), shape=shapes.pool_2d),
    OpDescriptor("MAX_POOL_2D", "AddMaxPool2D", measured(5_664, 6_336), options="Pool2DOptions",
                 tflm_dtypes=("float32", "int8", "int16"), checks=(checks.quantized_io,),
                 kernel="max_pool_2d", dtypes=INTEGER, memory=km.pooling(average=False), shape=shapes.pool_2d),
    OpDescriptor("L2_POOL_2D", "AddL2Pool2D", like("AVERAGE_POOL_2D", 5_536), options="Pool2DOptions",
                 shape=shapes.pool_2d),
    OpDescriptor("MEAN", "AddMean", measured(8_416), options="ReducerOptions", tflm_dtypes=("float32", "int8", "int16"),
                 kernel="mean", dtypes=INTEGER, memory=km.reduce("TfLiteReducerParams"), shape=shapes.reduce),
    OpDescriptor("SUM", "AddSum", like("MEAN", 8_416), options="ReducerOptions",
                 tflm_dtypes=("float32", "int8", "int16"), memory=km.reduce("TfLiteReducerParams"),
                 shape=shapes.reduce),
    OpDescriptor("REDUCE_MAX", "AddReduceMax", like("MEAN", 8_416), options="ReducerOptions",
                 tflm_dtypes=("float32", "int8"), kernel="reduce_max", dtypes=("int8", "float32"),
                 memory=km.reduce("TfLiteReducerParams"), shape=shapes.reduce),
    OpDescriptor("REDUCE_MIN", "AddReduceMin", like("MEAN", 8_416), options="ReducerOptions", shape=shapes.reduce),
    OpDescriptor("REDUCE_ALL", "AddReduceAll", like("MEAN", 8_416), options="ReducerOptions", shape=shapes.reduce),
    OpDescriptor("ARG_MAX", "AddArgMax", guess(4_000), options="ArgMaxOptions", tflm_dtypes=("float32", "int8"),
                 checks=(checks.tensor_types("ARG_MAX", 1, "axis (input 1)", ("int32",)), checks.int32_index_output),
                 kernel="arg_max", dtypes=("float32", "int8"), memory=km.simple("TfLiteArgMaxParams"),
                 shape=shapes.arg_max),
    OpDescriptor("ARG_MIN", "AddArgMin", guess(4_000), options="ArgMinOptions", tflm_dtypes=("float32", "int8"),
                 checks=(checks.tensor_types("ARG_MIN", 1, "axis (input 1)", ("int32",)), checks.int32_index_output),
                 kernel="arg_max", dtypes=("float32", "int8"), memory=km.simple("TfLiteArgMinParams"),
                 shape=shapes.arg_max),
    OpDescriptor("CUMSUM", "AddCumSum", guess(4_000), options="CumsumOptions"),
    # -- activations ----------------------------------------------------------------------
    OpDescriptor("SOFTMAX", "AddSoftmax", measured(10_016, 10_976), options="SoftmaxOptions",
                 tflm_dtypes=("float32", "int8", "int16"), checks=(checks.quantized_io,),
                 kernel="softmax", dtypes=INTEGER, memory=km.softmax, shape=shapes.same_shape,
                 operand_counts=((1,), (1,))),
    OpDescriptor("LOG_SOFTMAX", "AddLogSoftmax", like("SOFTMAX", 10_016), options="LogSoftmaxOptions",
                 tflm_dtypes=("float32", "int8"), checks=(checks.quantized_io,), kernel="log_softmax",
                 dtypes=("int8",), memory=km.log_softmax, shape=shapes.same_shape),
    OpDescriptor("LOGISTIC", "AddLogistic", QUANTIZE_CODE, tflm_dtypes=("float32", "int8", "int16"),
                 checks=(checks.quantized_io,), kernel="logistic", dtypes=INTEGER,
                 memory=km.simple(None, "OpDataLogistic"), shape=shapes.same_shape),
    OpDescriptor("TANH", "AddTanh", QUANTIZE_CODE, tflm_dtypes=("float32", "int8", "int16"),
                 checks=(checks.quantized_io,), kernel="tanh", dtypes=INTEGER, memory=km.simple(None, "TanhOpData"),
                 shape=shapes.same_shape),
    OpDescriptor("HARD_SWISH", "AddHardSwish", QUANTIZE_CODE, tflm_dtypes=("float32", "int8"),
                 checks=(checks.quantized_io,), kernel="hard_swish", dtypes=("int8",), memory=km.hard_swish,
                 shape=shapes.same_shape),
    OpDescriptor("LEAKY_RELU", "AddLeakyRelu", QUANTIZE_CODE, options="LeakyReluOptions",
                 tflm_dtypes=("float32", "int8", "int16"), checks=(checks.quantized_io,), kernel="leaky_relu",
                 dtypes=INTEGER, memory=km.simple("TfLiteLeakyReluParams", "LeakyReluOpData"),
                 shape=shapes.same_shape,
                 operand_counts=((1,), (1,))),
    OpDescriptor("RELU", "AddRelu", like("DEQUANTIZE", 2_848), tflm_dtypes=("float32", "int8", "int16"),
                 checks=(checks.quantized_io,), kernel="relu", dtypes=INTEGER, memory=km.simple(None, "ReluOpData"),
                 shape=shapes.same_shape),
    OpDescriptor("RELU6", "AddRelu6", like("DEQUANTIZE", 2_848), tflm_dtypes=("float32", "int8", "int16"),
                 checks=(checks.quantized_io,), kernel="relu6", dtypes=INTEGER, memory=km.simple(None, "Relu6OpData"),
                 shape=shapes.same_shape),
    OpDescriptor("PRELU", "AddPrelu", QUANTIZE_CODE, tflm_dtypes=("float32", "int8", "int16"),
                 checks=(checks.quantized_io,), kernel="prelu", dtypes=("float32", "int8", "int16"),
                 memory=km.simple(None, "PreluParams"), shape=shapes.broadcast),
    OpDescriptor("ELU", "AddElu", QUANTIZE_CODE, shape=shapes.same_shape),
    # -- quantization -----------------------------------------------------------------------
    OpDescriptor("QUANTIZE", "AddQuantize", measured(5_408), tflm_dtypes=("float32", "int8", "int16", "int32", "uint8"),
                 kernel="quantize", dtypes=("float32", "int8", "uint8", "int16", "int32"),
                 memory=km.simple(None, "OpDataQuantizeReference"), shape=shapes.same_shape,
                 operand_counts=((1,), (1,))),
    OpDescriptor("DEQUANTIZE", "AddDequantize", measured(2_848), tflm_dtypes=("int8", "int16", "uint8"),
                 kernel="dequantize", dtypes=("int8", "uint8", "int16"), memory=km.simple(None, "DequantizeOpData"),
                 shape=shapes.same_shape,
                 operand_counts=((1,), (1,))),
    OpDescriptor("CAST", "AddCast", QUANTIZE_CODE, tflm_dtypes=("bool", "float32", "int16", "int32", "int8", "uint32"),
                 kernel="cast", dtypes=("bool", "float32", "int16", "int32", "int8", "uint32"),
                 memory=km.simple("TfLiteCastParams"), shape=shapes.same_shape),
    # -- data movement ------------------------------------------------------------------------
    OpDescriptor("RESHAPE", "AddReshape", measured(1_440), options="ReshapeOptions", kernel="reshape",
                 dtypes=("int8", "int16", "int32", "float32", "uint8", "bool", "int64"),
                 memory=km.simple("TfLiteReshapeParams"), shape=shapes.same_size, optional_inputs=(1,),
                 operand_counts=((1, 2), (1,))),
    OpDescriptor("SQUEEZE", "AddSqueeze", like("RESHAPE", 1_440), options="SqueezeOptions", kernel="squeeze",
                 dtypes=("int8", "int16", "int32", "float32", "uint8", "bool", "int64"),
                 memory=km.simple("TfLiteSqueezeParams"), shape=shapes.same_size),
    OpDescriptor("EXPAND_DIMS", "AddExpandDims", like("RESHAPE", 1_440), options="ExpandDimsOptions",
                 tflm_dtypes=("float32", "int16", "int8"), kernel="expand_dims", dtypes=("float32", "int16", "int8"),
                 memory=km.simple(None), shape=shapes.same_size),
    OpDescriptor("SHAPE", "AddShape", like("RESHAPE", 1_440), options="ShapeOptions", kernel="shape", dtypes=(),
                 memory=km.simple("TfLiteShapeParams"), shape=shapes.shape_of),
    OpDescriptor("PAD", "AddPad", COPY_CODE, options="PadOptions", tflm_dtypes=("float32", "int8", "int16", "int32"),
                 kernel="pad", dtypes=("int8", "int16", "int32", "float32"), memory=km.simple(None, "PadOpData"),
                 shape=shapes.pad, optional_inputs=(2,),
                 operand_counts=((2, 3), (1,))),
    OpDescriptor("PADV2", "AddPadV2", COPY_CODE, options="PadV2Options", tflm_dtypes=("float32", "int8", "int16", "int32"),
                 kernel="padv2", dtypes=("int8", "int16", "int32", "float32"), memory=km.simple(None, "PadOpData"),
                 shape=shapes.pad, optional_inputs=(2,)),
    OpDescriptor("MIRROR_PAD", "AddMirrorPad", COPY_CODE, options="MirrorPadOptions", tflm_dtypes=("float32", "int8"),
                 kernel="mirror_pad", dtypes=("float32", "int8"), memory=km.mirror_pad, shape=shapes.pad),
    OpDescriptor("CONCATENATION", "AddConcatenation", COPY_CODE, options="ConcatenationOptions",
                 tflm_dtypes=("bool", "float32", "int16", "int32", "int64", "int8"), kernel="concatenation",
                 dtypes=("int8", "int16", "int32", "float32", "int64"),
                 memory=km.simple("TfLiteConcatenationParams", "ConcatenationOpData"), shape=shapes.concatenation),
    OpDescriptor("TRANSPOSE", "AddTranspose", COPY_CODE, options="TransposeOptions",
                 tflm_dtypes=("float32", "int16", "int8"), kernel="transpose",
                 dtypes=("int8", "int16", "float32"), memory=km.simple(None), shape=shapes.transpose),
    OpDescriptor("SPACE_TO_BATCH_ND", "AddSpaceToBatchNd", COPY_CODE, options="SpaceToBatchNDOptions",
                 tflm_dtypes=("float32", "int8"), kernel="space_to_batch_nd", dtypes=("int8", "float32"),
                 memory=km.simple(None, "SpaceToBatchParams"), shape=shapes.space_to_batch_nd),
    OpDescriptor("BATCH_TO_SPACE_ND", "AddBatchToSpaceNd", COPY_CODE, options="BatchToSpaceNDOptions",
                 tflm_dtypes=("float32", "int8"), kernel="batch_to_space_nd", dtypes=("int8", "float32"),
                 memory=km.simple(None), shape=shapes.batch_to_space_nd),
    OpDescriptor("STRIDED_SLICE", "AddStridedSlice", COPY_CODE, options="StridedSliceOptions",
                 tflm_dtypes=("bool", "float32", "int16", "int32", "int8"), kernel="strided_slice",
                 dtypes=("int8", "int16", "int32", "float32", "bool"),
                 memory=km.simple("TfLiteStridedSliceParams", "StridedSliceParams"), shape=shapes.strided_slice,
                 operand_counts=((4,), (1,))),
    OpDescriptor("PACK", "AddPack", like("RESHAPE-style data movement", 2_000), options="PackOptions",
                 tflm_dtypes=("float32", "int16", "int32", "int64", "int8"), kernel="pack",
                 dtypes=("int8", "int16", "int32", "float32", "int64"), memory=km.simple("TfLitePackParams"),
                 shape=shapes.pack),
    OpDescriptor("UNPACK", "AddUnpack", like("PACK", 2_000), options="UnpackOptions",
                 tflm_dtypes=("float32", "int32", "int16", "int8"), kernel="unpack",
                 dtypes=("float32", "int32", "int16", "int8"), memory=km.simple("TfLiteUnpackParams"),
                 shape=shapes.unpack),
    # SPLIT's input 0 is the (int32) axis: the types below are those of the data, input 1.
    OpDescriptor("SPLIT", "AddSplit", COPY_CODE, options="SplitOptions", tflm_dtypes=("float32", "int16", "int32", "int8"),
                 checks=(checks.tensor_types("SPLIT", 1, "data input (input 1)", ("float32", "int16", "int32", "int8")),),
                 kernel="split", dtypes=("float32", "int16", "int32", "int8"), memory=km.simple("TfLiteSplitParams"),
                 notes="input 0 is the axis; the types listed are those of the data (input 1)", shape=shapes.split),
    OpDescriptor("SPLIT_V", "AddSplitV", COPY_CODE, options="SplitVOptions",
                 tflm_dtypes=("float32", "int16", "int32", "int8"), kernel="split_v",
                 dtypes=("float32", "int16", "int32", "int8"), memory=km.simple("TfLiteSplitVParams"),
                 shape=shapes.split_v),
    OpDescriptor("SLICE", "AddSlice", COPY_CODE, options="SliceOptions",
                 tflm_dtypes=("float32", "int32", "int8", "int16", "bool"), kernel="slice",
                 dtypes=("float32", "int32", "int8", "int16", "bool"), memory=km.simple(None), shape=shapes.slice_),
    OpDescriptor("GATHER", "AddGather", COPY_CODE, options="GatherOptions", tflm_dtypes=("float32", "int8"),
                 checks=(checks.tensor_types("GATHER", 1, "positions input (input 1)", ("int32",)),),
                 kernel="gather", dtypes=("float32", "int8"), memory=km.writable_output_dims("TfLiteGatherParams"),
                 shape=shapes.gather),
    OpDescriptor("GATHER_ND", "AddGatherNd", COPY_CODE, options="GatherNdOptions"),
    OpDescriptor("DEPTH_TO_SPACE", "AddDepthToSpace", COPY_CODE, options="DepthToSpaceOptions",
                 tflm_dtypes=("float32", "int8"), kernel="depth_to_space", dtypes=("float32", "int8"),
                 memory=km.writable_output_dims("TfLiteDepthToSpaceParams"), shape=shapes.depth_to_space),
    OpDescriptor("SPACE_TO_DEPTH", "AddSpaceToDepth", COPY_CODE, options="SpaceToDepthOptions",
                 tflm_dtypes=("float32", "int8"), kernel="space_to_depth", dtypes=("float32", "int8"),
                 memory=km.writable_output_dims("TfLiteSpaceToDepthParams"), shape=shapes.space_to_depth),
    OpDescriptor("RESIZE_BILINEAR", "AddResizeBilinear", COPY_CODE, options="ResizeBilinearOptions",
                 tflm_dtypes=("float32", "int8"), kernel="resize_bilinear", dtypes=("float32", "int8"),
                 memory=km.simple("TfLiteResizeBilinearParams"), shape=shapes.resize),
    OpDescriptor("RESIZE_NEAREST_NEIGHBOR", "AddResizeNearestNeighbor", COPY_CODE,
                 options="ResizeNearestNeighborOptions", tflm_dtypes=("float32", "int8", "int16"),
                 kernel="resize_nearest_neighbor", dtypes=("float32", "int8", "int16"),
                 memory=km.simple("TfLiteResizeNearestNeighborParams"), shape=shapes.resize),
    OpDescriptor("BROADCAST_TO", "AddBroadcastTo", COPY_CODE, options="BroadcastToOptions"),
    OpDescriptor("BROADCAST_ARGS", "AddBroadcastArgs", COPY_CODE),
    OpDescriptor("REVERSE_V2", "AddReverseV2", COPY_CODE, options="ReverseV2Options"),
    OpDescriptor("FILL", "AddFill", COPY_CODE, options="FillOptions"),
    OpDescriptor("ZEROS_LIKE", "AddZerosLike", COPY_CODE, options="ZerosLikeOptions"),
    OpDescriptor("EMBEDDING_LOOKUP", "AddEmbeddingLookup", COPY_CODE, options="EmbeddingLookupOptions"),
    OpDescriptor("DYNAMIC_UPDATE_SLICE", "AddDynamicUpdateSlice", COPY_CODE, options="DynamicUpdateSliceOptions"),
    OpDescriptor("SELECT_V2", "AddSelectV2", COPY_CODE, options="SelectV2Options"),
    # -- elementwise math and logic (float or integer without quantization) --------------------
    *(OpDescriptor(name, method, QUANTIZE_CODE) for name, method in (
        ("ABS", "AddAbs"), ("CEIL", "AddCeil"), ("COS", "AddCos"), ("EXP", "AddExp"), ("FLOOR", "AddFloor"),
        ("LOG", "AddLog"), ("NEG", "AddNeg"), ("ROUND", "AddRound"), ("RSQRT", "AddRsqrt"), ("SIN", "AddSin"),
        ("SQRT", "AddSqrt"), ("SQUARE", "AddSquare"), ("L2_NORMALIZATION", "AddL2Normalization"),
        ("EQUAL", "AddEqual"), ("NOT_EQUAL", "AddNotEqual"), ("GREATER", "AddGreater"),
        ("GREATER_EQUAL", "AddGreaterEqual"), ("LESS", "AddLess"), ("LESS_EQUAL", "AddLessEqual"),
        ("LOGICAL_AND", "AddLogicalAnd"), ("LOGICAL_NOT", "AddLogicalNot"), ("LOGICAL_OR", "AddLogicalOr"))),
    # -- control flow and variables ------------------------------------------------------------
    *(OpDescriptor(name, method, guess(4_000)) for name, method in (
        ("IF", "AddIf"), ("WHILE", "AddWhile"), ("CALL_ONCE", "AddCallOnce"), ("VAR_HANDLE", "AddVarHandle"),
        ("READ_VARIABLE", "AddReadVariable"), ("ASSIGN_VARIABLE", "AddAssignVariable"))),
    # -- custom ops TFLM registers -----------------------------------------------------------------
    OpDescriptor("TFLM_DECODE", "AddDecode", measured(18_752), custom=True, kernel="decode", dtypes=(),
                 memory=km.decode),
    OpDescriptor("CIRCULAR_BUFFER", "AddCircularBuffer", guess(4_000), custom=True),
    OpDescriptor("TFLite_Detection_PostProcess", "AddDetectionPostprocess", guess(12_000), custom=True),
    OpDescriptor("ethos-u", "AddEthosU", guess(4_000), custom=True, memory=km.ethos_u,
                 notes="runs only on an Arm Ethos-U NPU build of TFLM (Vela-compiled model)"),
    *(OpDescriptor(name, method, guess(6_000), custom=True, notes="TFLM signal library (audio front end)",
                   **({"kernel": _SIGNAL_EMULATED[name][0], "dtypes": _SIGNAL_EMULATED[name][1], "memory": km.signal}
                      if name in _SIGNAL_EMULATED else {}))
      for name, method in (
        ("SignalDelay", "AddDelay"), ("SignalEnergy", "AddEnergy"), ("SignalFftAutoScale", "AddFftAutoScale"),
        ("SignalFilterBank", "AddFilterBank"), ("SignalFilterBankLog", "AddFilterBankLog"),
        ("SignalFilterBankSquareRoot", "AddFilterBankSquareRoot"),
        ("SignalFilterBankSpectralSubtraction", "AddFilterBankSpectralSubtraction"),
        ("SignalFramer", "AddFramer"), ("SignalIrfft", "AddIrfft"), ("SignalOverlapAdd", "AddOverlapAdd"),
        ("SignalPCAN", "AddPCAN"), ("SignalRfft", "AddRfft"), ("SignalStacker", "AddStacker"),
        ("SignalWindow", "AddWindow"))),
)


def descriptor(opcode: str) -> OpDescriptor | None:
    return OPS.get(opcode)


def emulated_ops() -> list[str]:
    return sorted(name for name, d in OPS.items() if d.emulated)
