"""JSQAT training, following the paper's Algorithm 1 (Aboutahoun et al., IEEE Access).

Stage I   transfer learning: ``head_epochs`` with only the new head trainable, then the
          paper's top layers unfrozen (``TrainConfig.unfreeze``), with loss
          CE + l1*sum|w| + l2*sum w^2 over the trainable kernels.
Stage II  sparsity-aware training: layer-wise unstructured magnitude pruning of every
          Conv2D / Dense layer to ``sparsity`` with retraining (tfmot, polynomial
          schedule reaching the target before the stage ends), then stripped.
Stage III quantization-aware training that preserves the zeros
          (``Default8BitPrunePreserveQuantizeScheme``) of the trainable layers (the
          paper's scope) or of every layer (``quantize="all"``).
Export    a .tflite per ``TrainConfig.export_kind`` (see ``export.py``), evaluated on the
          test set, sizes measured.

Modes: ``baseline`` (I + post-training int8), ``qat`` (I + III without pruning),
``sat`` (I + II, exported float as in the paper, or int8), ``jsqat`` (I + II + III).

TensorFlow is imported here only (inside functions). Each finished stage is saved in
the run directory and recorded in ``state.json``; the stage in progress checkpoints its
weights after every epoch (``<stage>.partial.h5``), so ``resume=True`` skips finished
stages and continues the interrupted one after its last finished epoch. Images are
resized with the same PIL code ``verify --images`` and the firmware golden vectors use,
then preprocessed in TensorFlow.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from jsqat_embed.data.breakhis import Dataset, Record, Split, class_weights, scan_breakhis, scan_class_folders, split  # noqa: E402
from jsqat_embed.errors import InputDataError  # noqa: E402
from jsqat_embed.training import backbones, export  # noqa: E402
from jsqat_embed.training.config import BACKBONES, MODES, TrainConfig  # noqa: E402,F401  (re-exported)
from jsqat_embed.training.metrics import (  # noqa: E402,F401  (re-exported)
    DataSummary,
    ParameterCounts,
    RunMetrics,
    WeightsReport,
    classification_metrics,
    roc_auc,
)

#: tfmot prunes Conv2D and Dense kernels; it registers DepthwiseConv2D with no prunable
#: weights (its 3x3 per-channel filters are tiny and pruning them costs accuracy), so
#: depthwise layers stay dense, as in tfmot's own MobileNet examples.
PRUNABLE = ("Conv2D", "Dense")
STAGE_FILES = {"stage1": "stage1.h5", "stage2": "stage2.h5", "stage3": "stage3_qat.h5"}
TFLITE_FILES = {"int8": "model_int8.tflite", "mixed": "model_mixed.tflite", "float": "model_float.tflite"}


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


_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def preprocess(pixels, kind: str):
    """Float model inputs from 0..255 pixels (numpy or tf), as jsqat_embed.verify.images does."""
    if kind == "symmetric":
        return pixels / 127.5 - 1.0
    if kind == "torch":
        return (pixels / 255.0 - _TORCH_MEAN) / _TORCH_STD
    means = np.array([103.939, 116.779, 123.68], dtype=np.float32)
    return pixels[..., ::-1] - means


def make_dataset(pixels: np.ndarray, labels: np.ndarray, config: TrainConfig, *, training: bool):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((pixels, labels))
    if training:
        ds = ds.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
    augment = training and config.augment == "basic"

    def prepare(image, label):
        image = tf.cast(image, tf.float32)
        if augment:
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

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


@dataclass
class RunData:
    """The split images as arrays, ready for every stage."""

    dataset: Dataset
    parts: Split
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_weights: dict[int, float]
    batch_size: int = 1
    dataset_counts: dict = field(default_factory=dict)
    train_ds: object = None
    val_ds: object = None

    @property
    def steps_per_epoch(self) -> int:
        return int(np.ceil(len(self.train_y) / self.batch_size))

    def test_inputs(self, kind: str, dtype=np.float32) -> np.ndarray:
        return preprocess(self.test_x.astype(dtype), kind)

    def summary(self) -> DataSummary:
        return DataSummary(
            images=len(self.dataset.records), counts=self.dataset.counts(), split_by=self.parts.by,
            train=len(self.parts.train), validation=len(self.parts.validation), test=len(self.parts.test),
            leaked_patients=sorted(self.parts.leaked_patients()),
            class_weights={str(c): w for c, w in self.class_weights.items()},
            unreadable=[[str(p), why] for p, why in self.dataset.unreadable],
            dataset_counts=self.dataset_counts or self.dataset.counts())


def load_dataset(config: TrainConfig) -> Dataset:
    if config.dataset == "breakhis":
        return scan_breakhis(config.data, config.magnification)
    if config.dataset == "folders":
        return scan_class_folders(config.data)
    raise InputDataError(f"dataset kind {config.dataset!r}: choose breakhis or folders")


def prepare_data(config: TrainConfig, dataset: Dataset, parts: Split, notify: Callable[[str], None]) -> RunData:
    """Read the split images at the model's size and build the tf.data pipelines."""
    notify(f"data: {len(dataset.records)} images ({len(dataset.unreadable)} unreadable), split by {parts.by}: "
           f"{len(parts.train)}/{len(parts.validation)}/{len(parts.test)}")
    val_records = parts.validation or parts.test
    data = RunData(
        dataset=dataset, parts=parts,
        train_x=load_pixels(parts.train, config.img_size), train_y=np.array([r.label for r in parts.train]),
        val_x=load_pixels(val_records, config.img_size), val_y=np.array([r.label for r in val_records]),
        test_x=load_pixels(parts.test, config.img_size), test_y=np.array([r.label for r in parts.test]),
        class_weights=class_weights(parts.train, len(dataset.classes)), batch_size=config.batch_size)
    data.train_ds = make_dataset(data.train_x, data.train_y, config, training=True)
    data.val_ds = make_dataset(data.val_x, data.val_y, config, training=False)
    return data


