"""PRELU: TFLM's ``reference_ops::BroadcastPrelu4DSlow`` (int8 input with int8 alpha, int16
input with int8 alpha) and ``BroadcastPrelu4DSlowFloat`` (float32).

Quantized: x - zero_point >= 0 is rescaled by in_scale/out_scale; below, the
product with (alpha - alpha zero point) by in_scale*alpha_scale/out_scale. The
alpha tensor broadcasts against the input like numpy (usually one slope per
channel, or shared across axes).
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.emulator import fixedpoint
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.kernels import _elementwise


class Prelu(Kernel):

    def prepare(self) -> None:
        source, alpha, output = self.op.input(0), self.op.input(1), self.op.outputs[0]
        if source is None or alpha is None:
            self.unsupported("PRELU needs an input and an alpha tensor")
        self.operands = [source, alpha]
        if output.dtype != source.dtype:
            self.unsupported(f"{source.dtype} input with {output.dtype} output (TFLM requires one type)", output)
        self.float = source.dtype == "float32"
        if self.float:
            if alpha.dtype != "float32":
                self.unsupported("float32 input needs a float32 alpha", alpha)
            return
        if source.dtype not in ("int8", "int16") or alpha.dtype != "int8":
            self.unsupported(f"{source.dtype} input with {alpha.dtype} alpha (TFLM: int8 or int16 input, int8 alpha)",
                             alpha)
        for tensor in (source, alpha, output):
            self.require_quantized(tensor)
        in_scale, alpha_scale, out_scale = (float(np.float32(t.scale)) for t in (source, alpha, output))
        self.identity = fixedpoint.quantize_multiplier(in_scale / out_scale)
        self.alpha_rescale = fixedpoint.quantize_multiplier(in_scale * alpha_scale / out_scale)
        self.input_offset = -source.zero_point
        self.alpha_offset = -alpha.zero_point
        self.output_offset = output.zero_point

    def eval(self, inputs):
        output = self.op.outputs[0]
        x, alpha = _elementwise.aligned(inputs, self.operands, [self.is_constant(0), self.is_constant(1)])
        samples = max(x.shape[0], alpha.shape[0])
        if self.float:
            x = x.astype(np.float32)
            result = np.where(x >= np.float32(0), x, x * alpha.astype(np.float32))
        else:
            shifted = x.astype(np.int64) + self.input_offset
            positive = fixedpoint.multiply_by_quantized_multiplier(shifted, *self.identity)
            product = fixedpoint.wrap_int32(shifted * (alpha.astype(np.int64) + self.alpha_offset))
            negative = fixedpoint.multiply_by_quantized_multiplier(product, *self.alpha_rescale)
            info = np.iinfo(output.dtype)
            result = np.clip(np.where(shifted >= 0, positive, negative) + self.output_offset, info.min, info.max)
        result = np.broadcast_to(result.astype(output.dtype), (samples, *result.shape[1:]))
        return [np.ascontiguousarray(result).reshape(samples, *output.shape)]


KERNEL = Prelu
