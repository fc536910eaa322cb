"""Compression through our own writer: no tflite-micro tooling, old-format files, TFLM's LUT layout.

The oracle is the real TFLM interpreter (outputs of the compressed file byte-
identical to the dense file's) and, for the LUT layout, the tflite-micro
package's own LUT compressor.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jsqat_embed.compress import lut
from jsqat_embed.compress.encoder import compress_model
from jsqat_embed.emulator import Emulator
from jsqat_embed.graph.model import Model
from jsqat_embed.tflite import codec, read_model
from jsqat_embed.tflite.writer import model_tree
from jsqat_embed.verify.references import run_reference
from tests.corpus_models import CORPUS
from tests.tflite.test_writer import random_inputs

REPO = Path(__file__).resolve().parents[2]
TOYCAR = CORPUS / "ToyCar_quant_fullint_micro.tflite"  # mlcommons/tiny: deprecated_builtin_code only


def _old_format(model: Model) -> bytes:
    """The model as converters before TF 2.4 wrote it: only deprecated_builtin_code."""
    tree = model_tree(model)
    for code in tree["operator_codes"]:
        code.pop("builtin_code")
    return codec.encode(tree)


def _assert_compresses_and_runs_identically(data: bytes, method: str, emulate: bool = True) -> Model:
    compressed, report = compress_model(data, method, min_bytes=0)
    assert report.compressed, "nothing was compressed"
    dense_model, model = read_model(data), read_model(compressed)
    decodes = [op for op in model.operators if op.opcode == "TFLM_DECODE"]
    assert decodes
    # the real operators are all still there, in order, each with its own opcode
    assert [op.opcode for op in model.operators if op.opcode != "TFLM_DECODE"] == [
        op.opcode for op in dense_model.operators]
    inputs = random_inputs(dense_model, 4, seed=2)
    dense, decoded = run_reference("tflm", data, inputs), run_reference("tflm", compressed, inputs)
    assert dense.ok and decoded.ok, (dense.error, decoded.error)
    for a, b in zip(dense.outputs, decoded.outputs):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if emulate:
        for ours, theirs in zip(Emulator(compressed).run(*inputs), decoded.outputs):
            assert ours.tobytes() == theirs.tobytes()
    return model


@pytest.mark.parametrize("method", ["prune", "lut", "auto"])
def test_real_old_format_model_compresses(method):
    if not TOYCAR.is_file():
        pytest.skip(f"{TOYCAR.name} not extracted (run scripts/fetch_corpus.py --mirrors DIR)")
    data = TOYCAR.read_bytes()
    assert all("builtin_code" not in c for c in codec.decode(data)["operator_codes"]), "not an old-format file"
    model = _assert_compresses_and_runs_identically(data, method)
    assert len({op.opcode for op in model.operators}) >= 4  # FULLY_CONNECTED, QUANTIZE, DEQUANTIZE, DECODE


def test_old_format_model_built_by_our_writer_compresses():
    data = _old_format(read_model(REPO / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite"))
    _assert_compresses_and_runs_identically(data, "prune")


def test_compressed_file_keeps_buffers_16_byte_aligned_and_drops_dense_weights():
    data = (REPO / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite").read_bytes()
    compressed, report = compress_model(data, "prune", min_bytes=0, lean=False)
    from tests.tflite.test_writer import _buffer_data_offsets

    assert all(offset % 16 == 0 for offset in _buffer_data_offsets(compressed))
    saved = sum(c.dense_bytes - c.encoded_bytes for c in report.compressed)
    # the file shrinks by what the encodings save, less the DECODE bookkeeping: per tensor an
    # operator, an ancillary and a decoded tensor (which carries the weights' name and quantization)
    bookkeeping = sum(400 + 2 * len(c.tensor.name) + 12 * (c.tensor.quantization.channels if c.tensor.quantization else 0)
                      for c in report.compressed)
    assert len(data) - saved < len(compressed) < len(data) - saved + bookkeeping


@pytest.mark.parametrize("shape, axis", [((8, 3, 3, 4), 0), ((8, 3, 3, 4), 3), ((5, 7), None), ((3, 1, 1, 2), 3)])
@pytest.mark.parametrize("distinct", [1, 2, 3, 17, 100])
def test_lut_layout_is_the_tflite_micro_compressors(shape, axis, distinct):
    tool = pytest.importorskip("tflite_micro.tensorflow.lite.micro.compression.lut")
    spec = pytest.importorskip("tflite_micro.tensorflow.lite.micro.compression.spec")
    editor = pytest.importorskip("tflite_micro.tensorflow.lite.micro.compression.model_editor")
    rng = np.random.default_rng(distinct)
    values = rng.choice(rng.integers(-128, 127, distinct), size=shape).astype(np.int8)
    ours = lut.encode(values, axis)
    mode = spec.PerTensor() if axis is None else spec.PerChannel(axis=axis)
    method = spec.LookUpTableCompression(index_bitwidth=ours.bitwidth, mode=mode)
    theirs = tool.LutCompressor().compress(editor.Tensor(shape=shape, dtype=9, data=values), method)
    assert (ours.indices, ours.ancillary) == (theirs.encoded_data, theirs.ancillary_data)
    assert np.array_equal(lut.decode(ours, np.int8, shape, axis), values)


def test_library_does_not_import_tflite_micro_tooling():
    """Only the verify worker (the TFLM oracle) may import tflite_micro, and never its compression tools."""
    offenders = []
    for path in (REPO / "jsqat_embed").rglob("*.py"):
        for line in path.read_text().splitlines():
            if not re.match(r"\s*(from|import)\s+tflite_micro", line):
                continue
            if path.name != "_worker.py" or "compression" in line or "tools" in line:
                offenders.append(f"{path.relative_to(REPO)}: {line.strip()}")
    assert offenders == []


def test_compress_works_without_the_tflite_micro_package(tmp_path):
    """With tflite_micro made unimportable, compress still writes the same file."""
    source = REPO / "tests" / "data" / "pytorch_mobilenetv2_a035_96.tflite"
    script = (
        "import sys; sys.modules['tflite_micro'] = None\n"
        "from jsqat_embed.compress.encoder import compress_model\n"
        f"data = open({str(source)!r}, 'rb').read()\n"
        "out, report = compress_model(data, 'prune', 0)\n"
        f"open({str(tmp_path / 'out.tflite')!r}, 'wb').write(out)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    expected, _ = compress_model(source.read_bytes(), "prune", 0)
    assert (tmp_path / "out.tflite").read_bytes() == expected
