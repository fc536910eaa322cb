"""Names and numbers of the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs).

Facts of the file format only: enum values, and for each builtin options table the
slot, type and default of the fields we read. Keep TFLite spelling so a grep works
across TFLM and this project.
"""

# BuiltinOperator enum, by value.
BUILTIN_OPERATORS: tuple[str, ...] = (
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED",
    "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION",
    "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1",
    "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
    "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
    "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX",
    "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX",
    "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT",
    "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL",
    "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT",
    "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT",
    "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL",
    "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE",
    "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND",
    "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE",
    "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM",
    "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO",
    "RFFT2D", "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND",
    "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE",
    "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",
    "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE",
    "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM",
    "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
    "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE",
    "STABLEHLO_CUSTOM_CALL", "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND",
    "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG",
    "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER",
    "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD",
    "STABLEHLO_IOTA", "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT",
    "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
    "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE",
    "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT", "STABLEHLO_CASE",
)

TENSOR_TYPES: dict[int, str] = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
    6: "bool", 7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128",
    12: "uint64", 13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4",
    18: "bfloat16", 19: "int2", 20: "uint4", 21: "float8_e4m3fn", 22: "float8_e5m2",
}
TENSOR_TYPE_CODES: dict[str, int] = {name: code for code, name in TENSOR_TYPES.items()}

# numpy dtypes for the tensor types whose data we can hold as arrays.
NUMPY_DTYPES: dict[str, str] = {
    "float32": "float32", "float16": "float16", "int32": "int32", "uint8": "uint8",
    "int64": "int64", "bool": "bool", "int16": "int16", "int8": "int8",
    "float64": "float64", "uint64": "uint64", "uint32": "uint32", "uint16": "uint16",
}

PADDING = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}

# op name -> (BuiltinOptions union type, [(field, slot, kind, default)]).
# kind "padding"/"activation" are byte enums decoded through the tables above,
# "int32[]" is a vector. Ops absent here carry no options we need.
BUILTIN_OPTIONS: dict[str, tuple[int, list[tuple[str, int, str, object]]]] = {
    "CONV_2D": (1, [("padding", 0, "padding", 0), ("stride_w", 1, "int32", 0),
                    ("stride_h", 2, "int32", 0), ("fused_activation_function", 3, "activation", 0),
                    ("dilation_w_factor", 4, "int32", 1), ("dilation_h_factor", 5, "int32", 1),
                    ("quantized_bias_type", 6, "int8", 0)]),
    "DEPTHWISE_CONV_2D": (2, [("padding", 0, "padding", 0), ("stride_w", 1, "int32", 0),
                              ("stride_h", 2, "int32", 0), ("depth_multiplier", 3, "int32", 0),
                              ("fused_activation_function", 4, "activation", 0),
                              ("dilation_w_factor", 5, "int32", 1),
                              ("dilation_h_factor", 6, "int32", 1)]),
    "AVERAGE_POOL_2D": (5, [("padding", 0, "padding", 0), ("stride_w", 1, "int32", 0),
                            ("stride_h", 2, "int32", 0), ("filter_width", 3, "int32", 0),
                            ("filter_height", 4, "int32", 0),
                            ("fused_activation_function", 5, "activation", 0)]),
    "FULLY_CONNECTED": (8, [("fused_activation_function", 0, "activation", 0),
                            ("weights_format", 1, "int8", 0), ("keep_num_dims", 2, "bool", False),
                            ("asymmetric_quantize_inputs", 3, "bool", False),
                            ("quantized_bias_type", 4, "int8", 0)]),
    "SOFTMAX": (9, [("beta", 0, "float32", 0.0)]),
    "CONCATENATION": (10, [("axis", 0, "int32", 0), ("fused_activation_function", 1, "activation", 0)]),
    "ADD": (11, [("fused_activation_function", 0, "activation", 0), ("pot_scale_int16", 1, "bool", True)]),
    "RESHAPE": (17, [("new_shape", 0, "int32[]", None)]),
    "MUL": (21, [("fused_activation_function", 0, "activation", 0)]),
    "PAD": (22, []),
    "BATCH_TO_SPACE_ND": (24, []),
    "SPACE_TO_BATCH_ND": (25, []),
    "TRANSPOSE": (26, []),
    "MEAN": (27, [("keep_dims", 0, "bool", False)]),
    "SUB": (28, [("fused_activation_function", 0, "activation", 0), ("pot_scale_int16", 1, "bool", True)]),
    "SQUEEZE": (30, [("squeeze_dims", 0, "int32[]", None)]),
    "STRIDED_SLICE": (32, [("begin_mask", 0, "int32", 0), ("end_mask", 1, "int32", 0),
                           ("ellipsis_mask", 2, "int32", 0), ("new_axis_mask", 3, "int32", 0),
                           ("shrink_axis_mask", 4, "int32", 0), ("offset", 5, "bool", False)]),
    "DEQUANTIZE": (38, []),
    "PADV2": (43, []),
    "SHAPE": (55, [("out_type", 0, "int8", 2)]),
    "PACK": (59, [("values_count", 0, "int32", 0), ("axis", 1, "int32", 0)]),
    "LEAKY_RELU": (75, [("alpha", 0, "float32", 0.0)]),
    "QUANTIZE": (89, []),
    "HARD_SWISH": (91, []),
}
BUILTIN_OPTIONS["MAX_POOL_2D"] = (5, BUILTIN_OPTIONS["AVERAGE_POOL_2D"][1])
BUILTIN_OPTIONS["REDUCE_MAX"] = BUILTIN_OPTIONS["MEAN"]
BUILTIN_OPTIONS["SUM"] = BUILTIN_OPTIONS["MEAN"]
