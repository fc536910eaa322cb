"""SUB: int8 and int16 as TFLM's ``reference_ops::Sub`` / ``BroadcastQuantSubSlow``; float32 exactly.

Same arithmetic as ADD with the second operand subtracted. Which precision
Prepare computes the rescaling multipliers in depends on the TFLM version:
``sub_common.cc`` at 90b983c does it in float, the tflite-micro wheel
0.dev20261023 (newer; its ``CalculateOpDataSub`` converts the scales to double
and divides with ``divsd``) in double, as ADD does. We follow the wheel, the
oracle the tests compare with: float multipliers differ from it by 1 LSB on a
few int16 outputs in a thousand (seen on the corpus model seanet_sub0 and on
converter-made 16x8 SUBs); no int8 case tried showed a difference.
"""

from __future__ import annotations

from jsqat_embed.emulator.kernels.add import Add


class Sub(Add):
    float_prepare = False  # True reproduces sub_common.cc at 90b983c

    def combine(self, a, b):
        return a - b


KERNEL = Sub
