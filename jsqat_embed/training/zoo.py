"""Small reference architectures and a disk cache of converted int8 models.

Tests, benchmarks and the demo need real converter-made models. Each is built by
a function here, trained a few steps on seeded random data (an untrained model
can get degenerate quantization scales that make TFLM abort), converted to
full int8 and cached on disk by a key, so a test run converts each model once.
"""

from __future__ import annotations

import hashlib
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ZOO_VERSION = "1"


def cache_dir() -> Path:
    root = os.environ.get("JSQAT_MODEL_CACHE")
    path = Path(root) if root else Path(__file__).resolve().parents[2] / ".cache" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_tflite(key: str, build: Callable[[], bytes]) -> Path:
    """Return the path of the cached model for ``key``, building it on a miss."""
    digest = hashlib.sha256(f"{ZOO_VERSION}:{key}".encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)[:80]
    name = f"{safe}-{digest}.tflite"
    path = cache_dir() / name
    if not path.exists():
        seeded = _seeded(name)
        data = seeded.read_bytes() if seeded else build()
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def _seeded(name: str) -> Path | None:
    """A converted model kept in a seed folder (``JSQAT_MODEL_SEED``, ``os.pathsep``-separated):
    the test suite keeps there the models whose conversion costs most (tests/zoo/README.md),
    so a fresh clone does not spend its CI time re-running the converter. The file name carries
    the digest of the key, so a changed key misses the seed and is built."""
    for folder in filter(None, os.environ.get("JSQAT_MODEL_SEED", "").split(os.pathsep)):
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    return None


def keras():
    import tf_keras

    return tf_keras


def train_briefly(model, input_shape: tuple[int, ...], *, steps: int = 3, seed: int = 0, batch: int = 8):
    """A few optimizer steps on random data so activation ranges are not degenerate.

    Classifiers (one 2-D output) get sparse labels; any other model regresses
    random targets shaped like its output.
    """
    if steps <= 0:  # e.g. a model ending in ARG_MAX has nothing to train
        return model
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(steps * batch, *input_shape)).astype(np.float32)
    output_shape = tuple(int(d) for d in model.output_shape[1:])
    last = model.layers[-1]
    softmax_head = isinstance(last, keras().layers.Softmax) or getattr(last, "activation", None) is keras().activations.softmax
    if len(output_shape) == 1 and output_shape[0] > 1 and softmax_head:
        y = rng.integers(0, output_shape[0], size=(steps * batch,))
        loss = "sparse_categorical_crossentropy"
    else:
        y = rng.uniform(-1.0, 1.0, size=(steps * batch, *output_shape)).astype(np.float32)
        loss = "mse"
    model.compile(optimizer=keras().optimizers.Adam(1e-3), loss=loss)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return model


def calibration(input_shape: tuple[int, ...], *, count: int = 16, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(count, *input_shape)).astype(np.float32)


def convert_trained(model, input_shape: tuple[int, ...], *, steps: int = 3, seed: int = 0, io_dtype: str = "int8",
                    activations: str = "int8", bias_type: str | None = None, per_channel: bool = True) -> bytes:
    from jsqat_embed.training.convert import to_int8_tflite

    keras().utils.set_random_seed(seed)
    train_briefly(model, input_shape, steps=steps, seed=seed)
    return to_int8_tflite(model, [calibration(input_shape, seed=seed + 1)], io_dtype=io_dtype, activations=activations,
                          bias_type=bias_type, per_channel=per_channel)


# --- architectures -----------------------------------------------------------


def mobilenetv2(size: int = 96, alpha: float = 0.35, classes: int = 2):
    k = keras()
    k.utils.set_random_seed(0)
    return k.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha, weights=None, classes=classes)


def vgg_style(size: int = 32, classes: int = 2, widths: tuple[int, ...] = (8, 16, 32)):
    k = keras()
    k.utils.set_random_seed(0)
    inputs = k.Input((size, size, 3))
    x = inputs
    for width in widths:
        x = k.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = k.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = k.layers.MaxPooling2D(2)(x)
    x = k.layers.Flatten()(x)
    x = k.layers.Dense(32, activation="relu")(x)
    outputs = k.layers.Dense(classes, activation="softmax")(x)
    return k.Model(inputs, outputs, name="vgg_style")


