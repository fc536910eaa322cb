"""JSQAT training, following the paper's Algorithm 1 (Aboutahoun et al., IEEE Access).

Stage I   transfer learning: one epoch with only the new head trainable, then the
          top layers unfrozen until about ``trainable_fraction`` of the parameters
          train, with loss CE + l1*sum|w| + l2*sum w^2 over the trainable kernels.
Stage II  sparsity-aware training: layer-wise unstructured magnitude pruning of every
          Conv2D / Dense layer to ``sparsity`` with retraining
          (tfmot, polynomial schedule reaching the target before the stage ends),
          then stripped.
Stage III quantization-aware training that preserves the zeros
          (``Default8BitPrunePreserveQuantizeScheme``), then a full-int8 .tflite
          calibrated on training images.

Modes: ``baseline`` (I + post-training int8), ``qat`` (I + III without pruning),
``sat`` (I + II + post-training int8), ``jsqat`` (I + II + III).

TensorFlow is imported here only. Each finished stage is saved in the run
directory with ``state.json``, and the stage in progress checkpoints its weights
after every epoch (``<stage>.partial.h5``); ``resume=True`` skips finished stages
and continues the interrupted one from its last finished epoch. Images are
resized with the same PIL code ``verify --images`` and the firmware golden
vectors use, then preprocessed in TensorFlow.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gzip  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from jsqat_embed.data.breakhis import Dataset, Record, class_weights, scan_breakhis, scan_class_folders, split  # noqa: E402
from jsqat_embed.errors import InputDataError, JsqatError  # noqa: E402

MODES = ("baseline", "qat", "sat", "jsqat")
BACKBONES = {"vgg19": "caffe", "resnet50": "caffe", "mobilenetv2": "symmetric"}
REGULARIZED = ("Conv2D", "DepthwiseConv2D", "Dense")
#: tfmot prunes Conv2D and Dense kernels; it registers DepthwiseConv2D with no prunable
#: weights (its 3x3 per-channel filters are tiny and pruning them costs accuracy), so
#: depthwise layers stay dense, as in tfmot's own MobileNet examples.
PRUNABLE = ("Conv2D", "Dense")


@dataclass
class TrainConfig:
    data: str
    backbone: str = "mobilenetv2"
    img_size: int = 96
    alpha: float = 0.35
    mode: str = "jsqat"
    sparsity: float = 0.5
    reg: str = "l1"
    lam: float = 0.001
    epochs: int = 50
    head_epochs: int = 1
    trainable_fraction: float = 0.3
    batch_size: int = 16
    learning_rate: float = 1e-4
    weights: str = "imagenet"
    magnification: str = "40"
    dataset: str = "breakhis"  # or "folders"
    split_by: str = "patient"
    seed: int = 0
    augment: bool = True

    def check(self) -> None:
        if self.backbone not in BACKBONES:
            raise InputDataError(f"backbone {self.backbone!r}: choose {', '.join(BACKBONES)}")
        if self.mode not in MODES:
            raise InputDataError(f"mode {self.mode!r}: choose {', '.join(MODES)}")
        if self.reg not in ("l1", "l1l2"):
            raise InputDataError(f"reg {self.reg!r}: choose l1 or l1l2")
        if not 0 <= self.sparsity < 1:
            raise InputDataError(f"sparsity {self.sparsity} must be in [0, 1)")
        if self.lam < 0 or self.epochs < 1 or self.img_size < 32:
            raise InputDataError("lambda must be >= 0, epochs >= 1 and img-size >= 32")

    @property
    def preprocess(self) -> str:
        return BACKBONES[self.backbone]

    @property
    def l1_l2(self) -> tuple[float, float]:
        """The paper's modes: L1 (l2 = 0) or L1L2 (l1 = l2 = lambda)."""
        return (self.lam, 0.0) if self.reg == "l1" else (self.lam, self.lam)


def keras():
    import tf_keras

    return tf_keras


# --- data ---------------------------------------------------------------------


def load_pixels(records: list[Record], size: int) -> np.ndarray:
    """uint8 (N, size, size, 3), resized by PIL bilinear exactly as verify --images does."""
    from PIL import Image

    out = np.empty((len(records), size, size, 3), dtype=np.uint8)
    for i, record in enumerate(records):
        with Image.open(record.path) as image:
            out[i] = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8)
    return out


