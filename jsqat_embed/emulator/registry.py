"""The emulator's view of the op table: op name -> kernel class.

Which module implements which op, and for which types, is part of each op's
descriptor (``jsqat_embed/ops/table.py``). Kernel modules define ``KERNEL`` and
are imported on first use, so ``inspect`` can ask what is supported without
loading kernels.
"""

from __future__ import annotations

import importlib

from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.ops import descriptor, emulated_ops


def supported_ops() -> list[str]:
    return emulated_ops()


def kernel_class(opcode: str) -> type[Kernel] | None:
    found = descriptor(opcode)
    if found is None or found.kernel is None:
        return None
    module = importlib.import_module(f"jsqat_embed.emulator.kernels.{found.kernel}")
    return module.KERNEL
