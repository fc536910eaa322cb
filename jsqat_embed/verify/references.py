"""The reference interpreters, each run in a child process.

TFLM (the ``tflite-micro`` package: the real TFLM kernels) is the oracle for
bit-exactness; LiteRT (``ai-edge-litert``) is a second opinion. The real TFLM
interpreter aborts the whole process on some models (degenerate scales,
unsupported ops), so each reference runs in a subprocess and an abort becomes a
:class:`ReferenceResult` with ``error`` set, never a dead parent.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TFLM = "tflm"
LITERT = "litert"
REFERENCES = (TFLM, LITERT)
#: the distribution that provides each reference (its version is the reference's version)
DISTRIBUTIONS = {TFLM: "tflite-micro", LITERT: "ai-edge-litert"}

_ALLOCATION_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_RECORD_LINE = re.compile(r"'([^']+)' used (\d+) bytes with alignment overhead \(requested (\d+) bytes for (\d+)")


@dataclass
class ReferenceResult:
    name: str
    outputs: list[np.ndarray] | None = None
    intermediates: dict[int, np.ndarray] | None = None
    allocations: dict[str, int] = field(default_factory=dict)
    records: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None
    log: str = ""
    version: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def reference_version(name: str) -> str:
    """``tflite-micro 0.dev2026...``: the installed distribution's version, "" if it is not installed.

    Read from the package metadata, so nothing is imported (the child process
    runs the same interpreter, hence the same installed version).
    """
    from importlib.metadata import PackageNotFoundError, version

    distribution = DISTRIBUTIONS[name]
    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return ""


def parse_allocations(text: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Figures printed by TFLM's RecordingMicroAllocator (``print_allocations()``)."""
    totals = {kind: int(value) for kind, value in _ALLOCATION_LINE.findall(text)}
    records = {
        name: {"used": int(used), "requested": int(requested), "count": int(count)}
        for name, used, requested, count in _RECORD_LINE.findall(text)
    }
    return totals, records


def run_reference(
    name: str,
    model: bytes | str | os.PathLike,
    inputs: list[np.ndarray] | None = None,
    *,
    intermediates: bool = False,
    arena_size: int | None = None,
    alt_decompression_memory_size: int = 0,
    timeout: float = 900.0,
) -> ReferenceResult:
    """Run ``model`` on ``inputs`` (one array per model input, leading batch of samples).

    Returns outputs concatenated over samples (same layout as the emulator's).
    With ``inputs=None`` the model is only loaded and invoked once on zeros, to
    record its arena allocation.
    """
    if name not in REFERENCES:
        raise ValueError(f"unknown reference {name!r}")
    model_bytes = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    with tempfile.TemporaryDirectory(prefix="jsqat-ref-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "model.tflite").write_bytes(model_bytes)
        payload = {f"input_{i}": np.asarray(a) for i, a in enumerate(inputs or [])}
        np.savez(tmp_path / "inputs.npz", **payload)
        command = [
            sys.executable, "-m", "jsqat_embed.verify._worker", name, tmp,
            str(int(intermediates)), str(arena_size or 0), str(alt_decompression_memory_size),
            str(int(inputs is None)),
        ]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return ReferenceResult(name, error=f"{name} did not finish within {timeout:.0f} s",
                                   version=reference_version(name))
        log = proc.stdout + proc.stderr
        totals, records = parse_allocations(log)
        result = ReferenceResult(name, allocations=totals, records=records, log=log, version=reference_version(name))
        if proc.returncode != 0:
            result.error = _describe_failure(name, proc.returncode, log)
            return result
        with np.load(tmp_path / "outputs.npz") as data:
            outputs = sorted((k for k in data.files if k.startswith("output_")), key=lambda k: int(k.split("_")[1]))
            result.outputs = [data[k] for k in outputs]
            if intermediates:
                result.intermediates = {
                    int(k.split("_")[1]): data[k] for k in data.files if k.startswith("tensor_")
                }
        return result


def _describe_failure(name: str, returncode: int, log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    tail = lines[-1] if lines else "no message"
    for line in reversed(lines):
        if "Error" in line or "error" in line or "failed" in line or "not" in line:
            tail = line.strip()
            break
    if returncode < 0:
        try:
            signame = signal.Signals(-returncode).name
        except ValueError:
            signame = f"signal {-returncode}"
        return f"{name} interpreter aborted the process ({signame}): {tail}"
    return f"{name} interpreter failed (exit {returncode}): {tail}"