def preprocess(pixels, kind: str):
    """Float model inputs from 0..255 pixels (numpy or tf), as jsqat_embed.verify.images does."""
    if kind == "symmetric":
        return pixels / 127.5 - 1.0
    means = np.array([103.939, 116.779, 123.68], dtype=np.float32)
    return pixels[..., ::-1] - means


def make_dataset(pixels: np.ndarray, labels: np.ndarray, config: TrainConfig, *, training: bool):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((pixels, labels))
    if training:
        ds = ds.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)

    def augment(image, label):
        image = tf.cast(image, tf.float32)
        if training and config.augment:
            # Histology has no orientation: flips and 90 degree turns are free data;
            # stain variation is modelled by mild brightness/contrast/saturation jitter.
            image = tf.image.random_flip_left_right(image)
            image = tf.image.random_flip_up_down(image)
            image = tf.image.rot90(image, tf.random.uniform([], 0, 4, dtype=tf.int32))
            image = tf.image.random_brightness(image, 12.0)
            image = tf.image.random_contrast(image, 0.9, 1.1)
            image = tf.image.random_saturation(image, 0.9, 1.1)
            image = tf.clip_by_value(image, 0.0, 255.0)
        return preprocess(image, config.preprocess), label

    return ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE).batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


# --- model --------------------------------------------------------------------


def build_model(config: TrainConfig, classes: int):
    """Backbone (keras.applications) + global average pooling + dense softmax head."""
    k = keras()
    shape = (config.img_size, config.img_size, 3)
    weights = None if config.weights == "none" else config.weights
    local = weights not in (None, "imagenet")
    try:
        if config.backbone == "mobilenetv2":
            base = k.applications.MobileNetV2(input_shape=shape, alpha=config.alpha, include_top=False,
                                              weights=None if local else weights)
        elif config.backbone == "vgg19":
            base = k.applications.VGG19(input_shape=shape, include_top=False, weights=None if local else weights)
        else:
            base = k.applications.ResNet50(input_shape=shape, include_top=False, weights=None if local else weights)
    except Exception as exc:  # download failures, unsupported sizes for ImageNet weights
        raise JsqatError(
            f"cannot build {config.backbone} with weights={config.weights!r}: {exc}. Offline, pass --weights none "
            "or --weights PATH to a local .h5 of the backbone's ImageNet weights") from exc
    if local:
        try:
            base.load_weights(weights, by_name=True, skip_mismatch=True)
        except Exception as exc:
            raise JsqatError(f"cannot load backbone weights from {weights}: {exc}") from exc
    x = k.layers.GlobalAveragePooling2D(name="head_pool")(base.output)
    outputs = k.layers.Dense(classes, activation="softmax", name="head_dense")(x)
    return k.Model(base.input, outputs, name=f"jsqat_{config.backbone}"), base


def unfreeze_top(model, base, fraction: float) -> int:
    """Make the top backbone layers trainable until ~``fraction`` of all parameters train.

    BatchNormalization layers stay frozen (their statistics come from ImageNet and
    small medical batches would wreck them). Returns the trainable parameter count.
    """
    k = keras()
    total = model.count_params()
    budget = fraction * total
    for layer in base.layers:
        layer.trainable = False
    counted = sum(int(np.prod(w.shape)) for layer in model.layers if layer not in base.layers for w in layer.weights)
    for layer in reversed(base.layers):
        if counted >= budget:
            break
        if isinstance(layer, k.layers.BatchNormalization):
            continue
        layer.trainable = True
        counted += sum(int(np.prod(w.shape)) for w in layer.weights)
    return counted


def with_regularization(model, l1: float, l2: float):
    """A copy of ``model`` whose trainable kernels carry l1*sum|w| + l2*sum w^2 in the loss."""
    k = keras()
    if l1 == 0 and l2 == 0:
        return model
    for layer in model.layers:
        if layer.trainable and hasattr(layer, "kernel_regularizer") and type(layer).__name__ in REGULARIZED:
            layer.kernel_regularizer = k.regularizers.L1L2(l1=l1, l2=l2)
        if layer.trainable and type(layer).__name__ == "DepthwiseConv2D":
            layer.depthwise_regularizer = k.regularizers.L1L2(l1=l1, l2=l2)
    clone = k.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    for source, target in zip(model.layers, clone.layers):
        target.trainable = source.trainable
    return clone


