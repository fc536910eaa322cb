"""A reference that cannot know what a file holds is skipped with the reason, never failed; versions are real."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.compress.encoder import compress_model
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.writer import write_model
from jsqat_embed.verify.compare import verify
from jsqat_embed.verify.references import LITERT, TFLM, run_reference
from jsqat_embed.verify.support import check_litert_can_read

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _decode_model(lean: bool) -> bytes:
    """kws_ref_model (MLPerf Tiny) with its largest conv kernel 90 % zeros, compressed with DECODE pruning."""
    model = read_model(CORPUS / "kws_ref_model.tflite")
    kernel = max((op.inputs[1] for op in model.operators if op.opcode == "CONV_2D"), key=lambda t: t.nbytes)
    values = np.array(kernel.data)
    values[np.random.default_rng(0).random(values.shape) < 0.9] = 0
    kernel.data = values
    compressed, _ = compress_model(write_model(model), "prune", 0, lean=lean)
    assert "TFLM_DECODE" in {op.opcode for op in read_model(compressed).operators}
    return compressed


CASES = {
    "decode": (lambda: _decode_model(lean=False), "LiteRT has no kernel for TFLM's custom op TFLM_DECODE"),
    "signal": (lambda: (CORPUS / "audio_preprocessor_int8.tflite").read_bytes(),
               "LiteRT has no kernel for TFLM's custom ops SignalEnergy, SignalFftAutoScale, SignalFilterBank, "
               "SignalFilterBankLog, SignalFilterBankSpectralSubtraction, SignalFilterBankSquareRoot, SignalPCAN, "
               "SignalRfft, SignalWindow"),
    "lean": (lambda: _decode_model(lean=True), "LiteRT has no kernel for TFLM's custom op TFLM_DECODE"),
    "person_detect": (lambda: (CORPUS / "person_detect.tflite").read_bytes(),
                      "14 per-channel tensors declare a quantized_dimension past their rank, which TFLM accepts and "
                      "LiteRT refuses"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_litert_is_skipped_with_the_reason_when_only_tflm_can_run_the_file(case):
    build, reason = CASES[case]
    data = build()
    assert check_litert_can_read(read_model(data)) == (False, reason)
    # the skip is the truth: the real LiteRT refuses this file, the real TFLM runs it
    assert not run_reference(LITERT, data, None).ok
    report = verify(data, samples=2)
    litert = report.references[LITERT]
    assert litert.skipped and litert.skip_reason == reason and not litert.ok and litert.error is None
    assert report.references[TFLM].ok and report.bit_exact
    assert report.to_json()["references"][LITERT]["skipped"] is True


def test_lean_layout_alone_skips_litert():
    """kws_ref_model written lean (one zero point for all channels): TFLM runs it, LiteRT refuses it."""
    data = write_model(read_model(CORPUS / "kws_ref_model.tflite"), lean=True)
    ok, reason = check_litert_can_read(read_model(data))
    assert not ok and reason.endswith("store one zero point for all channels, which TFLM reads and LiteRT refuses "
                                      "(compress --no-lean keeps one per channel)")
    assert not run_reference(LITERT, data, None).ok
    assert run_reference(TFLM, data, None).ok


def test_litert_runs_on_an_ordinary_model_and_versions_are_the_installed_wheels():
    path = CORPUS / "kws_ref_model.tflite"
    assert check_litert_can_read(read_model(path)) == (True, "")
    report = verify(path, samples=2)
    assert report.references[LITERT].ok and not report.references[LITERT].skipped
    data = report.to_json()["references"]
    assert data[TFLM]["version"] == f"tflite-micro {version('tflite-micro')}"
    assert data[LITERT]["version"] == f"ai-edge-litert {version('ai-edge-litert')}"
    assert run_reference(TFLM, path, None).version == f"tflite-micro {version('tflite-micro')}"
