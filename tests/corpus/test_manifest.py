"""The real-model corpus: every manifest entry is complete, its file is the one recorded,
and the real TFLM interpreter still does with it what the manifest says."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from tests.corpus_models import CORPUS, corpus_models, corpus_params

KINDS = {"int8", "int16", "int16x8", "uint8", "hybrid", "float", "vela", "custom-op"}
TAGS = KINDS | {"old-opcodes", "multi-io", "float-io", "float16-weights"}


def test_manifest_entries_are_complete():
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    files = [e["file"] for e in manifest["models"]]
    assert len(files) == len(set(files))
    for entry in manifest["models"]:
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"]), entry["file"]
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), entry["file"]
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry["repo"]), entry["file"]
        assert entry["path"].endswith(".tflite") and entry["license"]
        assert entry["kind"] in KINDS and entry["kind"] == entry["tags"][0]
        assert set(entry["tags"]) <= TAGS, entry["file"]
        assert entry["tflm"] in ("runs", "refuses")
        assert ("tflm_error" in entry) == (entry["tflm"] == "refuses"), entry["file"]
    assert sum(e["bytes"] for e in manifest["models"]) <= 6 * 1024 * 1024


@pytest.mark.parametrize("model", corpus_params())
def test_file_is_the_recorded_one(model):
    data = model.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == model.sha256
    assert data[4:8] == b"TFL3"


@pytest.mark.slow
@pytest.mark.parametrize("model", corpus_params())
def test_real_tflm_verdict_holds(model):
    """Loaded and invoked once on zeros by the tflite-micro wheel, in a subprocess."""
    from jsqat_embed.verify.references import run_reference

    result = run_reference("tflm", model.path, None, timeout=120)
    assert result.ok == (model.tflm == "runs"), result.error


def test_corpus_covers_the_kinds_it_claims():
    kinds = {m.kind for m in corpus_models()}
    tags = {t for m in corpus_models() for t in m.tags}
    assert {"int8", "int16x8", "uint8", "hybrid", "float", "vela"} <= kinds
    assert {"old-opcodes", "multi-io", "float-io"} <= tags