def resnet_style(size: int = 32, classes: int = 2, width: int = 16, blocks: int = 3):
    k = keras()
    k.utils.set_random_seed(0)
    inputs = k.Input((size, size, 3))
    x = k.layers.Conv2D(width, 3, strides=2, padding="same")(inputs)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.ReLU()(x)
    for block in range(blocks):
        stride = 2 if block else 1
        channels = width * (2 if block else 1)
        shortcut = x
        y = k.layers.Conv2D(channels, 3, strides=stride, padding="same")(x)
        y = k.layers.BatchNormalization()(y)
        y = k.layers.ReLU()(y)
        y = k.layers.Conv2D(channels, 3, padding="same")(y)
        y = k.layers.BatchNormalization()(y)
        if stride != 1 or shortcut.shape[-1] != channels:
            shortcut = k.layers.Conv2D(channels, 1, strides=stride)(shortcut)
        x = k.layers.ReLU()(k.layers.Add()([y, shortcut]))
        width = channels
    x = k.layers.GlobalAveragePooling2D()(x)
    outputs = k.layers.Dense(classes, activation="softmax")(x)
    return k.Model(inputs, outputs, name="resnet_style")


def vgg19(size: int = 224, classes: int = 2):
    k = keras()
    k.utils.set_random_seed(0)
    base = k.applications.VGG19(input_shape=(size, size, 3), weights=None, include_top=False)
    x = k.layers.GlobalAveragePooling2D()(base.output)
    outputs = k.layers.Dense(classes, activation="softmax")(x)
    return k.Model(base.input, outputs, name="vgg19")


KERAS_APPLICATIONS = ("VGG19", "ResNet50", "MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "DenseNet121")


def application(name: str = "ResNet50", size: int = 64, classes: int = 2):
    """A keras.applications backbone (weights=None), global average pooling and a dense softmax
    (the GAP head; the paper's adds a 1072-unit hidden layer, see training/config.py)."""
    k = keras()
    k.utils.set_random_seed(0)
    base = getattr(k.applications, name)(input_shape=(size, size, 3), weights=None, include_top=False)
    x = k.layers.GlobalAveragePooling2D()(base.output)
    outputs = k.layers.Dense(classes, activation="softmax")(x)
    return k.Model(base.input, outputs, name=name.lower())


ARCHITECTURES: dict[str, Callable] = {
    "application": application,
    "mobilenetv2": mobilenetv2,
    "vgg_style": vgg_style,
    "resnet_style": resnet_style,
    "vgg19": vgg19,
}


def zoo_model(arch: str, *, size: int, steps: int = 3, **kwargs) -> Path:
    """A cached, briefly trained, full-int8 .tflite of one architecture."""
    key = f"{arch}-{size}-" + "-".join(f"{k}{v}" for k, v in sorted(kwargs.items())) + f"-s{steps}"

    def build() -> bytes:
        model = ARCHITECTURES[arch](size=size, **kwargs)
        return convert_trained(model, (size, size, 3), steps=steps)

    return cached_tflite(key, build)


def prune_briefly(model, input_shape: tuple[int, ...], sparsity: float, *, steps: int = 4, seed: int = 0, batch: int = 8):
    """Layer-wise unstructured magnitude pruning with tfmot to ``sparsity``, then stripped.

    ``ConstantSparsity`` with ``frequency=1`` prunes at every step (the default
    frequency of 100 would export a short run unpruned); every prunable layer
    (Conv2D, DepthwiseConv2D, Dense) reaches the target on its own. The
    sparsity the model really has is measured from the exported .tflite by the
    callers, never assumed from this argument.
    """
    import tensorflow_model_optimization as tfmot

    schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=1)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(steps * batch, *input_shape)).astype(np.float32)
    y = rng.uniform(-1.0, 1.0, size=(steps * batch, *(int(d) for d in model.output_shape[1:]))).astype(np.float32)
    pruned.compile(optimizer=keras().optimizers.Adam(1e-4), loss="mse")
    pruned.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(pruned)


def pruned_zoo_model(arch: str, *, size: int, sparsity: float, steps: int = 3, **kwargs) -> Path:
    """A cached full-int8 .tflite of ``arch``, briefly trained, then pruned with tfmot to ``sparsity``."""
    key = f"pruned-{arch}-{size}-" + "-".join(f"{k}{v}" for k, v in sorted(kwargs.items())) + f"-s{steps}-p{sparsity}"

    def build() -> bytes:
        from jsqat_embed.training.convert import to_int8_tflite

        input_shape = (size, size, 3)
        keras().utils.set_random_seed(0)
        model = train_briefly(ARCHITECTURES[arch](size=size, **kwargs), input_shape, steps=steps)
        model = prune_briefly(model, input_shape, sparsity)
        return to_int8_tflite(model, [calibration(input_shape, seed=1)])

    return cached_tflite(key, build)
