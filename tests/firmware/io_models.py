"""Converter-made models for the multi-input/multi-output and float-model tests.

``multi_io_model``: two inputs and two outputs of different dtypes and shapes.

Inputs: ``image`` float32[1,16,16,3] (the converter's QUANTIZE stays in the graph)
and ``features`` int8[1,8]. Outputs: ``scores`` float32[1,3] (after the converter's
DEQUANTIZE) and ``heatmap`` int8[1,7,7,2]. The TF converter gives every input and
output the same type, so the model is converted with float32 I/O and the QUANTIZE
of one input and the DEQUANTIZE of one output are then removed from the flatbuffer
(TensorFlow's own ``flatbuffer_utils``), which is what mixed-type models such as
detection heads look like. ``float_model``: a fully floating-point CNN. Both are
built once and cached like the zoo models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KEY = "multi-io-v2"


def _build() -> bytes:
    import tensorflow as tf
    from tensorflow.lite.tools import flatbuffer_utils

    from jsqat_embed.training import zoo

    k = zoo.keras()
    k.utils.set_random_seed(0)
    image = k.Input((16, 16, 3), name="image")
    features = k.Input((8,), name="features")
    x = k.layers.Conv2D(6, 3, activation="relu")(image)
    x = k.layers.MaxPooling2D(2)(x)
    heatmap = k.layers.Conv2D(2, 1, name="heatmap")(x)
    pooled = k.layers.GlobalAveragePooling2D()(x)
    mixed = k.layers.Concatenate()([pooled, k.layers.Dense(6, activation="relu")(features)])
    scores = k.layers.Dense(3, activation="softmax", name="scores")(mixed)
    model = k.Model([image, features], [scores, heatmap])
    rng = np.random.default_rng(0)
    x_image = rng.uniform(-1, 1, (32, 16, 16, 3)).astype(np.float32)
    x_features = rng.uniform(-1, 1, (32, 8)).astype(np.float32)
    model.compile(optimizer=k.optimizers.Adam(1e-3), loss=["sparse_categorical_crossentropy", "mse"])
    model.fit([x_image, x_features], [rng.integers(0, 3, 32), rng.uniform(-1, 1, (32, 7, 7, 2))], batch_size=8,
              epochs=1, verbose=0, shuffle=False)

    def calibration():
        for i in range(16):
            yield {"image": x_image[i : i + 1], "features": x_features[i : i + 1]}

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    flat = flatbuffer_utils.read_model_from_bytearray(bytearray(converter.convert()))
    graph = flat.subgraphs[0]

    def opcode(op) -> int:
        code = flat.operatorCodes[op.opcodeIndex]
        return max(code.builtinCode, code.deprecatedBuiltinCode)

    quantize, dequantize = 114, 6  # BuiltinOperator.QUANTIZE, DEQUANTIZE
    for position, tensor in enumerate(graph.inputs):
        if len(graph.tensors[tensor].shape) == 2:  # features: the int8 input
            op = next(o for o in graph.operators if opcode(o) == quantize and o.inputs[0] == tensor)
            graph.inputs[position] = op.outputs[0]
            graph.tensors[op.outputs[0]].name = b"features"
            graph.operators.remove(op)
    for position, tensor in enumerate(graph.outputs):
        if len(graph.tensors[tensor].shape) == 4:  # heatmap: the int8 output
            op = next(o for o in graph.operators if opcode(o) == dequantize and o.outputs[0] == tensor)
            graph.outputs[position] = op.inputs[0]
            graph.tensors[op.inputs[0]].name = b"heatmap"
            graph.operators.remove(op)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(flat))


def multi_io_model() -> Path:
    """Path of the cached model (converted on the first call; needs TensorFlow then)."""
    from jsqat_embed.training import zoo

    return zoo.cached_tflite(KEY, _build)


def float_model() -> Path:
    """A fully floating-point model (float32 weights and activations), as the converter
    writes it without quantization: verify and build refuse it."""
    from jsqat_embed.training import zoo

    def build() -> bytes:
        import tensorflow as tf

        k = zoo.keras()
        k.utils.set_random_seed(0)
        model = k.Sequential([k.Input((8, 8, 3)), k.layers.Conv2D(4, 3, activation="relu"),
                              k.layers.GlobalAveragePooling2D(), k.layers.Dense(2, activation="softmax")])
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    return zoo.cached_tflite("float-cnn-v1", build)
