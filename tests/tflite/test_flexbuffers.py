"""Custom options (FlexBuffer maps): read what TFLM's models carry, refuse malformed bytes cleanly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.errors import ModelFormatError
from jsqat_embed.tflite import read_model
from jsqat_embed.tflite.flexbuffers import read_map, write_map

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def test_reads_the_audio_front_ends_options():
    model = read_model(CORPUS / "audio_preprocessor_int8.tflite")
    options = {op.opcode: read_map(op.custom_options, op.describe()) for op in model.operators if op.is_custom}
    assert options["SignalRfft"] == {"T": 7, "fft_length": 512}
    assert options["SignalEnergy"] == {"end_index": 241, "start_index": 5}
    assert options["SignalFilterBankSpectralSubtraction"]["clamping"] is False
    assert options["SignalFftAutoScale"] == {}


def test_round_trip_and_empty():
    values = {"shift": 12, "clamping": True, "name": "x"}
    assert read_map(write_map(values), "op") == values
    assert read_map(None, "op") == {} and read_map(b"", "op") == {}


def test_a_non_map_is_refused():
    from flatbuffers import flexbuffers

    with pytest.raises(ModelFormatError, match="not a map"):
        read_map(bytes(flexbuffers.Dumps([1, 2, 3])), "operator 3 (SignalWindow)")


def test_corrupted_bytes_raise_model_format_errors_only():
    base = write_map({"alternate_smoothing": 983, "clamping": False, "num_channels": 40, "T": 7})
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            data = data[: int(rng.integers(0, len(data)))]
        try:
            assert isinstance(read_map(bytes(data), "op"), dict)
        except ModelFormatError:
            refused += 1
    assert refused > 0
