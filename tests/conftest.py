import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

# Converter-made models that cost most to make, kept in the repository (tests/zoo/README.md).
os.environ.setdefault("JSQAT_MODEL_SEED", str(Path(__file__).resolve().parent / "zoo"))
