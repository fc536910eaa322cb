"""Flash estimate: model bytes + TFLM runtime code for exactly the model's ops.

Code sizes are ``.text`` of TFLM built for Cortex-M4F with arm-none-eabi-gcc
(-Os, --gc-sections, newlib-nano), measured on this project's workplace and
recorded in the steering notes (shared/TFLM_NOTES.md, "Flash: TFLM code size").
Each op's figure is what linking that op alone adds to the interpreter
framework; the figures share code (libgcc soft-double math used by every
Prepare, common helpers), so their sum over a model is an upper bound: a
measured 6-op CNN links 29 408 bytes against 57 k from the sum. We report the
upper bound, labelled as an estimate. Ops without a measured figure get a
per-family figure, flagged ``measured=False``. Other architectures (Xtensa,
RISC-V, M0+) use the Cortex-M4 figures as the nearest measured basis; docs/estimator.md
explains the error this brings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jsqat_embed.graph.model import Model
from jsqat_embed.memory.kernel_memory import CMSIS_NN

FRAMEWORK_BYTES = 11_204  # MicroInterpreter, allocator, planner, no ops

# op: (reference kernels, CMSIS-NN kernels) .text bytes, Cortex-M4F
MEASURED_OP_BYTES: dict[str, tuple[int, int]] = {
    "CONV_2D": (10_912, 31_296),
    "DEPTHWISE_CONV_2D": (9_824, 21_152),
    "FULLY_CONNECTED": (8_384, 19_936),
    "ADD": (12_512, 14_432),
    "SOFTMAX": (10_016, 10_976),
    "AVERAGE_POOL_2D": (5_536, 6_144),
    "MAX_POOL_2D": (5_664, 6_336),
    "MEAN": (8_416, 8_416),
    "RESHAPE": (1_440, 1_440),
    "QUANTIZE": (5_408, 5_408),
    "DEQUANTIZE": (2_848, 2_848),
    "TFLM_DECODE": (18_752, 18_752),
}

# Families without a measured figure: the nearest measured op of the same shape of code.
FAMILY_ESTIMATES: dict[str, int] = {
    "SUB": 12_512, "MUL": 12_512,  # like ADD: broadcast + requantize
    "REDUCE_MAX": 8_416, "SUM": 8_416,  # like MEAN
    "LOGISTIC": 5_408, "TANH": 5_408, "HARD_SWISH": 5_408, "LEAKY_RELU": 5_408,  # like QUANTIZE
    "RELU": 2_848, "RELU6": 2_848,
    "PAD": 4_000, "PADV2": 4_000, "CONCATENATION": 4_000, "TRANSPOSE": 4_000,
    "SPACE_TO_BATCH_ND": 4_000, "BATCH_TO_SPACE_ND": 4_000, "STRIDED_SLICE": 4_000,
    "PACK": 2_000, "SHAPE": 1_440, "SQUEEZE": 1_440,
}
DEFAULT_OP_BYTES = 8_000


@dataclass
class RuntimeCode:
    framework: int
    ops: dict[str, int]  # op -> bytes
    unmeasured: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.framework + sum(self.ops.values())


def runtime_code(model: Model, kernel_library: str) -> RuntimeCode:
    """TFLM code for the interpreter plus each distinct op of ``model`` (upper bound)."""
    ops: dict[str, int] = {}
    unmeasured: list[str] = []
    column = 1 if kernel_library == CMSIS_NN else 0
    for opcode in sorted({op.opcode for op in model.operators}):
        if opcode in MEASURED_OP_BYTES:
            ops[opcode] = MEASURED_OP_BYTES[opcode][column]
        else:
            ops[opcode] = FAMILY_ESTIMATES.get(opcode, DEFAULT_OP_BYTES)
            unmeasured.append(opcode)
    return RuntimeCode(FRAMEWORK_BYTES, ops, unmeasured)


def model_bytes(model: Model) -> int:
    """Bytes of the model as it will sit in flash: the .tflite itself, 16-aligned.

    A model compressed by ``jsqat-embed compress`` (DECODE operators) is measured
    the same way: its file already holds the encoded tensors.
    """
    size = len(model.source)
    return (size + 15) // 16 * 16
