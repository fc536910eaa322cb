"""BreakHis and class-per-folder datasets: scanning, patient-level splits, class weights.

No TensorFlow here: the training code turns these records into a tf.data pipeline.

BreakHis layout (v1)::

    BreaKHis_v1/histology_slides/breast/{benign,malignant}/SOB/<subtype>/<patient>/<mag>X/*.png

The eight subtypes are merged into benign / malignant (the paper's binary
task). A patient is the ``<patient>`` folder (e.g. ``SOB_B_A_14-22549AB``): the
default split keeps every patient in one split only, so images of one patient
never leak between training and test. Unreadable images are listed, never
silently dropped.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from jsqat_embed.errors import InputDataError

CLASSES = ("benign", "malignant")
MAGNIFICATIONS = ("40", "100", "200", "400")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


@dataclass(frozen=True)
class Record:
    path: Path
    label: int
    subtype: str
    patient: str
    magnification: str


@dataclass
class Dataset:
    records: list[Record]
    classes: tuple[str, ...]
    unreadable: list[tuple[Path, str]] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class and subtype per magnification, like the paper's Table 1."""
        table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for record in self.records:
            row = f"{self.classes[record.label]}/{record.subtype}"
            table[row][record.magnification] += 1
            table[row]["patients"] = 0
        patients: dict[str, set[str]] = defaultdict(set)
        for record in self.records:
            patients[f"{self.classes[record.label]}/{record.subtype}"].add(record.patient)
        for row, members in patients.items():
            table[row]["patients"] = len(members)
        return {row: dict(columns) for row, columns in sorted(table.items())}


@dataclass
class Split:
    train: list[Record]
    validation: list[Record]
    test: list[Record]
    by: str  # "patient" or "image"

    def leaked_patients(self) -> set[str]:
        """Patients with images in more than one split (empty for a patient split)."""
        sets = [{r.patient for r in part} for part in (self.train, self.validation, self.test)]
        return (sets[0] & sets[1]) | (sets[0] & sets[2]) | (sets[1] & sets[2])


def _readable(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
        return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return str(exc) or type(exc).__name__


def scan_breakhis(root: str | Path, magnification: str = "40", check_images: bool = True) -> Dataset:
    """Records of a BreakHis folder; ``magnification`` is 40, 100, 200, 400 or all."""
    root = Path(root)
    if magnification not in MAGNIFICATIONS + ("all",):
        raise InputDataError(f"magnification {magnification!r}: choose 40, 100, 200, 400 or all")
    breast = _find_breast_folder(root)
    records, unreadable = [], []
    for label, name in enumerate(CLASSES):
        sob = breast / name / "SOB"
        if not sob.is_dir():
            raise InputDataError(f"{root}: missing {sob.relative_to(root) if sob.is_relative_to(root) else sob}; "
                                 "expected BreaKHis_v1/histology_slides/breast/{benign,malignant}/SOB/<subtype>/<patient>/<mag>X/")
        for subtype in sorted(p for p in sob.iterdir() if p.is_dir()):
            for patient in sorted(p for p in subtype.iterdir() if p.is_dir()):
                for mag_dir in sorted(p for p in patient.iterdir() if p.is_dir()):
                    mag = mag_dir.name.upper().removesuffix("X")
                    if mag not in MAGNIFICATIONS or (magnification != "all" and mag != magnification):
                        continue
                    for image in sorted(mag_dir.iterdir()):
                        if image.suffix.lower() not in IMAGE_SUFFIXES:
                            continue
                        problem = _readable(image) if check_images else None
                        if problem:
                            unreadable.append((image, problem))
                            continue
                        records.append(Record(image, label, subtype.name, patient.name, mag))
    if not records:
        raise InputDataError(f"{root}: no readable {magnification}X images found in the BreakHis layout")
    return Dataset(records, CLASSES, unreadable)


def _find_breast_folder(root: Path) -> Path:
    if not root.is_dir():
        raise InputDataError(f"{root}: not a directory")
    for candidate in (root, root / "breast", root / "histology_slides" / "breast",
                      root / "BreaKHis_v1" / "histology_slides" / "breast"):
        if (candidate / "benign").is_dir() and (candidate / "malignant").is_dir():
            return candidate
    raise InputDataError(
        f"{root}: not a BreakHis folder (no benign/ and malignant/ under it or under "
        "BreaKHis_v1/histology_slides/breast/)")


def scan_class_folders(root: str | Path, check_images: bool = True) -> Dataset:
    """A generic dataset: one sub-folder per class, images inside (each image its own 'patient')."""
    root = Path(root)
    if not root.is_dir():
        raise InputDataError(f"{root}: not a directory")
    classes = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    if len(classes) < 2:
        raise InputDataError(f"{root}: needs at least two class folders, found {len(classes)}")
    records, unreadable = [], []
    for label, name in enumerate(classes):
        for image in sorted((root / name).rglob("*")):
            if image.suffix.lower() not in IMAGE_SUFFIXES or not image.is_file():
                continue
            problem = _readable(image) if check_images else None
            if problem:
                unreadable.append((image, problem))
                continue
            records.append(Record(image, label, name, f"{name}/{image.stem}", "n/a"))
    if not records:
        raise InputDataError(f"{root}: no readable images in its class folders")
    return Dataset(records, classes, unreadable)


def split(dataset: Dataset, *, by: str = "patient", fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
          seed: int = 0) -> Split:
    """Stratified, seeded split by patient (default) or by image."""
    if by not in ("patient", "image"):
        raise InputDataError(f"split by {by!r}: choose patient or image")
    if abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise InputDataError(f"split fractions {fractions} must be >= 0 and sum to 1")
    rng = random.Random(seed)
    parts: tuple[list[Record], list[Record], list[Record]] = ([], [], [])
    for label in range(len(dataset.classes)):
        members = [r for r in dataset.records if r.label == label]
        if by == "patient":
            groups: dict[str, list[Record]] = defaultdict(list)
            for record in members:
                groups[record.patient].append(record)
            units = [groups[k] for k in sorted(groups)]
        else:
            units = [[r] for r in members]
        rng.shuffle(units)
        total = sum(len(u) for u in units)
        targets = [f * total for f in fractions]
        placed = [0, 0, 0]
        for unit in units:
            # each patient (or image) goes to the split furthest below its target share
            index = max(range(3), key=lambda i: (targets[i] - placed[i], -i))
            parts[index].extend(unit)
            placed[index] += len(unit)
    for part in parts:
        part.sort(key=lambda r: str(r.path))
    result = Split(*parts, by=by)
    if not result.train or not result.test:
        raise InputDataError(
            f"split by {by}: {len(result.train)} training and {len(result.test)} test images; too few "
            f"{'patients' if by == 'patient' else 'images'} to split")
    return result


def class_weights(records: list[Record], classes: int) -> dict[int, float]:
    """Balanced class weights n / (classes x n_c), the paper's imbalance handling."""
    counts = Counter(r.label for r in records)
    total = sum(counts.values())
    return {c: total / (classes * counts[c]) if counts[c] else 0.0 for c in range(classes)}
