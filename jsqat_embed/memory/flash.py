"""Flash estimate: model bytes + TFLM runtime code for exactly the model's ops.

Code sizes are ``.text`` of TFLM built for Cortex-M4F with arm-none-eabi-gcc
(-Os, --gc-sections, newlib-nano), measured on this project's workplace and
recorded in the steering notes (shared/TFLM_NOTES.md, "Flash: TFLM code size").
Each op's figure is what linking that op alone adds to the interpreter
framework; the figures share code (libgcc soft-double math used by every
Prepare, common helpers), so their sum over a model is an upper bound: a
measured 6-op CNN links 29 408 bytes against 57 k from the sum. We report the
upper bound, labelled as an estimate. Ops without a measured figure get the
figure of the measured op whose code has the same shape, flagged ``measured=False``. Other architectures (Xtensa,
RISC-V, M0+) use the Cortex-M4 figures as the nearest measured basis; docs/estimator.md
explains the error this brings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jsqat_embed.graph.model import Model
from jsqat_embed.memory.kernel_memory import CMSIS_NN

FRAMEWORK_BYTES = 11_204  # MicroInterpreter, allocator, planner, no ops
#: an op missing from the op table (an unknown custom op): a typical kernel
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
    from jsqat_embed.ops import descriptor

    for opcode in sorted({op.opcode for op in model.operators}):
        found = descriptor(opcode)
        if found is None:
            ops[opcode] = DEFAULT_OP_BYTES
            unmeasured.append(opcode)
            continue
        ops[opcode] = found.code.cmsis_nn if kernel_library == CMSIS_NN else found.code.reference
        if not found.code.measured:
            unmeasured.append(opcode)
    return RuntimeCode(FRAMEWORK_BYTES, ops, unmeasured)


def model_bytes(model: Model) -> int:
    """Bytes of the model as it will sit in flash: the .tflite itself, 16-aligned.

    A model compressed by ``jsqat-embed compress`` (DECODE operators) is measured
    the same way: its file already holds the encoded tensors.
    """
    size = len(model.source)
    return (size + 15) // 16 * 16