# --- the run directory ----------------------------------------------------------


@dataclass
class RunState:
    completed: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    #: the stage in progress and its finished epochs, whose weights are in <stage>.partial.h5
    partial: dict = field(default_factory=dict)
    #: the stage running now and its epoch, for progress displays (sweep's live table)
    current: dict = field(default_factory=dict)
    #: one entry per process that worked on the run: host, pid, start time
    attempts: list[dict] = field(default_factory=list)
    #: every epoch checkpoint a later attempt continued from
    resumed: list[dict] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    weights: dict | None = None


def read_state(run_dir: str | Path) -> RunState | None:
    """The state a run directory records, or None if it has none (yet)."""
    path = Path(run_dir) / "state.json"
    try:
        return RunState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


class RunDirectory:
    """One run directory: its state file, epoch checkpoints and progress messages."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, *, resume: bool, progress=None):
        """Check the directory (nothing is written until ``start``)."""
        self.config = config
        self.path = Path(run_dir)
        self.progress = progress
        if self.path.exists() and not self.path.is_dir():
            raise InputDataError(f"{self.path} is not a directory")
        if self.path.exists() and any(self.path.iterdir()) and not resume:
            raise InputDataError(f"{self.path} is not empty; pass --resume to continue it or choose another directory")
        self.state = RunState(config=config.to_json())
        if resume and (self.path / "state.json").exists():
            state = read_state(self.path)
            if state is None:
                raise InputDataError(f"{self.path / 'state.json'} is unreadable or from another version; "
                                     "start the run in a new directory")
            self.state = state
            if self.state.config != config.to_json():
                raise InputDataError(f"{self.path} was started with a different configuration; resume needs the same one")

    def start(self) -> None:
        """Record this process as an attempt (host, pid), so progress tables can show who runs it."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.state.attempts.append({"host": socket.gethostname(), "pid": os.getpid(), "started": round(time.time(), 1)})
        self.save_state()

    def file(self, name: str) -> Path:
        return self.path / name

    def done(self, stage: str) -> bool:
        return stage in self.state.completed

    def notify(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def save_state(self) -> None:
        temporary = self.file("state.json.tmp")
        temporary.write_text(json.dumps(asdict(self.state), indent=2))
        os.replace(temporary, self.file("state.json"))

    def begin(self, stage: str, epochs: int) -> float:
        self.state.current = {"stage": stage, "epoch": int(self.state.partial.get("epochs", 0))
                              if self.state.partial.get("stage") == stage else 0, "epochs": epochs}
        self.save_state()
        return time.time()

    def finish(self, stage: str, started: float) -> None:
        self.state.completed.append(stage)
        self.state.seconds[stage] = round(time.time() - started, 1)
        if self.state.partial:
            self.file(f"{self.state.partial['stage']}.partial.h5").unlink(missing_ok=True)
            self.state.partial = {}
        self.state.current = {}
        self.save_state()

    def checkpoint_of(self, stage: str) -> Path | None:
        """The epoch checkpoint a resumed ``stage`` continues from, if there is one."""
        partial = self.file(f"{stage}.partial.h5")
        return partial if self.state.partial.get("stage") == stage and partial.exists() else None

    def fit(self, stage: str, model, data: RunData, epochs: int, extra_callbacks=()) -> None:
        """Train for ``epochs``, checkpointing weights after every epoch; a resumed run reloads the
        last checkpoint of this stage and continues from the next epoch (the optimizer's moments
        restart; the weights, pruning masks and pruning step do not)."""
        start = 0
        checkpoint = self.checkpoint_of(stage)
        if checkpoint:
            model.load_weights(str(checkpoint))
            start = int(self.state.partial["epochs"])
            self.state.resumed.append({"stage": stage, "after_epoch": start})
            self.save_state()
            self.notify(f"{stage}: resuming after epoch {start} of {epochs}")
        callbacks = [*extra_callbacks, _EpochCheckpoint(self, stage)]
        if self.progress is not None:
            callbacks.append(_ProgressCallback(self.notify))
        model.fit(data.train_ds, validation_data=data.val_ds, epochs=epochs, initial_epoch=start,
                  class_weight=data.class_weights, verbose=0, callbacks=callbacks)


def compile_model(model, learning_rate: float):
    k = keras()
    model.compile(optimizer=k.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


# --- stages -------------------------------------------------------------------


def stage_transfer(run: RunDirectory, data: RunData):
    """Stage I: the head alone, then the unfrozen top layers with the regularized loss."""
    config = run.config
    started = run.begin("stage1", config.epochs)
    model, base, weights_report = backbones.build_model(config, len(data.dataset.classes))
    if weights_report is not None:
        run.state.weights = asdict(weights_report)
        run.notify(f"weights: {weights_report.layers_matched} of {weights_report.layers_total} backbone layers, "
                   f"{weights_report.tensors_matched} tensors loaded from {weights_report.path} ({weights_report.layout})")
    if not run.checkpoint_of("stage1") and config.head_epochs:  # a resumed stage I has its head epochs in the checkpoint
        run.notify(f"stage I: head only, {config.head_epochs} epoch(s)")
        base.trainable = False
        compile_model(model, config.lr_head).fit(data.train_ds, validation_data=data.val_ds,
                                                 epochs=config.head_epochs, class_weight=data.class_weights, verbose=0)
    trainable = backbones.unfreeze(model, base, config)
    run.state.parameters = {"total": int(model.count_params()), "trainable": int(trainable)}
    run.notify(f"stage I: {trainable:,} of {model.count_params():,} parameters trainable, "
               f"{config.reg} lambda {config.lam}, {config.epochs} epochs")
    model = compile_model(backbones.with_regularization(model, *config.l1_l2), config.lr_stage1)
    run.fit("stage1", model, data, config.epochs)
    model.save(run.file(STAGE_FILES["stage1"]), include_optimizer=False)
    run.finish("stage1", started)
    return model


def prune(model, sparsity: float, epochs: int, steps_per_epoch: int, learning_rate: float, fit):
    """Layer-wise magnitude pruning of every prunable layer to ``sparsity`` with retraining; stripped.

    ``fit(model, extra_callbacks)`` trains the wrapped model; the wrappers' pruning step is a
    weight, so a resumed fit continues the schedule where it stopped."""
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
    compile_model(pruned, learning_rate)
    fit(pruned, [tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


def stage_sparsity(run: RunDirectory, data: RunData, model):
    """Stage II: prune every Conv2D/Dense to the target sparsity while retraining."""
    config = run.config
    started = run.begin("stage2", config.epochs)
    model = model or keras().models.load_model(run.file(STAGE_FILES["stage1"]), compile=False)
    run.notify(f"stage II: pruning every Conv2D/Dense to {config.sparsity:.0%}, {config.epochs} epochs")
    model = prune(model, config.sparsity, config.epochs, data.steps_per_epoch, config.lr_stage2,
                  lambda wrapped, callbacks: run.fit("stage2", wrapped, data, config.epochs, callbacks))
    model.save(run.file(STAGE_FILES["stage2"]), include_optimizer=False)
    run.finish("stage2", started)
    return model


def stage_quantization(run: RunDirectory, data: RunData, model):
    """Stage III: quantization-aware training of the configured scope (prune-preserving for JSQAT)."""
    import tensorflow_model_optimization as tfmot

    config = run.config
    started = run.begin("stage3", config.epochs)
    model = model or load_float_model(run)
    run.notify(f"stage III: quantization-aware training of {config.quantize} layers"
               f"{' preserving sparsity' if config.mode == 'jsqat' else ''}, {config.epochs} epochs")
    quantized = export.quantize_model(model, config.quantize, preserve_sparsity=config.mode == "jsqat")
    compile_model(quantized, config.lr_stage3)
    run.fit("stage3", quantized, data, config.epochs)
    with tfmot.quantization.keras.quantize_scope():
        quantized.save(run.file(STAGE_FILES["stage3"]), include_optimizer=False)
    run.finish("stage3", started)
    return quantized


def float_model_file(run: RunDirectory) -> Path:
    return run.file(STAGE_FILES["stage2" if run.config.mode in ("sat", "jsqat") else "stage1"])


def load_float_model(run: RunDirectory):
    return keras().models.load_model(float_model_file(run), compile=False)


def stage_export(run: RunDirectory, data: RunData, model) -> None:
    """The float model's test scores and the .tflite of the configured kind."""
    import tensorflow_model_optimization as tfmot

    config = run.config
    started = run.begin("export", 0)
    float_model = model if model is not None and config.mode in ("baseline", "sat") else load_float_model(run)
    scores = float_model.predict(data.test_inputs(config.preprocess), verbose=0, batch_size=config.batch_size)
    np.save(run.file("float_test_scores.npy"), scores)
    if config.mode in ("qat", "jsqat"):
        if model is None or model is float_model:
            with tfmot.quantization.keras.quantize_scope():
                model = keras().models.load_model(run.file(STAGE_FILES["stage3"]), compile=False)
    else:
        model = float_model
    kind = config.export_kind
    run.notify(f"export: {kind} .tflite")
    calibration = preprocess(data.train_x[: min(len(data.train_x), 128)].astype(np.float32), config.preprocess)
    run.file(TFLITE_FILES[kind]).write_bytes(export.to_tflite(model, kind, calibration))
    run.finish("export", started)


def evaluate(run: RunDirectory, data: RunData) -> RunMetrics:
    """metrics.json: the float model and the exported .tflite on the test set, sizes, TFLM's check."""
    config = run.config
    kind = config.export_kind
    tflite = run.file(TFLITE_FILES[kind]).read_bytes()
    run.notify(f"evaluating the {kind} .tflite on {len(data.test_y)} test images")
    scores, evaluated_by = export.tflite_scores(tflite, kind, data.test_inputs(config.preprocess, np.float64))
    keras_file = run.file(STAGE_FILES["stage3"]) if config.mode in ("qat", "jsqat") else float_model_file(run)
    parameters = ParameterCounts(**run.state.parameters)
    metrics = RunMetrics(
        config=config,
        classes=list(data.dataset.classes),
        data=data.summary(),
        float=classification_metrics(data.test_y, np.load(run.file("float_test_scores.npy"))),
        tflite=classification_metrics(data.test_y, scores),
        tflite_file=TFLITE_FILES[kind],
        tflite_kind=kind,
        evaluated_by=evaluated_by,
        parameters=parameters,
        sizes=export.sizes(tflite, keras_file),
        layer_sparsity=export.layer_sparsity(tflite),
        seconds=dict(run.state.seconds),
        preprocess=config.preprocess,
        tflm=export.tflm_check(tflite),
        weights=WeightsReport(**run.state.weights) if run.state.weights else None,
    )
    metrics.save(run.file("metrics.json"))
    return metrics


def train_run(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress=None) -> RunMetrics:
    """Run the configured stages into ``run_dir``; return (and write) its metrics.json."""
    config.check()
    run = RunDirectory(config, run_dir, resume=resume, progress=progress)
    # a bad folder or split is refused before TensorFlow loads or anything is written
    dataset = load_dataset(config)
    parts = split(dataset, by=config.split_by, seed=config.seed)
    run.start()
    keras().utils.set_random_seed(config.seed)
    data = prepare_data(config, dataset, parts, run.notify)
    if config.dataset == "breakhis" and config.magnification != "all":  # Table 1 lists every magnification
        data.dataset_counts = scan_breakhis(config.data, "all", check_images=False).counts()
    model = None
    if not run.done("stage1"):
        model = stage_transfer(run, data)
    if config.mode in ("sat", "jsqat") and not run.done("stage2"):
        model = stage_sparsity(run, data, model)
    if config.mode in ("qat", "jsqat") and not run.done("stage3"):
        model = stage_quantization(run, data, model)
    if not run.done("export"):
        stage_export(run, data, model)
    return evaluate(run, data)


class _EpochCheckpoint:
    """Keras callback: after each epoch, the weights to ``<stage>.partial.h5`` (atomically),
    then the epoch count into the run state, so a killed run resumes from its last finished epoch."""

    def __new__(cls, run: RunDirectory, stage: str):
        k = keras()
        path = run.file(f"{stage}.partial.h5")

        class Callback(k.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                temporary = path.with_suffix(".tmp.h5")  # both legacy HDF5: tf-keras reads a ".weights.h5" name as its newer format
                self.model.save_weights(str(temporary))
                os.replace(temporary, path)
                run.state.partial = {"stage": stage, "epochs": epoch + 1}
                run.state.current = {**run.state.current, "stage": stage, "epoch": epoch + 1}
                run.save_state()

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
