"""What one operator is to jsqat-embed: the parts every stage of the pipeline needs.

An :class:`OpDescriptor` gathers, for one TFLite operator (TFLite spelling), its
options table in the schema, the emulator kernel and the activation types it
emulates, its arena rule, its code size with the source of the figure, the
``MicroMutableOpResolver`` method that registers it, TFLM's load-time
rules as small checks, and the output shapes TFLM's Prepare computes. The
descriptors live in one table, ``ops/table.py``; the docs' support table is
generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from jsqat_embed.graph.model import Operator

#: A support check in Vela's style: ``check(op) -> (ok, detail)``; its docstring is the
#: user-facing rule, and ``detail`` says what in this operator breaks it.
Check = Callable[[Operator], "tuple[bool, str]"]


@dataclass(frozen=True)
class CodeSize:
    """``.text`` bytes TFLM links for the op on Cortex-M4F, with where the figure comes from."""

    reference: int
    cmsis_nn: int
    source: str  # "measured" (shared/TFLM_NOTES.md) or "estimate: ..." naming the op it is taken from

    @property
    def measured(self) -> bool:
        return self.source == "measured"


@dataclass(frozen=True)
class OpDescriptor:
    name: str  # TFLite spelling: builtin enum name, or the custom code for custom ops
    resolver: str  # MicroMutableOpResolver method, e.g. "AddConv2D"
    code: CodeSize
    custom: bool = False
    options: str | None = None  # the op's options table in the TFLite schema, e.g. "Conv2DOptions"
    #: TFLM's kernels: the types its Eval accepts for the activation input (None: not recorded here)
    tflm_dtypes: tuple[str, ...] | None = None
    #: TFLM's load-time rules beyond the input type, each a Vela-style check
    checks: tuple[Check, ...] = ()
    #: emulator kernel module in ``jsqat_embed/emulator/kernels`` and the first-input types it emulates
    kernel: str | None = None
    dtypes: tuple[str, ...] = ()
    #: the input whose type selects TFLM's kernel (TRANSPOSE_CONV: 2; its input 0 is the output shape)
    data_input: int = 0
    #: arena rule: ``memory(op, kernel_library) -> KernelMemory`` (jsqat_embed/memory/kernel_memory.py)
    memory: Callable | None = None
    #: shape rule: ``shape(op) -> [output shape or None, ...]``, what TFLM's Prepare computes from the
    #: inputs and options (jsqat_embed/ops/shapes.py); None: the op's shapes are not checked at load
    shape: Callable | None = None
    #: input positions TFLM's kernel treats as optional (an index of -1 there means "omitted");
    #: every other position must name a tensor
    optional_inputs: tuple[int, ...] = ()
    #: (numbers of inputs, numbers of outputs) TFLM's Prepare accepts (its NumInputs/NumOutputs
    #: checks, each seen refusing a model in the differential fuzz run); None: not checked by TFLM
    #: or not recorded here (ADD, SUB, FULLY_CONNECTED, the pools, CONCATENATION take extra ones)
    operand_counts: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def emulated(self) -> bool:
        return self.kernel is not None
