"""BreakHis scanning, patient-level splits without leakage, class weights, and clear data errors."""

from __future__ import annotations

import pytest

from jsqat_embed.data.breakhis import class_weights, scan_breakhis, scan_class_folders, split
from jsqat_embed.errors import InputDataError
from tests.breakhis_fixture import make_breakhis


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_breakhis(tmp_path_factory.mktemp("bh"), patients_per_subtype=5)


def test_scan_merges_subtypes_and_filters_magnification(root):
    data = scan_breakhis(root, "40")
    assert data.classes == ("benign", "malignant")
    assert len(data.records) == 2 * 2 * 5 * 4
    assert {r.magnification for r in data.records} == {"40"}
    assert len(scan_breakhis(root, "all").records) == 2 * len(data.records)
    counts = data.counts()
    assert counts["benign/adenosis"]["40"] == 20 and counts["benign/adenosis"]["patients"] == 5


def test_patient_split_has_no_leakage_and_image_split_does(root):
    data = scan_breakhis(root, "all")
    by_patient = split(data, by="patient", seed=1)
    assert not by_patient.leaked_patients()
    assert len(by_patient.train) + len(by_patient.validation) + len(by_patient.test) == len(data.records)
    by_image = split(data, by="image", seed=1)
    assert by_image.leaked_patients(), "an image-level split of this data should leak patients"
    for part in (by_patient.train, by_patient.test):
        assert {r.label for r in part} == {0, 1}, "stratification keeps both classes in each split"


def test_split_is_seeded(root):
    data = scan_breakhis(root)
    assert split(data, seed=3).test == split(data, seed=3).test
    assert split(data, seed=3).test != split(data, seed=4).test


def test_class_weights_balance():
    from jsqat_embed.data.breakhis import Record

    records = [Record(None, 0, "a", "p", "40")] * 30 + [Record(None, 1, "b", "q", "40")] * 10
    weights = class_weights(records, 2)
    assert weights[0] * 30 == pytest.approx(weights[1] * 10)


def test_corrupt_images_are_reported_not_dropped_silently(tmp_path):
    root = make_breakhis(tmp_path, patients_per_subtype=2, images_per_patient=2, magnifications=("40",))
    bad = next((root / "BreaKHis_v1").rglob("*.png"))
    bad.write_bytes(b"\x89PNG broken")
    data = scan_breakhis(root)
    assert [p for p, _ in data.unreadable] == [bad]
    assert bad not in {r.path for r in data.records}


def test_bad_folders_name_the_problem(tmp_path):
    with pytest.raises(InputDataError, match="not a directory"):
        scan_breakhis(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="not a BreakHis folder"):
        scan_breakhis(tmp_path / "empty")
    with pytest.raises(InputDataError, match="magnification"):
        scan_breakhis(tmp_path, "50")
    with pytest.raises(InputDataError, match="at least two class folders"):
        scan_class_folders(tmp_path / "empty")


def test_class_folder_loader(tmp_path):
    from PIL import Image

    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / name / f"{i}.png")
    data = scan_class_folders(tmp_path)
    assert data.classes == ("cats", "dogs") and len(data.records) == 6
