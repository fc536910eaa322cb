"""TFLM's load-time verdict on a model, given before TFLM is asked.

TFLM refuses some well-formed models only when the interpreter starts (op
resolution, then each kernel's Prepare): an op it has no kernel for, a custom
op nobody registered, a hybrid operator, an input type its kernel does not
take. Every command asks here first, so the user reads TFLM's reason (not
"malformed", not a late failure on the device).
"""

from __future__ import annotations

from dataclasses import dataclass

from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.graph.model import Model, Operator
from jsqat_embed.ops.table import OPS

#: custom ops that need hardware TFLM's portable build does not have
NPU_OPS = {"ethos-u": "an Arm Ethos-U NPU (the model was compiled by Vela)"}


@dataclass(frozen=True)
class Refusal:
    operator: int
    opcode: str
    reason: str

    def __str__(self) -> str:
        return f"operator {self.operator} ({self.opcode}): {self.reason}"


def operator_refusals(op: Operator, *, npu: bool = False) -> list[str]:
    """Why TFLM would refuse this operator at load time (empty: it would not)."""
    found = OPS.get(op.opcode)
    if found is None:
        if op.is_custom:
            return [f"custom op '{op.opcode}' is not one TFLM provides; its kernel must be written and registered "
                    f"(TFLM: \"Didn't find op for custom opcode\")"]
        return [f"TFLM has no kernel for {op.opcode} (TFLM: \"Didn't find op for builtin opcode '{op.opcode}'\")"]
    if op.opcode in NPU_OPS and not npu:
        return [f"'{op.opcode}' runs only on {NPU_OPS[op.opcode]}; a TFLM build without that driver refuses it"]
    # Prepare's checks come first (TFLM reports them at AllocateTensors), then Eval's type switch.
    reasons = []
    for check in found.checks:
        ok, detail = check(op)
        if not ok:
            reasons.append(detail)
    source = op.input(found.data_input)
    if not reasons and found.tflm_dtypes is not None and source is not None and source.dtype not in found.tflm_dtypes:
        reasons.append(f"input type {source.dtype} is not supported by TFLM's {op.opcode} kernel (it takes "
                       f"{', '.join(found.tflm_dtypes)}; TFLM: \"Type {source.dtype} not supported\")")
    return reasons


def tflm_refusals(model: Model, *, npu: bool = False) -> list[Refusal]:
    """Every operator TFLM would refuse, with TFLM's reason; ``npu`` allows NPU-only ops."""
    # TFLM resolves every operator before any Prepare runs: missing kernels are reported first.
    unresolved = [op for op in model.operators if op.opcode not in OPS]
    ordered = unresolved + [op for op in model.operators if op.opcode in OPS]
    found = []
    for op in ordered:
        for reason in operator_refusals(op, npu=npu):
            found.append(Refusal(op.index, op.opcode, reason))
    return found


def require_tflm_runs(model: Model, *, npu: bool = False) -> None:
    """Raise :class:`UnsupportedModelError` with TFLM's reason when TFLM would refuse ``model``."""
    refusals = tflm_refusals(model, npu=npu)
    if refusals:
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        raise UnsupportedModelError(f"TFLM cannot run this model: {refusals[0]}{more}")
