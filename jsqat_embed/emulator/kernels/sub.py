"""SUB: int8 as TFLM's ``reference_ops::Sub`` / ``BroadcastQuantSubSlow``; float32 exactly.

Same arithmetic as ADD with the second operand subtracted, except that
``sub_common.cc`` computes the rescaling multipliers in float, not double.
"""

from __future__ import annotations

from jsqat_embed.emulator.kernels.add import Add


class Sub(Add):
    float_prepare = True

    def combine(self, a, b):
        return a - b


KERNEL = Sub
