"""The real-model corpus (tests/corpus/) as pytest parameters.

Each entry of ``tests/corpus/manifest.json`` becomes a :class:`CorpusModel`: the
file, what the real TFLM interpreter did with it ("runs" or "refuses", with its
error text), a ``kind`` tag and finer ``tags``. A test picks the models it
needs and parametrizes over them::

    from tests.corpus_models import corpus_params

    @pytest.mark.parametrize("model", corpus_params(tflm="runs", kind="int8"))
    def test_reads(model):
        read_model(model.path)

A model whose file is missing (not re-extracted with scripts/fetch_corpus.py)
becomes a skip with that reason, never a silent pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"


@dataclass(frozen=True)
class CorpusModel:
    file: str
    path: Path
    tflm: str  # "runs" or "refuses": what the real TFLM interpreter did with it
    tflm_error: str | None
    kind: str
    tags: tuple[str, ...]
    ops: tuple[str, ...]
    sha256: str
    repo: str
    license: str

    @property
    def present(self) -> bool:
        return self.path.is_file()


@lru_cache(maxsize=1)
def corpus_models() -> tuple[CorpusModel, ...]:
    """Every manifest entry, in manifest order."""
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    return tuple(
        CorpusModel(
            file=e["file"],
            path=CORPUS / e["file"],
            tflm=e["tflm"],
            tflm_error=e.get("tflm_error"),
            kind=e["kind"],
            tags=tuple(e.get("tags", ())),
            ops=tuple(e.get("ops", ())),
            sha256=e["sha256"],
            repo=e["repo"],
            license=e["license"],
        )
        for e in manifest["models"]
    )


def select(
    tflm: str | None = None,
    kind: str | None = None,
    tag: str | None = None,
    where: Callable[[CorpusModel], bool] | None = None,
) -> list[CorpusModel]:
    """Models matching every filter given: TFLM verdict, kind, one of the tags, a predicate."""
    chosen = []
    for model in corpus_models():
        if tflm is not None and model.tflm != tflm:
            continue
        if kind is not None and model.kind != kind:
            continue
        if tag is not None and tag not in model.tags:
            continue
        if where is not None and not where(model):
            continue
        chosen.append(model)
    return chosen


def corpus_params(**filters) -> list:
    """``pytest.param`` per selected model, id = file name; missing files are skips."""
    params = []
    for model in select(**filters):
        marks = () if model.present else (
            pytest.mark.skip(reason=f"{model.file} not extracted (run scripts/fetch_corpus.py --mirrors DIR)"),
        )
        params.append(pytest.param(model, id=model.file, marks=marks))
    return params
