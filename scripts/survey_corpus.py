#!/usr/bin/env python3
"""Survey real models: what the real TFLM does with each, and what each jsqat-embed command does.

For every model (default: every entry of ``tests/corpus/manifest.json``) it runs,
each in its own subprocess with a timeout:

* the real TFLM interpreter (the ``tflite-micro`` wheel) on seeded random inputs:
  "runs", or "refuses" with TFLM's own log lines and exception;
* ``jsqat-embed inspect M``, ``verify M --random N``, ``fit-check M --board host --json``
  and ``compress M -o TMP``: exit code and the first line of the error.

It then lists the operator / input-type combinations the emulator lacks (from
the operator table, ``jsqat_embed.ops``), each with the models that need it.
Output is markdown, to stdout or ``--out PATH``; ``--json PATH`` keeps the raw
results.

Examples::

    .venv/bin/python scripts/survey_corpus.py --out /tmp/corpus_survey.md
    .venv/bin/python scripts/survey_corpus.py tests/corpus/person_detect.tflite --skip-cli

To survey a fixed revision while the tree is being edited, put an export of it
first on the path: ``git archive HEAD | tar -x -C /tmp/snap`` then run with
``PYTHONPATH=/tmp/snap`` (the commands and their reference subprocesses inherit it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
RESULT_MARK = "SURVEY-RESULT "
# Ops whose type question is "from what to what", not just the first input's type.
CONVERSIONS = {"QUANTIZE", "DEQUANTIZE", "CAST"}
# Ops whose activation input is not their first input (TRANSPOSE_CONV's first is the output shape).
DATA_INPUT = {"TRANSPOSE_CONV": 2}
WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "UNIDIRECTIONAL_SEQUENCE_LSTM", "SVDF"}


# --------------------------------------------------------------------------- TFLM child
def _random_input(rng, shape, dtype):
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = (max(int(info.min), -(1 << 15)), min(int(info.max), (1 << 15) - 1)) if dtype.itemsize > 2 else (int(info.min), int(info.max))
        return rng.integers(low, high, size=shape, endpoint=True).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 1, size=shape, endpoint=True).astype(dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


def tflm_child(path: str, samples: int, seed: int) -> int:
    """Runs in the child: load, feed ``samples`` random inputs, print one result line."""
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    model = Path(path).read_bytes()
    interpreter = runtime.Interpreter.from_bytes(model, arena_size=max(len(model) * 10, 64 << 20))
    details = []
    while True:
        try:
            details.append(interpreter.get_input_details(len(details)))
        except Exception:  # past the last input
            break
    rng = np.random.default_rng(seed)
    outputs = 0
    for _ in range(samples):
        for index, detail in enumerate(details):
            shape = tuple(int(d) for d in detail["shape"])
            interpreter.set_input(_random_input(rng, shape, detail["dtype"]), index)
        interpreter.invoke()
        outputs = 0
        while True:
            try:
                interpreter.get_output(outputs)
            except Exception:
                break
            outputs += 1
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps({"inputs": len(details), "outputs": outputs, "samples": samples}), flush=True)
    return 0


def _tflm_log(text: str) -> list[str]:
    """TFLM's own lines from a child's output: no Python traceback, no blank lines."""
    lines, in_traceback = [], False
    for line in text.splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
            continue
        if in_traceback and (line.startswith("  ") or not line.strip() or set(line.strip()) <= set("^~ ")):
            continue
        in_traceback = False
        if line.strip() and not line.startswith(RESULT_MARK):
            lines.append(line.strip())
    return lines


def probe_tflm(path: Path, samples: int = 16, seed: int = 0, timeout: float = 120.0) -> dict:
    """{"verdict": "runs" | "refuses", "error": TFLM's text or None, "seconds": ...}."""
    command = [sys.executable, str(Path(__file__).resolve()), "--tflm-child", str(path), str(samples), str(seed)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    start = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"verdict": "refuses", "error": f"did not finish within {timeout:.0f} s", "seconds": timeout}
    seconds = round(time.monotonic() - start, 2)
    text = proc.stdout + proc.stderr
    if proc.returncode == 0 and RESULT_MARK in proc.stdout:
        result = json.loads(proc.stdout.split(RESULT_MARK, 1)[1].splitlines()[0])
        return {"verdict": "runs", "error": None, "seconds": seconds, **result}
    log = _tflm_log(text)
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        log.append(f"process killed by {name}")
    return {"verdict": "refuses", "error": " | ".join(log) or f"exit {proc.returncode}", "seconds": seconds}


# --------------------------------------------------------------------------- CLI runs
def _cli() -> str:
    beside = Path(sys.executable).with_name("jsqat-embed")
    return str(beside) if beside.exists() else "jsqat-embed"


def _first_error_line(stdout: str, stderr: str) -> str:
    for text in (stderr, stdout):
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("{") and '"error"' in stripped:
                try:
                    return json.loads(stripped)["error"]
                except (ValueError, KeyError):
                    pass
            if stripped.lower().startswith(("error", "traceback")) or "FAILED" in stripped or "differ" in stripped:
                return stripped
    lines = [line.strip() for line in (stderr or stdout).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_cli(args: list[str], timeout: float) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="200", NO_COLOR="1")
    start = time.monotonic()
    try:
        proc = subprocess.run([_cli(), *args], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"exit": None, "error": f"timeout after {timeout:.0f} s", "seconds": timeout}
    result = {"exit": proc.returncode, "seconds": round(time.monotonic() - start, 2), "error": None}
    if proc.returncode != 0:
        result["error"] = _first_error_line(proc.stdout, proc.stderr)
    return result


def survey_commands(path: Path, samples: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="jsqat-survey-") as tmp:
        return {
            "inspect": run_cli(["inspect", str(path)], timeout),
            "verify": run_cli(["verify", str(path), "--random", str(samples)], timeout),
            "fit-check": run_cli(["fit-check", str(path), "--board", "host", "--json"], timeout),
            "compress": run_cli(["compress", str(path), "-o", str(Path(tmp) / "compressed.tflite")], timeout),
        }


# --------------------------------------------------------------------------- what is missing
def op_needs(path: Path) -> tuple[list[str], str | None]:
    """(["OP type", ...] this model needs and the emulator lacks, reader error or None)."""
    try:
        import jsqat_embed
    except ImportError:
        sys.path.insert(0, str(ROOT))
        import jsqat_embed
    from jsqat_embed.tflite import read_model

    # Newer trees keep op support in the operator table; older ones in the emulator's registry.
    if (Path(jsqat_embed.__file__).parent / "ops").is_dir():
        from jsqat_embed.ops import descriptor

        def support(opcode: str) -> tuple[bool, tuple[str, ...]]:
            found = descriptor(opcode)
            return (found is not None and found.emulated, found.dtypes if found is not None else ())
    else:
        from jsqat_embed.emulator.registry import kernel_class

        def support(opcode: str) -> tuple[bool, tuple[str, ...]]:
            kernel = kernel_class(opcode)
            return (kernel is not None, tuple(getattr(kernel, "dtypes", ()) or ()))

    try:
        model = read_model(path)
    except Exception as exc:  # the survey reports a crashing reader too
        return [], f"{type(exc).__name__}: {exc}"
    missing = []
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            if op.opcode in DATA_INPUT:
                first = op.input(DATA_INPUT[op.opcode])
            else:
                first = next((t for t in op.inputs if t is not None), None)
            in_type = first.dtype if first is not None else "none"
            emulated, dtypes = support(op.opcode)
            lacks = not emulated or (bool(dtypes) and in_type not in dtypes)
            if not lacks:
                continue
            label = f"{op.opcode} {in_type}"
            if op.opcode in CONVERSIONS and op.outputs:
                label = f"{op.opcode} {in_type}->{op.outputs[0].dtype}"
            elif op.opcode in WEIGHTED:
                weights = [t.dtype for t in op.inputs[1:] if t is not None and t.is_constant and t.dtype != "int32"]
                if weights and weights[0] != in_type:
                    label += f" x {weights[0]} weights"
            if op.is_custom:
                label = f"custom {op.opcode}"
            missing.append(label)
    return sorted(set(missing)), None


# --------------------------------------------------------------------------- report
def _short(error: str, path: str = "", limit: int = 110) -> str:
    """One table cell: no "error:" prefix, model path, long tensor names or lists of supported ops."""
    error = error.removeprefix("error: ")
    if path:
        error = error.replace(f"{path}: ", "")
    error = re.sub(r"'[^']{28,}'", "'…'", error)
    error = re.sub(r" \((supported|emulated): [^)]*\)", "", error)
    error = error.replace("|", "/")
    return error if len(error) <= limit else error[: limit - 1] + "…"


def _cell(result: dict | None, path: str = "") -> str:
    if result is None:
        return "-"
    if result.get("exit") == 0:
        return "ok"
    error = _short(result.get("error") or "", path)
    return f"exit {result.get('exit')}: {error}" if error else f"exit {result.get('exit')}"


def render(rows: list[dict]) -> str:
    out = ["# Corpus survey", ""]
    runs = sum(r["tflm"]["verdict"] == "runs" for r in rows)
    out.append(f"{len(rows)} models; the real TFLM runs {runs}, refuses {len(rows) - runs}.")
    for command in ("inspect", "verify", "fit-check", "compress"):
        done = [r for r in rows if r.get("cli")]
        if done:
            ok = sum(r["cli"][command]["exit"] == 0 for r in done)
            out.append(f"`{command}`: exit 0 on {ok} of {len(done)}.")
    out += ["", "| model | kind | TFLM | inspect | verify | fit-check | compress |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        tflm = "runs" if r["tflm"]["verdict"] == "runs" else "refuses: " + _short(r["tflm"]["error"] or "")
        cli = r.get("cli") or {}
        cells = [_cell(cli.get(c), r["path"]) for c in ("inspect", "verify", "fit-check", "compress")]
        out.append(f"| {r['file']} | {r.get('kind', '')} | {tflm} | " + " | ".join(cells) + " |")
    needs: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        for label in r.get("missing", []):
            needs[label].append(r["file"])
    out += ["", "## Operator / type combinations the emulator lacks", ""]
    out.append("From the emulator's op support table: op and the type of its first activation input "
               "(`x int8 weights` marks hybrid weights; conversions show in->out). Models TFLM itself refuses are marked *.")
    out.append("")
    refused = {r["file"] for r in rows if r["tflm"]["verdict"] != "runs"}
    for label, files in sorted(needs.items(), key=lambda item: (-len(item[1]), item[0])):
        names = ", ".join(f + ("*" if f in refused else "") for f in files)
        out.append(f"- {label} ({len(files)} model{'s' if len(files) != 1 else ''}): {names}")
    unread = [r for r in rows if r.get("reader_error")]
    if unread:
        out += ["", "## Models our reader refuses", ""]
        out += [f"- {r['file']}: {r['reader_error']}" for r in unread]
    return "\n".join(out) + "\n"


def load_targets(paths: list[Path], only: list[str] | None) -> list[dict]:
    if paths:
        return [{"file": p.name, "path": p} for p in paths]
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    entries = [dict(e, path=CORPUS / e["file"]) for e in manifest["models"]]
    return [e for e in entries if not only or e["file"] in only]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--tflm-child"]:
        return tflm_child(argv[1], int(argv[2]), int(argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="models to survey (default: the corpus manifest)")
    parser.add_argument("--only", nargs="+", metavar="FILE", help="only these manifest files")
    parser.add_argument("--samples", type=int, default=16, help="random inputs per model (default 16)")
    parser.add_argument("--tflm-timeout", type=float, default=120.0, help="seconds for the TFLM run (default 120)")
    parser.add_argument("--cli-timeout", type=float, default=600.0, help="seconds for each jsqat-embed command (default 600)")
    parser.add_argument("--skip-cli", action="store_true", help="only the TFLM verdicts and the missing-op list")
    parser.add_argument("--out", type=Path, help="write the markdown here instead of stdout")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON")
    args = parser.parse_args(argv)

    rows = []
    for target in load_targets(args.models, args.only):
        path = target["path"]
        print(f"surveying {target['file']} ...", file=sys.stderr, flush=True)
        row = {"file": target["file"], "kind": target.get("kind", ""), "path": str(path)}
        row["tflm"] = probe_tflm(path, args.samples, timeout=args.tflm_timeout)
        try:
            row["missing"], row["reader_error"] = op_needs(path)
        except Exception as exc:  # a tree mid-edit: report it, survey the rest
            row["missing"], row["reader_error"] = [], f"op support table unavailable: {type(exc).__name__}: {exc}"
        if not args.skip_cli:
            row["cli"] = survey_commands(path, args.samples, args.cli_timeout)
        rows.append(row)
    text = render(rows)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
