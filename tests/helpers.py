"""Shared test helpers: converter-made models (cached) and the TFLM oracle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from jsqat_embed.emulator import Emulator
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import run_reference


def keras_model_tflite(key: str, build: Callable[[], object], *, steps: int = 2, io_dtype: str = "int8",
                       activations: str = "int8", bias_type: str | None = None, per_channel: bool = True) -> Path:
    """Cached full-int8 .tflite of the Keras model ``build()`` returns (trained ``steps`` steps).

    ``key`` must change whenever ``build`` changes: it names the cache entry.
    ``activations="int16"`` makes a 16x8 model (int16 activations, int8 weights);
    pass ``io_dtype="int16"`` (or ``"float32"``) with it; ``bias_type="int32"`` gives it int32 biases;
    ``per_channel=False`` quantizes the weights per tensor. ``activations="float32"`` (with
    ``io_dtype="float32"``) leaves the model unquantized; ``steps=0`` skips training (weightless models).
    """
    from jsqat_embed.training import zoo

    def make() -> bytes:
        zoo.keras().utils.set_random_seed(0)
        model = build()
        input_shape = tuple(int(d) for d in model.input_shape[1:])
        return zoo.convert_trained(model, input_shape, steps=steps, io_dtype=io_dtype, activations=activations,
                                   bias_type=bias_type, per_channel=per_channel)

    suffix = (("" if activations == "int8" else f"-a{activations}") + (f"-b{bias_type}" if bias_type else "")
              + ("" if per_channel else "-per-tensor"))
    return zoo.cached_tflite(f"{key}-{io_dtype}{suffix}", make)


def assert_bit_exact_with_tflm(path: Path | bytes, samples: int = 8, seed: int = 0, **reference_options):
    """Emulator outputs must equal the real TFLM kernels' byte for byte; returns TFLM's run
    (its ``allocations`` are the recorded arena figures)."""
    emulator = Emulator(path)
    inputs = random_inputs(emulator, samples, seed)
    ours = emulator.run(*inputs)
    reference = run_reference("tflm", path, inputs, **reference_options)
    assert reference.ok, reference.error
    assert len(ours) == len(reference.outputs)
    for i, (mine, theirs) in enumerate(zip(ours, reference.outputs)):
        assert mine.dtype == theirs.dtype, (i, mine.dtype, theirs.dtype)
        assert mine.shape == theirs.shape, (i, mine.shape, theirs.shape)
        if not np.array_equal(mine, theirs):
            diff = np.abs(mine.astype(np.int64) - theirs.astype(np.int64))
            raise AssertionError(
                f"output {i}: {int((diff > 0).sum())} of {diff.size} values differ, max |diff| {int(diff.max())}"
            )
    return reference
