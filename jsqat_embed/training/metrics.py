"""A finished run's results as typed records (``RunMetrics``), read by ``report`` and the CLI.

``metrics.json`` in a run directory is ``RunMetrics.to_json()``; no TensorFlow here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from jsqat_embed.errors import InputDataError
from jsqat_embed.training.config import TrainConfig

METRICS_VERSION = 2


@dataclass
class ClassificationMetrics:
    """Test-set metrics; the binary ones take class 1 (malignant) as positive."""

    accuracy: float
    balanced_accuracy: float
    confusion_matrix: list[list[int]]
    samples: int
    sensitivity: float | None = None
    specificity: float | None = None
    f1: float | None = None
    roc_auc: float | None = None

    def get(self, name: str) -> float | None:
        if name not in METRIC_NAMES:
            raise InputDataError(f"metric {name!r}: choose {', '.join(METRIC_NAMES)}")
        return getattr(self, name)


METRIC_NAMES = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "f1", "roc_auc")


def classification_metrics(labels: np.ndarray, scores: np.ndarray) -> ClassificationMetrics:
    """Binary metrics with class 1 (malignant) as positive; multi-class gets accuracy and the matrix."""
    labels = np.asarray(labels)
    predictions = np.asarray(scores).argmax(axis=1)
    classes = scores.shape[1]
    matrix = np.zeros((classes, classes), dtype=int)
    for truth, guess in zip(labels, predictions):
        matrix[truth, guess] += 1
    recalls = [matrix[c, c] / matrix[c].sum() for c in range(classes) if matrix[c].sum()]
    result = ClassificationMetrics(
        accuracy=float((predictions == labels).mean()),
        balanced_accuracy=float(np.mean(recalls)) if recalls else 0.0,
        confusion_matrix=matrix.tolist(),
        samples=int(len(labels)),
    )
    if classes == 2:
        tn, fp, fn, tp = (int(v) for v in (matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1]))
        precision = tp / (tp + fp) if tp + fp else 0.0
        sensitivity = tp / (tp + fn) if tp + fn else 0.0
        result.sensitivity = float(sensitivity)
        result.specificity = float(tn / (tn + fp)) if tn + fp else 0.0
        result.f1 = float(2 * precision * sensitivity / (precision + sensitivity)) if precision + sensitivity else 0.0
        result.roc_auc = roc_auc(labels, np.asarray(scores)[:, 1])
    return result


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Mann-Whitney form of the ROC AUC, ties counted half; None with a single class."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    if not len(positive) or not len(negative):
        return None
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(positive) * len(negative)))


@dataclass
class DataSummary:
    """The images a run used and how they were split. ``counts``: images per class/subtype
    and magnification used (plus patients); ``dataset_counts``: the same over every
    magnification of the folder (files counted, not decoded), the paper's Table 1."""

    images: int
    counts: dict[str, dict[str, int]]
    split_by: str
    train: int
    validation: int
    test: int
    leaked_patients: list[str] = field(default_factory=list)
    class_weights: dict[str, float] = field(default_factory=dict)
    unreadable: list[list[str]] = field(default_factory=list)
    dataset_counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class ParameterCounts:
    """Keras's counts: ``trainable`` are the weights stage I trains (batch-norm moving
    statistics never are)."""

    total: int
    trainable: int


@dataclass
class ModelSizes:
    """Table 4's figures, in bytes. ``keras_h5_bytes`` is the final Keras model file (the
    paper's measure); ``decode_bytes`` the .tflite with pruned weights TFLM's DECODE
    expands (None when no tensor is sparse enough to pay). The constant bytes split the
    .tflite's constant tensors by type: a ``mixed`` model is float32 frozen layers plus
    int8 quantized ones (int32 biases and the rest in ``other``)."""

    keras_h5_bytes: int | None
    tflite_bytes: int
    tflite_gzip_bytes: int
    decode_bytes: int | None
    int8_constant_bytes: int = 0
    float32_constant_bytes: int = 0
    other_constant_bytes: int = 0


@dataclass
class WeightsReport:
    """How a ``--weights PATH`` file loaded into the backbone."""

    path: str
    layout: str  # "keras-h5 by layer name" or "keras-3 by layer order"
    layers_matched: int
    layers_total: int
    tensors_matched: int
    tensors_total: int
    unused_in_file: list[str] = field(default_factory=list)


@dataclass
class TflmCheck:
    """The exported .tflite loaded and invoked once by the real TFLM (host build)."""

    runnable: bool
    arena_bytes: int | None = None
    error: str | None = None


@dataclass
class RunMetrics:
    config: TrainConfig
    classes: list[str]
    data: DataSummary
    float: ClassificationMetrics
    #: the exported .tflite on the test set (emulator for full int8, LiteRT otherwise)
    tflite: ClassificationMetrics
    tflite_file: str
    tflite_kind: str  # int8, mixed or float
    evaluated_by: str
    parameters: ParameterCounts
    sizes: ModelSizes
    layer_sparsity: list[dict]
    seconds: dict[str, float]
    preprocess: str
    tflm: TflmCheck | None = None
    weights: WeightsReport | None = None
    version: int = METRICS_VERSION

    def headline(self) -> ClassificationMetrics:
        """The model the paper reports for this mode: SAT's float model, every other mode's
        quantized one (a SAT run exported as int8 still reports its float model, like the paper)."""
        return self.float if self.config.mode == "sat" else self.tflite

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> RunMetrics:
        if data.get("version") != METRICS_VERSION:
            raise InputDataError(f"metrics version {data.get('version')!r}, expected {METRICS_VERSION} "
                                 "(written by another version of jsqat-embed; rerun the report's runs)")
        try:
            return cls(
                config=TrainConfig.from_json(data["config"]),
                classes=list(data["classes"]),
                data=DataSummary(**data["data"]),
                float=ClassificationMetrics(**data["float"]),
                tflite=ClassificationMetrics(**data["tflite"]),
                tflite_file=data["tflite_file"],
                tflite_kind=data["tflite_kind"],
                evaluated_by=data["evaluated_by"],
                parameters=ParameterCounts(**data["parameters"]),
                sizes=ModelSizes(**data["sizes"]),
                layer_sparsity=list(data["layer_sparsity"]),
                seconds=dict(data["seconds"]),
                preprocess=data["preprocess"],
                tflm=TflmCheck(**data["tflm"]) if data.get("tflm") else None,
                weights=WeightsReport(**data["weights"]) if data.get("weights") else None,
                version=data["version"],
            )
        except (KeyError, TypeError) as exc:
            raise InputDataError(f"metrics.json is missing or has a malformed field: {exc}") from exc

    def save(self, path: Path) -> None:
        temporary = Path(path).with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2, default=_jsonable))
        temporary.replace(path)

    @classmethod
    def load(cls, run_dir: str | Path) -> RunMetrics:
        path = Path(run_dir) / "metrics.json"
        if not path.exists():
            raise InputDataError(f"{run_dir}: no metrics.json (unfinished or not a run directory)")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputDataError(f"{path}: not valid JSON ({exc})") from exc
        try:
            return cls.from_json(data)
        except InputDataError as exc:
            raise InputDataError(f"{path}: {exc}") from exc


def _jsonable(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(type(value).__name__)
