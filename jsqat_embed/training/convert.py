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
    activations: str = "int8",
    bias_type: str | None = None,
    per_channel: bool = True,
) -> bytes:
    """Convert a Keras model to a full-int8 .tflite (int8 weights and activations).

    ``representative`` yields float32 input batches (or a callable returning such
    an iterable) used to calibrate activation ranges. ``io_dtype`` is the model's
    input/output type: ``int8`` (default), ``uint8`` or ``float32``.
    ``activations="int16"`` converts to TFLite's 16x8 scheme instead (int16
    activations, int8 weights, int64 biases); its ``io_dtype`` is then ``int16``
    or ``float32``. ``bias_type="int32"`` asks for int32 biases in a 16x8 model
    (the converter's ``_experimental_full_integer_quantization_bias_type``).
    ``per_channel=False`` quantizes every weight tensor per tensor
    (``_experimental_disable_per_channel``).
    ``activations="float32"`` converts without quantization (a float32 model).
    """
    import tensorflow as tf

    def dataset():
        source = representative() if callable(representative) else representative
        for batch in source:
            batch = np.asarray(batch, dtype=np.float32)
            for i in range(batch.shape[0]):
                yield [batch[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if activations == "float32":  # no quantization at all: TFLM's float32 kernels
        return bytes(converter.convert())
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    if activations == "int16":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    elif activations == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    else:
        raise ValueError(f"activations must be int8 or int16, got {activations!r}")
    if bias_type is not None:
        converter._experimental_full_integer_quantization_bias_type = getattr(tf, bias_type)
    if not per_channel:
        converter._experimental_disable_per_channel = True
    if io_dtype != "float32":
        converter.inference_input_type = getattr(tf, io_dtype)
        converter.inference_output_type = getattr(tf, io_dtype)
    return bytes(converter.convert())
