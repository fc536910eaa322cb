"""Smaller arenas TFLM honours: the rewritten file runs identically and TFLM records the planned arena.

For each model: ``optimize_memory`` (order search + offline plan), written through our own
writer, then the real TFLM interpreter (the tflite-micro wheel) records its arena for the new
file and runs both files on the same random inputs. The estimate must equal the recording, the
result must never be worse than TFLM's own plan, and the outputs must be byte-identical.
"""

from __future__ import annotations

import numpy as np
import pytest

from jsqat_embed.emulator import Emulator
from jsqat_embed.memory.optimize import footprint_floor, offline_plan_bytes, optimize_memory, reordered
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.writer import write_model
from jsqat_embed.training.zoo import zoo_model
from jsqat_embed.verify.compare import random_inputs
from jsqat_embed.verify.references import run_reference
from tests.corpus_models import CORPUS as CORPUS_DIR
from tests.emulator.test_models import WHOLE_MODELS

CORPUS_MODELS = ["vww_96_int8", "pretrainedResnet_quant", "kws_ref_model", "ad01_int8", "str_ww_ref_model",
                 "person_detect", "micro_speech_quantized", "hello_world_int8"]


def _zoo(name):
    spec = dict(WHOLE_MODELS[name])
    return zoo_model(spec.pop("arch"), **spec)


MODELS = {name: (lambda n=name: CORPUS_DIR / f"{n}.tflite") for name in CORPUS_MODELS}
MODELS.update({name: (lambda n=name: _zoo(n)) for name in WHOLE_MODELS})
MODELS["densenet121-32"] = lambda: zoo_model("application", size=32, name="DenseNet121")


@pytest.mark.parametrize("name", list(MODELS))
def test_optimized_file_runs_identically_with_the_arena_we_planned(name):
    path = MODELS[name]()
    model = read_model(path)
    plan = optimize_memory(model, time_limit=10)
    assert footprint_floor(model, plan.arena) <= plan.lower_bound <= plan.arena.total <= plan.baseline.total
    rewritten = write_model(reordered(model, plan.order, plan.offsets))
    recorded = run_reference("tflm", rewritten)
    assert recorded.ok, recorded.error
    assert (recorded.allocations["head"], recorded.allocations["tail"], recorded.allocations["total"]) == (
        plan.arena.head, plan.arena.tail, plan.arena.total), plan.method
    inputs = random_inputs(Emulator(path), 8, 3) if _emulated(model) else None
    if inputs is not None:
        before = run_reference("tflm", path, inputs)
        after = run_reference("tflm", rewritten, inputs)
        assert before.ok and after.ok
        for a, b in zip(before.outputs, after.outputs):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def _emulated(model) -> bool:
    try:
        Emulator(model)
    except Exception:
        return False
    return True


def test_offline_plan_layout_is_tflms():
    # micro_allocation_info.cc reads int32 words: version, subgraph count, tensor count, offsets
    raw = offline_plan_bytes([0, -1, 32])
    assert np.frombuffer(raw, "<i4").tolist() == [0, 1, 3, 0, -1, 32]


def test_a_model_that_already_has_a_plan_is_refused():
    from jsqat_embed.errors import UnsupportedModelError

    model = read_model(CORPUS_DIR / "hello_world_int8.tflite")
    planned = reordered(model, list(range(len(model.operators))), [-1] * len(model.tensors))
    with pytest.raises(UnsupportedModelError, match="already carries an offline memory plan"):
        optimize_memory(planned)
