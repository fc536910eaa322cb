"""A tiny BreakHis-layout dataset the tests generate: class-dependent textures, several
patients per subtype, several magnifications."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SUBTYPES = {
    "benign": ["adenosis", "fibroadenoma"],
    "malignant": ["ductal_carcinoma", "lobular_carcinoma"],
}


def make_breakhis(root: Path, patients_per_subtype: int = 3, images_per_patient: int = 4,
                  magnifications=("40", "100"), size: int = 40, seed: int = 0) -> Path:
    """Write BreaKHis_v1/histology_slides/breast/... under ``root``; returns ``root``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    breast = root / "BreaKHis_v1" / "histology_slides" / "breast"
    for label, (cls, subtypes) in enumerate(SUBTYPES.items()):
        for subtype in subtypes:
            for p in range(patients_per_subtype):
                patient = f"SOB_{cls[0].upper()}_{subtype[:2].upper()}_14-{1000 + 37 * p + 5 * label}"
                for mag in magnifications:
                    folder = breast / cls / "SOB" / subtype / patient / f"{mag}X"
                    folder.mkdir(parents=True, exist_ok=True)
                    for i in range(images_per_patient):
                        yy, xx = np.mgrid[0:size, 0:size]
                        # benign: smooth pink blobs; malignant: dense dark purple speckle
                        if label == 0:
                            base = np.stack([200 + 30 * np.sin(xx / 6 + i), 120 + 20 * np.cos(yy / 7), 170 + 0 * xx], -1)
                            noise = rng.normal(0, 8, (size, size, 3))
                        else:
                            base = np.stack([110 + 0 * xx, 60 + 0 * yy, 140 + 0 * xx], -1)
                            noise = rng.normal(0, 45, (size, size, 3))
                        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
                        name = f"SOB_{cls[0].upper()}_{subtype[:2].upper()}-14-{p}-{mag}-{i:03d}.png"
                        Image.fromarray(pixels).save(folder / name)
    return root
