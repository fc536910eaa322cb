"""Keras model -> full-integer .tflite with the TF converter (TensorFlow lives here only)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from collections.abc import Callable, Iterable  # noqa: E402

import numpy as np  # noqa: E402


def to_int8_tflite(
    model,
    representative: Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]],
    *,
    io_dtype: str = "int8",
) -> bytes:
    """Convert a Keras model to a full-int8 .tflite (int8 weights and activations).

    ``representative`` yields float32 input batches (or a callable returning such
    an iterable) used to calibrate activation ranges. ``io_dtype`` is the model's
    input/output type: ``int8`` (default), ``uint8`` or ``float32``.
    """
    import tensorflow as tf

    def dataset():
        source = representative() if callable(representative) else representative
        for batch in source:
            batch = np.asarray(batch, dtype=np.float32)
            for i in range(batch.shape[0]):
                yield [batch[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io_dtype != "float32":
        converter.inference_input_type = getattr(tf, io_dtype)
        converter.inference_output_type = getattr(tf, io_dtype)
    return bytes(converter.convert())
