"""Developer check: each emulated operator against TFLM's own intermediate tensors.

    python scripts/check_kernels.py MODEL.tflite [--samples 4]

Feeds every operator the *reference's* input tensors and compares its output
with the reference's output tensor, so one wrong kernel does not hide the
others. Operators without a kernel yet are listed as such.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import numpy as np

from jsqat_embed.emulator.registry import kernel_class
from jsqat_embed.tflite import read_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import run_reference


class _Inputs:
    def __init__(self, model):
        self.inputs = model.inputs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--samples", type=int, default=4)
    args = parser.parse_args()
    model = read_model(args.model)
    inputs = random_inputs(_Inputs(model), args.samples, seed=1)
    reference = run_reference("tflm", args.model, inputs, intermediates=True)
    if not reference.ok:
        print(reference.error)
        return 2
    values = reference.intermediates
    constants = {t.index: t.data for t in model.tensors if t.data is not None}
    status = Counter()
    for op in model.operators:
        try:
            cls = kernel_class(op.opcode)
        except ModuleNotFoundError:
            cls = None
        kernel = cls(op, constants) if cls else None
        if kernel is None:
            status[(op.opcode, "missing")] += 1
            continue
        if op.opcode == "TFLM_DECODE":
            for tensor, value in zip(op.outputs, kernel.eval([])):
                constants[tensor.index] = value
            continue
        args_ = [None if t is None else constants.get(t.index, values.get(t.index)) for t in op.inputs]
        outputs = kernel.eval(args_)
        for tensor, value in zip(op.outputs, outputs):
            theirs = values[tensor.index].reshape(value.shape)
            if np.array_equal(value, theirs):
                status[(op.opcode, "exact")] += 1
            else:
                diff = np.abs(value.astype(np.int64) - theirs.astype(np.int64))
                status[(op.opcode, "DIFF")] += 1
                print(f"{op.describe()}: {int((diff > 0).sum())}/{diff.size} differ, max {int(diff.max())}")
    for (opcode, state), count in sorted(status.items()):
        print(f"{opcode:20} {state:8} {count}")
    return 0 if not any(state == "DIFF" for _, state in status) else 1


if __name__ == "__main__":
    sys.exit(main())
