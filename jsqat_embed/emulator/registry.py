"""The one table of operators the emulator implements: op name -> kernel module.

Each module in ``kernels/`` defines ``KERNEL`` (a :class:`Kernel` subclass).
The table is explicit (no scanning of globals) and the modules are imported on
first use, so ``inspect`` can ask what is supported without loading kernels.
"""

from __future__ import annotations

import importlib

from jsqat_embed.emulator.kernel import Kernel

KERNEL_MODULES: dict[str, str] = {
    "ADD": "add",
    "AVERAGE_POOL_2D": "average_pool_2d",
    "BATCH_TO_SPACE_ND": "batch_to_space_nd",
    "CONCATENATION": "concatenation",
    "CONV_2D": "conv_2d",
    "DEPTHWISE_CONV_2D": "depthwise_conv_2d",
    "DEQUANTIZE": "dequantize",
    "FULLY_CONNECTED": "fully_connected",
    "HARD_SWISH": "hard_swish",
    "LEAKY_RELU": "leaky_relu",
    "LOGISTIC": "logistic",
    "MAX_POOL_2D": "max_pool_2d",
    "MEAN": "mean",
    "MUL": "mul",
    "PACK": "pack",
    "PAD": "pad",
    "PADV2": "padv2",
    "QUANTIZE": "quantize",
    "REDUCE_MAX": "reduce_max",
    "RELU": "relu",
    "RELU6": "relu6",
    "RESHAPE": "reshape",
    "SHAPE": "shape",
    "SOFTMAX": "softmax",
    "SPACE_TO_BATCH_ND": "space_to_batch_nd",
    "SQUEEZE": "squeeze",
    "STRIDED_SLICE": "strided_slice",
    "SUB": "sub",
    "TANH": "tanh",
    "TRANSPOSE": "transpose",
    "TFLM_DECODE": "decode",
}


def supported_ops() -> list[str]:
    return sorted(KERNEL_MODULES)


def kernel_class(opcode: str) -> type[Kernel] | None:
    module_name = KERNEL_MODULES.get(opcode)
    if module_name is None:
        return None
    module = importlib.import_module(f"jsqat_embed.emulator.kernels.{module_name}")
    return module.KERNEL