def compile_model(model, learning_rate: float):
    k = keras()
    model.compile(optimizer=k.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# --- stages -------------------------------------------------------------------


def prune(model, sparsity: float, epochs: int, steps_per_epoch: int, fit):
    """Layer-wise magnitude pruning of every prunable layer to ``sparsity`` with retraining; stripped.

    ``fit(model, extra_callbacks)`` trains the wrapped model (see ``train_run``'s epoch
    checkpoints); the wrappers' pruning step is a weight, so a resumed fit continues the
    schedule where it stopped."""
    import tensorflow_model_optimization as tfmot

    total = max(1, epochs * steps_per_epoch)
    end = max(1, int(total * 0.75)) if total > 4 else max(1, total - 1)
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0, end_step=end,
        frequency=max(1, min(steps_per_epoch // 2, end // 4)) if total > 4 else 1)

    def wrap(layer):
        # The wrapper reuses the layer (and its weights); frozen layers are pruned too,
        # their masks computed from the ImageNet magnitudes, but stay untrained.
        if type(layer).__name__ in PRUNABLE:
            wrapper = tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
            wrapper.trainable = layer.trainable
            return wrapper
        return layer

    pruned = keras().models.clone_model(model, clone_function=wrap)
    compile_model(pruned, 1e-4)
    fit(pruned, [tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


def quantization_aware(model, preserve_sparsity: bool, fit):
    """Stage III's QAT model (prune-preserving for jsqat), trained by ``fit(model, extra_callbacks)``."""
    import tensorflow_model_optimization as tfmot

    annotated = tfmot.quantization.keras.quantize_annotate_model(model)
    if preserve_sparsity:
        scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        quantized = tfmot.quantization.keras.quantize_apply(annotated, scheme)
    else:
        quantized = tfmot.quantization.keras.quantize_apply(annotated)
    compile_model(quantized, 1e-5)
    fit(quantized, [])
    return quantized


def export_int8(model, calibration: np.ndarray) -> bytes:
    from jsqat_embed.training.convert import to_int8_tflite

    return to_int8_tflite(model, [calibration[i : i + 1] for i in range(len(calibration))])


# --- metrics ------------------------------------------------------------------


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Binary metrics with class 1 (malignant) as positive; multi-class gets accuracy and the matrix."""
    predictions = scores.argmax(axis=1)
    classes = scores.shape[1]
    matrix = np.zeros((classes, classes), dtype=int)
    for truth, guess in zip(labels, predictions):
        matrix[truth, guess] += 1
    recalls = [matrix[c, c] / matrix[c].sum() for c in range(classes) if matrix[c].sum()]
    result = {
        "accuracy": float((predictions == labels).mean()),
        "balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
        "confusion_matrix": matrix.tolist(),
        "samples": int(len(labels)),
    }
    if classes == 2:
        tn, fp, fn, tp = matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1]
        precision = tp / (tp + fp) if tp + fp else 0.0
        sensitivity = tp / (tp + fn) if tp + fn else 0.0
        result.update({
            "sensitivity": float(sensitivity),
            "specificity": float(tn / (tn + fp)) if tn + fp else 0.0,
            "f1": float(2 * precision * sensitivity / (precision + sensitivity)) if precision + sensitivity else 0.0,
            "roc_auc": roc_auc(labels, scores[:, 1]),
        })
    return result


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Mann-Whitney form of the ROC AUC, ties counted half; None with a single class."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    if not len(positive) or not len(negative):
        return None
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(positive) * len(negative)))


def int8_scores(tflite: bytes, inputs: np.ndarray) -> np.ndarray:
    """Class scores of the int8 model, run by the project's emulator (bit-exact with TFLM)."""
    from jsqat_embed.emulator import Emulator
    from jsqat_embed.verify.images import quantize_real

    emulator = Emulator(tflite)
    quantized = quantize_real(inputs.astype(np.float64), emulator.inputs[0])
    (out,) = emulator.run(quantized)
    output = emulator.outputs[0]
    return (out.astype(np.float64) - output.zero_point) * output.scale


def layer_sparsity(tflite: bytes) -> list[dict]:
    from jsqat_embed.graph.analysis import summarize
    from jsqat_embed.tflite import read_model

    return [
        {"index": layer.index, "op": layer.op, "weights": layer.params, "sparsity": layer.weight_sparsity}
        for layer in summarize(read_model(tflite)).layers if layer.weight_sparsity is not None
    ]


def sizes(run_dir: Path, tflite: bytes, keras_file: Path) -> dict:
    from jsqat_embed.compress.plan import pruned_variant
    from jsqat_embed.tflite import read_model

    variant = pruned_variant(read_model(tflite))
    return {
        "keras_bytes": keras_file.stat().st_size if keras_file.exists() else None,
        "tflite_bytes": len(tflite),
        "tflite_gzip_bytes": len(gzip.compress(tflite, 9)),
        "pruned_encoding_bytes": variant[1] if variant else None,
    }


# --- the run ------------------------------------------------------------------


@dataclass
class RunState:
    completed: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    #: the stage in progress and its finished epochs, whose weights are in <stage>.partial.h5
    partial: dict = field(default_factory=dict)


def _load_dataset(config: TrainConfig) -> Dataset:
    if config.dataset == "breakhis":
        return scan_breakhis(config.data, config.magnification)
    if config.dataset == "folders":
        return scan_class_folders(config.data)
    raise InputDataError(f"dataset kind {config.dataset!r}: choose breakhis or folders")


def train_run(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress=None) -> dict:
    """Run the configured stages into ``run_dir``; return metrics.json's content."""
    config.check()
    run_dir = Path(run_dir)
    state_path = run_dir / "state.json"
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise InputDataError(f"{run_dir} is not empty; pass --resume to continue it or choose another directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    state = RunState(config=asdict(config))
    if resume and state_path.exists():
        state = RunState(**json.loads(state_path.read_text()))
        if state.config != asdict(config):
            raise InputDataError(f"{run_dir} was started with a different configuration; resume needs the same one")

    def save_state() -> None:
        temporary = state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(state), indent=2))
        os.replace(temporary, state_path)

    def finish(stage: str, started: float) -> None:
        state.completed.append(stage)
        state.seconds[stage] = round(time.time() - started, 1)
        if state.partial:  # the finished stage's (or stage III's, within export) epoch checkpoint
            (run_dir / f"{state.partial['stage']}.partial.h5").unlink(missing_ok=True)
            state.partial = {}
        save_state()

    def checkpoint_of(stage: str) -> Path | None:
        """The epoch checkpoint a resumed ``stage`` continues from, if there is one."""
        partial = run_dir / f"{stage}.partial.h5"
        return partial if state.partial.get("stage") == stage and partial.exists() else None

    def fitter(stage: str, epochs: int):
        """Train for ``epochs``, checkpointing weights after every epoch; a resumed run reloads the
        last checkpoint of this stage and continues from the next epoch (the optimizer's moments
        restart; the weights, pruning masks and pruning step do not)."""
        def fit(model, extra_callbacks):
            start = 0
            if checkpoint_of(stage):
                model.load_weights(str(checkpoint_of(stage)))
                start = int(state.partial["epochs"])
                notify(f"{stage}: resuming after epoch {start} of {epochs}")
            checkpoint = _EpochCheckpoint(run_dir / f"{stage}.partial.h5", stage, state, save_state)
            model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=start, class_weight=weights,
                      verbose=0, callbacks=[*extra_callbacks, checkpoint, *callbacks])
        return fit

    def notify(message: str) -> None:
        if progress is not None:
            progress(message)

    k = keras()
    k.utils.set_random_seed(config.seed)
    dataset = _load_dataset(config)
    parts = split(dataset, by=config.split_by, seed=config.seed)
    notify(f"data: {len(dataset.records)} images ({len(dataset.unreadable)} unreadable), split by {parts.by}: "
           f"{len(parts.train)}/{len(parts.validation)}/{len(parts.test)}")
    train_x = load_pixels(parts.train, config.img_size)
    train_y = np.array([r.label for r in parts.train])
    val_records = parts.validation or parts.test
    val_x, val_y = load_pixels(val_records, config.img_size), np.array([r.label for r in val_records])
    test_x, test_y = load_pixels(parts.test, config.img_size), np.array([r.label for r in parts.test])
    train_ds = make_dataset(train_x, train_y, config, training=True)
    val_ds = make_dataset(val_x, val_y, config, training=False)
    weights = class_weights(parts.train, len(dataset.classes))
    steps = int(np.ceil(len(train_y) / config.batch_size))
    callbacks = [_ProgressCallback(notify)] if progress else []

    stage1, stage2, stage3 = run_dir / "stage1.h5", run_dir / "stage2.h5", run_dir / "stage3_qat.h5"
    model = None
    if "stage1" not in state.completed:
        started = time.time()
        model, base = build_model(config, len(dataset.classes))
        if not checkpoint_of("stage1"):  # a resumed stage I has its head epoch in the checkpoint
            notify("stage I: head only, 1 epoch")
            base.trainable = False
            compile_model(model, 1e-3).fit(train_ds, validation_data=val_ds, epochs=config.head_epochs,
                                           class_weight=weights, verbose=0, callbacks=callbacks)
        base.trainable = True
        trainable = unfreeze_top(model, base, config.trainable_fraction)
        notify(f"stage I: {trainable:,} of {model.count_params():,} parameters trainable, "
               f"{config.reg} lambda {config.lam}, {config.epochs} epochs")
        model = compile_model(with_regularization(model, *config.l1_l2), config.learning_rate)
        fitter("stage1", config.epochs)(model, [])
        model.save(stage1, include_optimizer=False)
        finish("stage1", started)
    if config.mode in ("sat", "jsqat") and "stage2" not in state.completed:
        started = time.time()
        model = model or k.models.load_model(stage1, compile=False)
        notify(f"stage II: pruning every Conv2D/Dense to {config.sparsity:.0%}, {config.epochs} epochs")
        model = prune(model, config.sparsity, config.epochs, steps, fitter("stage2", config.epochs))
        model.save(stage2, include_optimizer=False)
        finish("stage2", started)
    float_model_path = stage2 if config.mode in ("sat", "jsqat") else stage1
    if "export" not in state.completed:
        started = time.time()
        model = model or k.models.load_model(float_model_path, compile=False)
        float_scores = model.predict(preprocess(test_x.astype(np.float32), config.preprocess), verbose=0)
        np.save(run_dir / "float_test_scores.npy", float_scores)
        if config.mode in ("qat", "jsqat"):
            notify(f"stage III: quantization-aware training{' preserving sparsity' if config.mode == 'jsqat' else ''}, "
                   f"{config.epochs} epochs")
            model = quantization_aware(model, config.mode == "jsqat", fitter("stage3", config.epochs))
            import tensorflow_model_optimization as tfmot

            with tfmot.quantization.keras.quantize_scope():
                model.save(stage3, include_optimizer=False)
        calibration = preprocess(train_x[: min(len(train_x), 128)].astype(np.float32), config.preprocess)
        tflite = export_int8(model, calibration)
        (run_dir / "model_int8.tflite").write_bytes(tflite)
        finish("export", started)
    tflite = (run_dir / "model_int8.tflite").read_bytes()
    float_scores = np.load(run_dir / "float_test_scores.npy")
    test_inputs = preprocess(test_x.astype(np.float64), config.preprocess)
    metrics = {
        "config": asdict(config),
        "classes": list(dataset.classes),
        "data": {"images": len(dataset.records), "unreadable": [[str(p), why] for p, why in dataset.unreadable],
                 "counts": dataset.counts(), "split_by": parts.by,
                 "train": len(parts.train), "validation": len(parts.validation), "test": len(parts.test),
                 "leaked_patients": sorted(parts.leaked_patients()), "class_weights": weights},
        "float": classification_metrics(test_y, float_scores),
        "int8": classification_metrics(test_y, int8_scores(tflite, test_inputs)),
        "layer_sparsity": layer_sparsity(tflite),
        "sizes": sizes(run_dir, tflite, float_model_path),
        "seconds": state.seconds,
        "preprocess": config.preprocess,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_jsonable))
    return metrics


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(type(value).__name__)


class _EpochCheckpoint:
    """Keras callback: after each epoch, the weights to ``path`` (atomically), then the epoch
    count into the run state, so a killed run resumes from its last finished epoch."""

    def __new__(cls, path: Path, stage: str, state: RunState, save_state):
        k = keras()

        class Callback(k.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                temporary = path.with_suffix(".tmp.h5")  # both legacy HDF5: tf-keras reads a ".weights.h5" name as its newer format
                self.model.save_weights(str(temporary))
                os.replace(temporary, path)
                state.partial = {"stage": stage, "epochs": epoch + 1}
                save_state()

        return Callback()


class _ProgressCallback:
    """Keras callback forwarding epoch ends to the CLI's progress display."""

    def __new__(cls, notify):
        k = keras()

        class Callback(k.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                parts = ", ".join(f"{key} {value:.4f}" for key, value in logs.items())
                notify(f"  epoch {epoch + 1}: {parts}")

        return Callback()
