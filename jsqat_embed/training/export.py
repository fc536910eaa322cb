"""Stage III's quantization scope, the .tflite export per mode, its evaluation and sizes.

Three kinds of .tflite come out of a run (``TrainConfig.export_kind``):

- ``int8``: full integer (int8 in, int8 out), calibrated on training images: the
  microcontroller model. Evaluated by the project's emulator, bit-exact with TFLM.
- ``mixed``: the paper's scope. Only the trainable layers were quantization-aware
  trained; the converter (``Optimize.DEFAULT``, no calibration set) makes them int8
  kernels and leaves the frozen backbone float32, with QUANTIZE / DEQUANTIZE between.
  Evaluated by LiteRT (the emulator runs integer models only).
- ``float``: SAT as the paper reports it, unquantized; evaluated by LiteRT.

Every kind is loaded and invoked once by the real TFLM (host build) to record whether
TFLM runs it and the arena it needs.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from jsqat_embed.errors import JsqatError
from jsqat_embed.training.metrics import ModelSizes, TflmCheck

#: Table 4's gzip size: zlib's default level, what `gzip FILE` writes. Level 9 measured
#: 2 % smaller on a pruned float VGG19 .tflite (80 MB) and took 8x as long (~2 min).
GZIP_LEVEL = 6
#: LiteRT batches: the test set goes through the subprocess in slices this size
_EVALUATION_BATCH = 64


def quantization_region(model, scope: str) -> list[str]:
    """Names of the layers stage III annotates: all of them (``all``), or (``trainable``)
    every layer from the first trainable one on that tfmot can quantize. A batch-norm
    layer whose convolution is frozen is not quantizable on its own and stays float."""
    import tensorflow_model_optimization as tfmot

    registry = tfmot.quantization.keras.default_8bit.Default8BitQuantizeRegistry()
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if scope == "all":
        return [layer.name for layer in layers]
    first = next((i for i, layer in enumerate(layers) if layer.trainable and layer.trainable_weights), None)
    if first is None:
        raise JsqatError("quantize trainable: the model has no trainable layer to quantize")
    region = []
    for index, layer in enumerate(layers[first:], start=first):
        if registry.supports(layer):
            region.append(layer.name)
        elif type(layer).__name__ == "BatchNormalization" and _folds_into_annotated_conv(layers, index, region):
            region.append(layer.name)  # folded into its convolution by tfmot's transforms
    return region


def _folds_into_annotated_conv(layers, index: int, region: list[str]) -> bool:
    inbound = layers[index].inbound_nodes[0].inbound_layers if layers[index].inbound_nodes else None
    inbound = inbound[0] if isinstance(inbound, list) and len(inbound) == 1 else inbound
    return bool(inbound is not None and not isinstance(inbound, list) and inbound.name in region
                and type(inbound).__name__ in ("Conv2D", "DepthwiseConv2D"))


def quantize_model(model, scope: str, preserve_sparsity: bool):
    """The quantization-aware model of ``model`` for ``scope`` (prune-preserving for JSQAT);
    frozen layers stay frozen."""
    import tensorflow_model_optimization as tfmot

    k = _keras()
    region = set(quantization_region(model, scope))
    quantize = tfmot.quantization.keras

    def annotate(layer):
        return quantize.quantize_annotate_layer(layer) if layer.name in region else layer

    annotated = k.models.clone_model(model, clone_function=annotate)
    annotated.set_weights(model.get_weights())
    for source, target in zip(model.layers, annotated.layers):
        target.trainable = source.trainable
    scheme = _prune_preserve_scheme() if preserve_sparsity else quantize.default_8bit.Default8BitQuantizeScheme()
    with quantize.quantize_scope():
        try:
            return quantize.quantize_apply(annotated, scheme)
        except (RuntimeError, ValueError) as exc:
            raise JsqatError(f"quantization-aware training cannot quantize this model ({scope} layers): {exc}") from exc


def _prune_preserve_scheme():
    """tfmot's prune-preserving 8-bit scheme, its layer support narrowed to what its 8-bit
    registry can configure.

    tfmot 0.8.1's prune-preserve registry says it supports BatchNormalization, then asks the
    8-bit registry for its config, which has none and raises. quantize_apply asks exactly
    that of an unannotated layer feeding the quantized region (it quantizes that layer's
    output), so a frozen batch norm just before the region (MobileNetV2's
    ``block_16_project_BN`` before ``Conv_1`` with the GAP head) failed stage III. Narrowed,
    the scheme does what the plain 8-bit one does there: that output gets no fake
    quantization, so the converter keeps the first region layer after it float (measured:
    MobileNetV2's ``Conv_1`` stays float32 in model_mixed.tflite; only the head is int8).
    Batch norms folded into an annotated convolution are unaffected."""
    import tensorflow_model_optimization as tfmot

    base = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme
    configurable = tfmot.quantization.keras.default_8bit.Default8BitQuantizeRegistry()

    class Registry(type(base().get_quantize_registry())):
        def supports(self, layer):
            return super().supports(layer) and configurable.supports(layer)

    class Scheme(base):
        def get_quantize_registry(self):
            return Registry()

    return Scheme()


def _keras():
    import tf_keras

    return tf_keras


def to_tflite(model, kind: str, calibration: np.ndarray) -> bytes:
    """The .tflite of ``kind`` (int8, mixed or float) from a Keras model."""
    from jsqat_embed.training.convert import to_int8_tflite

    if kind == "int8":
        return to_int8_tflite(model, [calibration[i : i + 1] for i in range(len(calibration))])
    if kind == "float":
        return to_int8_tflite(model, [], activations="float32")
    if kind == "mixed":
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        # No calibration set: only the layers with learned (QAT) ranges become int8.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return bytes(converter.convert())
    raise ValueError(f"unknown export kind {kind!r}")


def tflite_scores(tflite: bytes, kind: str, inputs: np.ndarray) -> tuple[np.ndarray, str]:
    """Class scores of the exported model on preprocessed ``inputs``, and what computed them."""
    if kind == "int8":
        from jsqat_embed.emulator import Emulator
        from jsqat_embed.verify.images import quantize_real

        emulator = Emulator(tflite)
        quantized = quantize_real(inputs.astype(np.float64), emulator.inputs[0])
        (out,) = emulator.run(quantized)
        output = emulator.outputs[0]
        return (out.astype(np.float64) - output.zero_point) * output.scale, "emulator (bit-exact with TFLM)"
    import importlib.util

    from jsqat_embed.verify.references import run_reference

    if importlib.util.find_spec("ai_edge_litert") is None:  # the `train` extra alone: TensorFlow's copy of LiteRT
        return _tensorflow_interpreter_scores(tflite, inputs), "LiteRT (tf.lite.Interpreter)"
    parts = []
    for start in range(0, len(inputs), _EVALUATION_BATCH):
        result = run_reference("litert", tflite, [inputs[start : start + _EVALUATION_BATCH].astype(np.float32)])
        if not result.ok:
            raise JsqatError(f"LiteRT could not run the exported {kind} model: {result.error}")
        parts.append(np.asarray(result.outputs[0], dtype=np.float64))
    return np.concatenate(parts), "LiteRT"


def _tensorflow_interpreter_scores(tflite: bytes, inputs: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    (input_detail,), (output_detail,) = interpreter.get_input_details(), interpreter.get_output_details()
    scores = []
    for sample in inputs.astype(np.float32):
        interpreter.set_tensor(input_detail["index"], sample[None])
        interpreter.invoke()
        scores.append(np.array(interpreter.get_tensor(output_detail["index"]))[0])
    return np.asarray(scores, dtype=np.float64)


def tflm_check(tflite: bytes) -> TflmCheck | None:
    """Load and invoke once in the real TFLM (a subprocess); its arena as TFLM records it.
    None when the tflite-micro wheel (the ``verify`` extra) is not installed."""
    import importlib.util

    from jsqat_embed.verify.references import run_reference

    if importlib.util.find_spec("tflite_micro") is None:
        return None

    result = run_reference("tflm", tflite, None)
    if not result.ok:
        return TflmCheck(runnable=False, error=result.error)
    return TflmCheck(runnable=True, arena_bytes=result.allocations.get("total"))


def sizes(tflite: bytes, keras_file: Path) -> ModelSizes:
    from jsqat_embed.compress.plan import pruned_variant
    from jsqat_embed.tflite import read_model

    model = read_model(tflite)
    variant = pruned_variant(model)
    constant = {"int8": 0, "float32": 0, "other": 0}
    for tensor in model.tensors:
        if tensor.data is not None:
            constant[tensor.dtype if tensor.dtype in constant else "other"] += tensor.nbytes
    return ModelSizes(
        keras_h5_bytes=keras_file.stat().st_size if keras_file.exists() else None,
        tflite_bytes=len(tflite),
        tflite_gzip_bytes=len(gzip.compress(tflite, GZIP_LEVEL)),
        decode_bytes=variant[1] if variant else None,
        int8_constant_bytes=constant["int8"],
        float32_constant_bytes=constant["float32"],
        other_constant_bytes=constant["other"],
    )


def layer_sparsity(tflite: bytes) -> list[dict]:
    """Per weighted layer of the .tflite: op, weight count and measured fraction of zeros
    (int8 layers; a float layer's zeros are counted from its float weights)."""
    from jsqat_embed.graph.analysis import summarize
    from jsqat_embed.tflite import read_model

    return [
        {"index": layer.index, "op": layer.op, "weights": layer.params, "sparsity": layer.weight_sparsity}
        for layer in summarize(read_model(tflite)).layers if layer.weight_sparsity is not None
    ]
