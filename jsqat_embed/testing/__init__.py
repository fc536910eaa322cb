"""Bit-exactness checks for users' own test suites.

    from jsqat_embed.testing import assert_bit_exact

    def test_my_model_is_bit_exact():
        assert_bit_exact("model.tflite", samples=8)

A pytest plugin (registered through the ``pytest11`` entry point) also offers
the ``bit_exact`` fixture, which is this function.
"""

from __future__ import annotations

import numpy as np

from jsqat_embed.verify.references import TFLM


def assert_bit_exact(model, inputs: list[np.ndarray] | np.ndarray | None = None, *, samples: int = 8, seed: int = 0) -> None:
    """Raise AssertionError unless the emulator matches the real TFLM kernels byte for byte.

    ``model`` is a path, the model bytes or an Emulator; ``inputs`` one array per
    model input (a single array for single-input models), or None for ``samples``
    seeded random inputs. The message names the first divergent operator.
    """
    from jsqat_embed.verify.compare import verify

    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    report = verify(model, inputs, samples=samples, seed=seed, references=(TFLM,))
    oracle = report.references[TFLM]
    if not oracle.ok:
        raise AssertionError(f"the TFLM reference failed: {oracle.error}")
    if report.bit_exact:
        return
    message = f"{report.mismatches} of {report.samples} samples differ from TFLM (max |diff| {oracle.max_abs_diff})"
    if report.first_divergence:
        d = report.first_divergence
        message += (f"; first divergent operator {d.operator} ({d.op}) writing '{d.tensor}': "
                    f"{d.differing_values} of {d.values} values differ, max |diff| {d.max_abs_diff}")
    raise AssertionError(message)


__all__ = ["assert_bit_exact"]
