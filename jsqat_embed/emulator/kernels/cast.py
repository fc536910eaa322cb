"""CAST: TFLM's ``kernels/cast.cc``, an element-wise ``static_cast<To>(from)``.

Inputs int8, int16, int32, uint32, float32 and bool; outputs int8, int16,
int32, uint32 and float32 (other output types fail TFLM's Eval). Integer to
integer keeps the low bits (two's complement). Float to integer truncates toward
zero and saturates to the target type, NaN giving 0: what the tflite-micro host
build does (measured: 300.0 -> int8 127, -1.5 -> uint32 0, inf -> INT32_MAX;
clang's saturating conversions). Out-of-range conversions are undefined in C,
so other builds (e.g. GCC for Cortex-M) may differ there. Integer to float rounds
to nearest, as the C conversion does.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator.kernel import Kernel

INPUT_TYPES = ("int8", "int16", "int32", "uint32", "float32", "bool")
OUTPUT_TYPES = ("int8", "int16", "int32", "uint32", "float32")


class Cast(Kernel):

    def prepare(self) -> None:
        source, output = self.op.input(0), self.op.outputs[0]
        if len(self.op.inputs) != 1 or len(self.op.outputs) != 1:
            self.unsupported("CAST takes one input and one output")
        if source.dtype not in INPUT_TYPES:
            self.unsupported(f"input type {source.dtype} (TFLM's CAST takes {', '.join(INPUT_TYPES)})", source)
        if output.dtype not in OUTPUT_TYPES:
            self.unsupported(f"output type {output.dtype} (TFLM's CAST writes {', '.join(OUTPUT_TYPES)})", output)
        if source.size != output.size:
            self.unsupported(f"input has {source.size} elements, output {output.size}")
        self.output_dtype = np.dtype(output.dtype)

    def eval(self, inputs):
        x = inputs[0]
        output = self.op.outputs[0]
        samples = 1 if self.is_constant(0) else x.shape[0]
        if x.dtype == np.float32 and self.output_dtype.kind in "iu":
            result = _float_to_integer(x, self.output_dtype)
        else:
            result = x.astype(self.output_dtype)
        return [result.reshape(samples, *output.shape)]


def _float_to_integer(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Truncation toward zero, saturated to ``dtype``'s range; NaN -> 0."""
    info = np.iinfo(dtype)
    truncated = np.trunc(np.nan_to_num(x.astype(np.float64), nan=0.0, posinf=np.inf, neginf=-np.inf))
    return np.clip(truncated, float(info.min), float(info.max)).astype(dtype)


KERNEL = Cast
