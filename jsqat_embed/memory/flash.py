"""Flash estimate: model bytes + TFLM runtime code for exactly the model's ops.

Code sizes are measured, not copied: ``scripts/measure_code_size.py`` links TFLM for
Cortex-M4F as the generated CMake project builds it (arm-none-eabi-gcc -Os, function
sections, --gc-sections, newlib-nano), with TFLM's reference kernels and with CMSIS-NN,
and writes :mod:`jsqat_embed.memory.code_sizes`:

- ``FRAMEWORK``: the interpreter, the C library and the generated application's own code,
  with no op registered;
- per op, ``solo``: what linking that op alone adds, and ``exclusive``: the code only that
  op uses (every op linked, minus every op but it).

The runtime of a model is ``FRAMEWORK + sum(exclusive) + max(solo - exclusive)`` over its
distinct ops: each op's own code, plus the code ops share (soft double math in Prepare,
quantization helpers, the C library's pieces) counted once, the largest share standing for
their union. tests/firmware/test_qemu.py links generated projects of models with different
op mixes and checks the estimate against the linked image (within 10 %; figures in
docs/estimator.md). Ops the measurement did not reach use the op table's figure and are
listed as unmeasured. Xtensa, RISC-V and M0+ boards use the Cortex-M4 figures as the
nearest measured basis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jsqat_embed.graph.model import Model
from jsqat_embed.memory.kernel_memory import CMSIS_NN, REFERENCE

#: without generated figures: the interpreter framework alone, as first measured (TFLM_NOTES)
FALLBACK_FRAMEWORK_BYTES = 11_204
#: an op missing from the op table (an unknown custom op): a typical kernel
DEFAULT_OP_BYTES = 8_000


@dataclass
class RuntimeCode:
    framework: int
    ops: dict[str, int]  # op -> bytes only it links
    unmeasured: list[str] = field(default_factory=list)
    shared: int = 0  # code the ops share, counted once

    @property
    def total(self) -> int:
        return self.framework + self.shared + sum(self.ops.values())


def _measured():
    try:
        from jsqat_embed.memory import code_sizes
    except ImportError:
        return None
    return code_sizes


def _figures_library(kernel_library: str) -> str:
    return CMSIS_NN if kernel_library == CMSIS_NN else REFERENCE


def runtime_code(model: Model, kernel_library: str) -> RuntimeCode:
    """TFLM and application code for the interpreter plus each distinct op of ``model``."""
    from jsqat_embed.ops import descriptor

    library = _figures_library(kernel_library)
    measured = _measured()
    framework = measured.FRAMEWORK[library] if measured else FALLBACK_FRAMEWORK_BYTES
    ops: dict[str, int] = {}
    unmeasured: list[str] = []
    shared = 0
    for opcode in sorted({op.opcode for op in model.operators}):
        figures = measured.OPS.get(opcode, {}).get(library) if measured else None
        if figures is not None:
            solo, exclusive = figures
            ops[opcode] = exclusive
            shared = max(shared, solo - exclusive)
            continue
        found = descriptor(opcode)
        ops[opcode] = DEFAULT_OP_BYTES if found is None else (
            found.code.cmsis_nn if library == CMSIS_NN else found.code.reference)
        unmeasured.append(opcode)
    return RuntimeCode(framework, ops, unmeasured, shared)


def model_bytes(model: Model) -> int:
    """Bytes of the model as it will sit in flash: the .tflite itself, 16-aligned.

    A model compressed by ``jsqat-embed compress`` (DECODE operators) is measured
    the same way: its file already holds the encoded tensors.
    """
    size = len(model.source)
    return (size + 15) // 16 * 16
