"""Which class each image got: the top score of the model's first output, named by the model's labels.

Labels come from the model's ``labels`` metadata entry (UTF-8, one name per line,
in class index order; ``scripts/make_demo_model.py`` writes it) or from a text
file in the same format (``verify --labels``). The score is the output's real
value: ``scale * (q - zero_point)`` for a quantized output, the value itself for a
float one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jsqat_embed.errors import InputDataError
from jsqat_embed.graph.model import Model, Tensor

LABELS_METADATA = "labels"


def parse_labels(text: str) -> list[str]:
    """Names, one a line; trailing blank lines (a final newline) are not names."""
    names = text.splitlines()
    while names and not names[-1].strip():
        names.pop()
    return [name.strip() for name in names]


def model_labels(model: Model) -> list[str] | None:
    """The class names stored in the model's ``labels`` metadata entry, or None."""
    data = model.metadata.get(LABELS_METADATA)
    if data is None:
        return None
    try:
        return parse_labels(bytes(data).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputDataError(f"{model.name}: metadata '{LABELS_METADATA}' is not UTF-8 text ({exc})") from exc


def read_labels(path: str | Path) -> list[str]:
    """Class names from a UTF-8 text file, one a line, in class index order."""
    path = Path(path)
    try:
        return parse_labels(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: cannot read labels ({exc})") from exc


def class_count(tensor: Tensor) -> int:
    """Values per sample of a classifier output (its batch dimension excluded)."""
    return int(np.prod(tensor.shape[1:])) if len(tensor.shape) > 1 else 1


def check_labels(labels: list[str], output: Tensor, source: str) -> None:
    """Raise InputDataError unless there is one name per value of ``output``."""
    classes = class_count(output)
    if len(labels) != classes:
        raise InputDataError(f"{source}: {len(labels)} class names, but output 0 '{output.name}' has {classes} "
                             f"value{'s' if classes != 1 else ''} per sample")


@dataclass
class TopClass:
    index: int
    label: str | None
    score: float


@dataclass
class ImagePrediction:
    """One image: the emulator's top class, and whether every output byte equals TFLM's."""

    image: str
    index: int
    label: str | None
    score: float
    bit_exact: bool | None  # None: the TFLM reference did not run
    tflm: TopClass | None = None

    def to_json(self) -> dict:
        return {"image": self.image, "class": self.index, "label": self.label, "score": self.score,
                "bit_exact": self.bit_exact,
                "tflm": None if self.tflm is None else {"class": self.tflm.index, "label": self.tflm.label,
                                                        "score": self.tflm.score}}


def real_values(values: np.ndarray, tensor: Tensor) -> np.ndarray:
    """The output's real values (float64)."""
    if tensor.dtype in ("float32", "float16", "float64") or tensor.quantization is None:
        return values.astype(np.float64)
    return (values.astype(np.float64) - tensor.zero_point) * tensor.scale


def top_classes(values: np.ndarray, tensor: Tensor, samples: int, labels: list[str] | None) -> list[TopClass]:
    """Per sample the index of the largest value (the first of equal ones) and its real value."""
    per_sample = real_values(np.asarray(values), tensor).reshape(samples, -1)
    tops = []
    for row in per_sample:
        index = int(np.argmax(row))
        tops.append(TopClass(index, labels[index] if labels else None, float(row[index])))
    return tops


def predictions(names: list[str], ours: np.ndarray, theirs: np.ndarray | None, tensor: Tensor,
                labels: list[str] | None, mismatched: set[int] | None) -> list[ImagePrediction]:
    """One row per image from the emulator's and TFLM's first output (``theirs``/``mismatched`` None: no TFLM)."""
    samples = len(names)
    mine = top_classes(ours, tensor, samples, labels)
    reference = top_classes(theirs, tensor, samples, labels) if theirs is not None else [None] * samples
    return [ImagePrediction(name, top.index, top.label, top.score,
                            None if mismatched is None else sample not in mismatched, other)
            for sample, (name, top, other) in enumerate(zip(names, mine, reference))]
