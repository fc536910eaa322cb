"""Fit the latency cycle model to MLPerf Tiny's published measurements.

    python scripts/calibrate_latency.py --mirrors DIR   # re-read the results repositories, rewrite the data table
    python scripts/calibrate_latency.py                 # refit from the committed table
    python scripts/calibrate_latency.py --check         # exit 1 if the committed files are not what a refit writes

``DIR`` holds git copies of github.com/mlcommons/tiny_results_v0.5 ... v1.3, each as
``DIR/tiny_results_vX`` (a clone) or ``DIR/mlcommons+tiny_results_vX/repo`` (a bare
mirror). Every system description in them is classified; the entries that run the
four reference models with TFLite Micro or microTVM on CMSIS-NN kernels on an Arm
Cortex-M are read (median throughput of each benchmark's performance run, clock,
core, framework and kernel-library versions, and whether the model they embed is
byte-identical to the reference .tflite). Any other TFLM/CMSIS-NN/esp-nn entry must
be listed in EXCLUDED with its reason, so a new round cannot slip in unreviewed.

Writes ``boards/latency/mlperf_tiny.csv`` (the data), ``boards/latency/cycle_models.toml``
(the coefficients, their sources and cross-validated errors) and the generated
tables of ``docs/latency.md``. The fit is least squares on relative error with
non-negative coefficients (every subset of the few terms is solved and the best
feasible one kept: exact, no optimizer, no scipy).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import math
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jsqat_embed.memory.latency import CYCLE_MODELS, MLPERF_DATA, OP_CLASSES, operator_work  # noqa: E402

DATA_DIR = ROOT / "boards" / "latency"
DOCS = ROOT / "docs" / "latency.md"
CORPUS = ROOT / "tests" / "corpus"
ROUNDS = ("v0.5", "v0.7", "v1.0", "v1.1", "v1.2", "v1.3")
BENCHMARKS = {  # MLPerf Tiny benchmark -> the reference model in the test corpus
    "kws": "kws_ref_model.tflite",
    "vww": "vww_96_int8.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "ad": "ad01_int8.tflite",
}
#: TFLM's invoke loop plus one kernel's Eval setup: assumed, not fitted (the four models have
#: 10-31 operators, too few and too alike to separate it; it is at most 4 % of any measurement).
CYCLES_PER_OP = 1000.0
EXTRAPOLATED_FACTOR = 2.0
UNCALIBRATED_FACTOR = 3.0


@dataclass(frozen=True)
class ProfileSpec:
    title: str
    kernel_library: str  # a board's kernel_library selects the profile; anything else never matches
    cores: tuple[str, ...]
    extrapolated_cores: tuple[str, ...]
    terms: tuple[str, ...]
    pixels_per_weight_pass: int
    note: str


# Terms per profile. On the DSP path weight loads hide behind the SMLADs (the fitted cost is nil
# in-sample and the term makes leave-one-model-out unstable: docs/latency.md); on Helium a
# weight used once costs far more than its multiply, so the term stays.
PROFILES = {
    "cortex-m-dsp/cmsis-nn": ProfileSpec(
        "Cortex-M4/M33 (DSP extension), TFLM + CMSIS-NN 2021 or later", "cmsis-nn",
        ("Cortex-M4", "Cortex-M33"), ("Cortex-M7", "Cortex-M35P"), ("macs", "elements"), 2,
        "TFLM on EK-RA6M4 and microTVM (the same CMSIS-NN kernels, no interpreter) on NUCLEO-L4R5ZI and "
        "nRF5340-DK, pooled: one coefficient set for M4 and M33, board differences left in the error"),
    "cortex-m-dsp/cmsis-nn-tflm-2.3.1": ProfileSpec(
        "Cortex-M4, TFLM 2.3.1 with its CMSIS-NN (2020)", "cmsis-nn (TFLM 2.3.1)",
        ("Cortex-M4",), (), ("macs", "elements"), 2,
        "MLPerf Tiny v0.5's reference entry only; kept to compare with it (a board selects it with "
        "latency_profile); today's CMSIS-NN is 1.2-2x faster on the same board"),
    "cortex-m-mve/cmsis-nn": ProfileSpec(
        "Cortex-M85 (Helium/MVE), TFLM + CMSIS-NN 2023", "cmsis-nn",
        ("Cortex-M85",), ("Cortex-M55",), ("macs", "elements", "weight_loads"), 4,
        "one board (EK-RA8D1): its factor borrows the board-to-board spread measured on the DSP profile"),
}


@dataclass(frozen=True)
class Submission:
    round: str
    system: str
    results: str
    code: str
    board: str


SUBMISSIONS = (
    Submission("v0.5", "closed/reference/systems/Nucleo_L4R5ZI_System_Description.json",
               "closed/reference/results/Nucleo-L4R5ZI", "closed/reference/code", "nucleo-l4r5zi"),
    Submission("v0.7", "closed/renesas/systems/EK-RA6M4_System_Description.json",
               "closed/renesas/results/EK-RA6M4", "closed/renesas/code/EK_RA6M4", "ek-ra6m4"),
    Submission("v1.0", "closed/OctoML/systems/system_description_NUCLEO_L4R5ZI_microtvm_cmsis_nn.json",
               "closed/OctoML/results/microtvm_cmsis_nn/NUCLEO_L4R5ZI", "closed/OctoML/code/microtvm_cmsis_nn/NUCLEO_L4R5ZI",
               "nucleo-l4r5zi"),
    Submission("v1.0", "closed/OctoML/systems/system_description_NRF5340DK_microtvm_cmsis_nn.json",
               "closed/OctoML/results/microtvm_cmsis_nn/NRF5340-DK", "closed/OctoML/code/microtvm_cmsis_nn/NRF5340DK",
               "nrf5340-dk"),
    Submission("v1.2", "closed/Renesas/systems/EK-RA8D1.json", "closed/Renesas/results/EK-RA8D1",
               "closed/Renesas/code/EK-RA8D1", "ek-ra8d1"),
)
#: Later runs of a used entry's binaries: read and compared, not fitted twice.
REPRODUCTIONS = {
    ("v1.1", "closed/Krai/systems/NUCLEO-L4R5ZI_MICROTVM-CMSIS-NN.json"): (
        "closed/Krai/results/NUCLEO-L4R5ZI_MICROTVM-CMSIS-NN", "closed/OctoML/results/microtvm_cmsis_nn/NUCLEO_L4R5ZI"),
    ("v1.1", "closed/Krai/systems/NRF5340-DK_MICROTVM-CMSIS-NN.json"): (
        "closed/Krai/results/NRF5340-DK_MICROTVM-CMSIS-NN", "closed/OctoML/results/microtvm_cmsis_nn/NRF5340-DK"),
    ("v1.1", "closed/cTuning/systems/NUCLEO-L4R5ZI_MicroTVM_CMSIS_NN.json"): (
        "closed/cTuning/results/NUCLEO-L4R5ZI_MicroTVM_CMSIS_NN", "closed/OctoML/results/microtvm_cmsis_nn/NUCLEO_L4R5ZI"),
}
EXCLUDED = {
    ("v0.5", "closed/PengChengLaboratory/systems/dividiti-closed-pcl-scepu02.json"):
        "RISC-V core, TFLM 2.3.1 reference kernels (no CMSIS-NN)",
    ("v0.7", "closed/Andes/systems/AndesCore_d25_tflite_micro_framework.json"): "RISC-V, Andes NN library",
    ("v0.7", "closed/Andes/systems/AndesCore_d45_tflite_micro_framework.json"): "RISC-V, Andes NN library",
    ("v0.7", "closed/Andes/systems/AndesCore_nx27v_tflite_micro_framework.json"): "RISC-V, Andes NN library",
    ("v0.7", "closed/renesas/systems/RX65N-Cloud-Kit_System_Description.json"):
        "Renesas RXv2 core with a modified CMSIS-NN port, not an Arm core",
    ("v0.7", "closed/silicon_labs/systems/silicon_labs_xG24_DK2601B.json"): "MVP accelerator runs the layers",
    ("v1.0", "closed/silicon_labs/systems/silicon_labs_xG24_DK2601B.json"): "MVP accelerator runs the layers",
    ("v1.1", "closed/Nuvoton/systems/NUMAKER_M467HJ-zephyr.json"):
        "ONNC compiler over CMSIS_5: its own code generation, not TFLM",
    ("v1.1", "closed/Skymizer/systems/NUCLEO_L4R5ZI-mbed_os.json"):
        "ONNC compiler over CMSIS_5: its own code generation, not TFLM",
    ("v1.1", "closed/Skymizer/systems/NUCLEO_L4R5ZI-zephyr.json"):
        "ONNC compiler over CMSIS_5: its own code generation, not TFLM",
}
_TFLM = re.compile(r"tensorflow lite|tflite|tflm|tensorflow lite for micro", re.IGNORECASE)
_KERNELS = re.compile(r"cmsis|esp-nn|esp_nn|espressif", re.IGNORECASE)


# --------------------------------------------------------------------------- reading the repositories


class Repo:
    """One results repository, read with git (a bare mirror or a clone's .git)."""

    def __init__(self, path: Path):
        git_dir = path / ".git" if (path / ".git").exists() else path
        if not (git_dir / "HEAD").exists():
            raise SystemExit(f"{path}: not a git repository")
        self.git_dir = git_dir
        self.commit = self._git("rev-parse", "HEAD").strip()
        self.files = {}
        for line in self._git("ls-tree", "-r", "-l", "HEAD").splitlines():
            meta, name = line.split("\t", 1)
            size = meta.split()[3]
            self.files[name] = int(size) if size.isdigit() else 0

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], capture_output=True, check=True,
                              text=True, errors="replace").stdout

    def read(self, name: str) -> bytes:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", "show", f"HEAD:{name}"], capture_output=True,
                              check=True).stdout

    def text(self, name: str) -> str:
        return self.read(name).decode("utf-8", errors="replace")

    def under(self, folder: str) -> list[str]:
        return [name for name in self.files if name.startswith(folder.rstrip("/") + "/")]


def find_repos(mirrors: Path) -> dict[str, Repo]:
    repos = {}
    for version in ROUNDS:
        for candidate in (mirrors / f"tiny_results_{version}", mirrors / f"mlcommons+tiny_results_{version}" / "repo"):
            if candidate.exists():
                repos[version] = Repo(candidate)
                break
    if not repos:
        raise SystemExit(f"{mirrors}: no tiny_results_v* repository found")
    return repos


def json_field(text: str, key: str) -> str:
    """One string field of a system description (several published ones are not valid JSON)."""
    match = re.search(r'"' + re.escape(key) + r'"\s*:\s*"([^"]*)"', text)
    return match.group(1).strip() if match else ""


def median_throughput(repo: Repo, results: str, benchmark: str) -> float:
    name = f"{results}/{benchmark}/performance/results.txt"
    match = re.search(r"Median throughput is\s+([0-9.]+)\s+inf\./sec\.", repo.text(name))
    if match is None:
        raise SystemExit(f"{name}: no median throughput")
    return float(match.group(1))


def kernel_version(repo: Repo, submission: Submission, system_text: str) -> str:
    """What the published code says about the CMSIS-NN it ran."""
    headers = [n for n in repo.under(submission.code) if n.endswith("/arm_nnfunctions.h")]
    if headers:
        text = repo.text(headers[0])
        date = re.search(r"\$Date:\s*(.+)", text)
        revision = re.search(r"\$Revision:\s*(\S+)", text)
        return (f"CMSIS-NN (arm_nnfunctions.h {revision.group(1) if revision else '?'}, "
                f"{date.group(1).strip() if date else '?'})")
    sha = re.search(r'"CMSIS_NN"\s*:\s*\{\s*"SHA"\s*:\s*"([0-9a-f]+)"', system_text)
    if sha:
        return f"CMSIS-NN of CMSIS_5 {sha.group(1)[:8]}"
    for name in repo.under(submission.code):
        if name.endswith("setup_example.sh") and 'TF_MAKE_TAGS="cmsis-nn"' in repo.text(name):
            return "CMSIS-NN (TF_MAKE_TAGS=cmsis-nn of TFLM's make build)"
    raise SystemExit(f"{submission.system}: no evidence of CMSIS-NN in {submission.code}")


def embedded_models(repo: Repo, submission: Submission) -> dict[str, str]:
    """sha256 of each flatbuffer the published code embeds as a C array, by reference-model sha256."""
    found = {}
    for name in repo.under(submission.code):
        size = repo.files.get(name, 0)
        base = name.rsplit("/", 1)[-1].lower()
        if not (50_000 < size < 3_000_000 and base.endswith((".cc", ".c")) and "model" in base):
            continue
        body = re.search(rb"\{([^{}]*)\}", repo.read(name), re.S)
        if body is None:
            continue
        values = re.findall(rb"0x[0-9a-fA-F]{1,2}\b|\b\d{1,3}\b", body.group(1))
        data = bytes(int(v, 0) & 0xFF for v in values)
        if data[4:8] == b"TFL3":
            found[hashlib.sha256(data).hexdigest()] = name
    return found


def clock_mhz(text: str) -> float:
    match = re.search(r"([0-9.]+)\s*MHz", text, re.IGNORECASE)
    if match is None:
        raise SystemExit(f"no clock in {text!r}")
    return float(match.group(1))


def core_name(text: str) -> str:
    match = re.search(r"Cortex\W*-?\s*(M\d+P?)", text, re.IGNORECASE)
    if match is None:
        raise SystemExit(f"no Cortex-M core in {text!r}")
    return f"Cortex-{match.group(1).upper()}"


def corpus_sha256() -> dict[str, str]:
    return {bench: hashlib.sha256((CORPUS / name).read_bytes()).hexdigest() for bench, name in BENCHMARKS.items()}


def review(repos: dict[str, Repo]) -> list[str]:
    """Every system description that mentions TFLM or a CMSIS-NN/esp-nn library, and what became of it."""
    used = {(s.round, s.system) for s in SUBMISSIONS}
    lines, unreviewed = [], []
    for version, repo in repos.items():
        for name in sorted(repo.files):
            if "/systems/" not in name or not name.endswith(".json") or "/._" in name:
                continue
            text = repo.text(name)
            framework = json_field(text, "Inference Framework")
            libraries = text.split('"Software Libraries"', 1)[-1][:400]
            if not (_TFLM.search(framework) or _KERNELS.search(libraries)):
                continue
            key = (version, name)
            if key in used:
                verdict = "used"
            elif key in REPRODUCTIONS:
                verdict = "reproduction of a used entry"
            elif key in EXCLUDED:
                verdict = "excluded: " + EXCLUDED[key]
            elif "syntiant" in name.lower():
                verdict = "excluded: Syntiant NDP accelerator"
            else:
                verdict = "UNREVIEWED"
                unreviewed.append(f"{version} {name}")
            lines.append(f"  {version} {name}: {framework or '-'} -> {verdict}")
    if unreviewed:
        raise SystemExit("system descriptions to review (add to SUBMISSIONS, REPRODUCTIONS or EXCLUDED):\n  "
                         + "\n  ".join(unreviewed))
    return lines


FIELDS = ("round", "submitter", "system", "board", "core", "clock_mhz", "framework", "kernels", "profile",
          "benchmark", "model", "model_identical", "median_inf_per_s", "latency_ms", "result", "commit")


def extract(repos: dict[str, Repo]) -> tuple[list[dict], list[str]]:
    expected = corpus_sha256()
    rows, notes = [], []
    for submission in SUBMISSIONS:
        repo = repos[submission.round]
        text = repo.text(submission.system)
        framework = json_field(text, "Inference Framework")
        kernels = kernel_version(repo, submission, text)
        core = core_name(json_field(text, "Processor(s) Name"))
        clock = clock_mhz(json_field(text, "Processor(s) Frequencies"))
        embedded = embedded_models(repo, submission)
        tvm = re.search(r'"TVM"\s*:\s*\{\s*"SHA"\s*:\s*"([0-9a-f]+)"', text)
        if "2.3.1" in framework:
            stack = "TFLM 2.3.1"
        elif _TFLM.search(framework):
            stack = "TFLM"
        elif "microtvm" in framework.lower():
            stack = f"microTVM {tvm.group(1)[:8]}" if tvm else "microTVM"
        else:
            raise SystemExit(f"{submission.system}: framework {framework!r} is neither TFLM nor microTVM")
        if stack == "TFLM 2.3.1":
            profile = "cortex-m-dsp/cmsis-nn-tflm-2.3.1"
        else:
            profile = next(name for name, spec in PROFILES.items()
                           if spec.kernel_library == "cmsis-nn" and core in spec.cores)
        for benchmark in BENCHMARKS:
            throughput = median_throughput(repo, submission.results, benchmark)
            identical = ("yes" if expected[benchmark] in embedded else
                         "not embedded as a .tflite" if not embedded else "NO")
            rows.append({
                "round": submission.round, "submitter": submission.system.split("/")[1],
                "system": submission.results.rsplit("/", 1)[-1], "board": submission.board, "core": core,
                "clock_mhz": f"{clock:g}", "framework": stack,
                "kernels": kernels, "profile": profile, "benchmark": benchmark, "model": BENCHMARKS[benchmark],
                "model_identical": identical, "median_inf_per_s": f"{throughput:g}",
                "latency_ms": f"{1000 / throughput:.4g}",
                "result": f"tiny_results_{submission.round}:{submission.results}/{benchmark}/performance/results.txt",
                "commit": repo.commit[:12],
            })
    for (version, system), (results, original) in REPRODUCTIONS.items():
        repo = repos[version]
        first = next(s for s in SUBMISSIONS if s.results == original)
        deviations = []
        for benchmark in BENCHMARKS:
            if f"{results}/{benchmark}/performance/results.txt" not in repo.files:
                continue
            again = median_throughput(repo, results, benchmark)
            before = median_throughput(repos[first.round], original, benchmark)
            deviations.append(abs(again / before - 1))
        notes.append(f"{version} {results.split('/')[1]} {results.rsplit('/', 1)[-1]}: reproduces "
                     f"{first.round} {original.split('/')[1]} within {max(deviations):.2%} "
                     f"({len(deviations)} benchmarks)")
    return rows, notes


def write_table(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def read_table(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- the fit


def features(benchmark: str, pixels: int) -> dict[str, float]:
    from jsqat_embed.tflite import read_model

    work = operator_work(read_model(CORPUS / BENCHMARKS[benchmark]))
    counts = {"macs": float(sum(w.macs for w in work)), "elements": float(sum(w.elements for w in work)),
              "weight_loads": float(sum(w.weight_loads(pixels) for w in work)), "ops": float(len(work))}
    for name in OP_CLASSES:  # MACs per class: only for the alternatives the docs compare with
        counts[f"macs_{name}"] = float(sum(w.macs for w in work if w.op_class == name))
    return counts


@dataclass
class Point:
    row: dict
    cycles: float
    x: dict[str, float]

    @property
    def key(self) -> tuple[str, str, str]:
        return self.row["board"], self.row["framework"], self.row["benchmark"]


def points(rows: list[dict]) -> dict[str, list[Point]]:
    cache: dict[tuple[str, int], dict] = {}
    out: dict[str, list[Point]] = {name: [] for name in PROFILES}
    for row in rows:
        spec = PROFILES[row["profile"]]
        key = (row["benchmark"], spec.pixels_per_weight_pass)
        if key not in cache:
            cache[key] = features(*key)
        cycles = float(row["latency_ms"]) * 1e-3 * float(row["clock_mhz"]) * 1e6
        out[row["profile"]].append(Point(row, cycles, cache[key]))
    return out


def fit(selected: list[Point], terms: tuple[str, ...]) -> dict[str, float]:
    """Non-negative least squares on relative error, by trying every subset of terms."""
    y = np.array([p.cycles for p in selected])
    a = np.array([[p.x[t] for t in terms] for p in selected]) / y[:, None]
    b = 1 - np.array([CYCLES_PER_OP * p.x["ops"] for p in selected]) / y
    best, best_residual = None, math.inf
    for size in range(1, len(terms) + 1):
        for subset in itertools.combinations(range(len(terms)), size):
            columns = a[:, subset]
            if np.linalg.matrix_rank(columns) < size:
                continue
            solution, *_ = np.linalg.lstsq(columns, b, rcond=None)
            if np.any(solution < 0):
                continue
            residual = float(np.sum((columns @ solution - b) ** 2))
            if residual < best_residual - 1e-15:
                best_residual = residual
                best = dict.fromkeys(terms, 0.0)
                for index, value in zip(subset, solution):
                    best[terms[index]] = float(value)
    if best is None:
        raise SystemExit("no non-negative fit")
    return best


def predict(coefficients: dict[str, float], point: Point) -> float:
    return sum(coefficients[t] * point.x[t] for t in coefficients) + CYCLES_PER_OP * point.x["ops"]


def error(predicted: float, measured: float) -> float:
    return max(predicted / measured, measured / predicted)


def geomean(values: list[float]) -> float:
    return float(math.exp(sum(math.log(v) for v in values) / len(values))) if values else float("nan")


#: Other term sets, fitted and cross-validated the same way, for the docs' comparison.
ALTERNATIVES = {
    "one efficiency per profile (MACs only)": ("macs",),
    "one efficiency per op class": tuple(f"macs_{name}" for name in OP_CLASSES[:4]),
    "MACs, elements and weight loads everywhere": ("macs", "elements", "weight_loads"),
}


def cross_validate(group: list[Point], terms: tuple[str, ...]) -> tuple[dict, dict]:
    lomo, lobo = {}, {}
    for benchmark in BENCHMARKS:
        held = fit([p for p in group if p.row["benchmark"] != benchmark], terms)
        for p in group:
            if p.row["benchmark"] == benchmark:
                lomo[p.key] = predict(held, p)
    boards = sorted({p.row["board"] for p in group})
    if len(boards) > 1:
        for board in boards:
            held = fit([p for p in group if p.row["board"] != board], terms)
            for p in group:
                if p.row["board"] == board:
                    lobo[p.key] = predict(held, p)
    return lomo, lobo


def alternatives(rows: list[dict]) -> list[tuple[str, list[float], list[float]]]:
    """LOMO and LOBO errors of the TFLM entries under each alternative term set (and the chosen one)."""
    grouped = points(rows)
    out = []
    for label, terms in [("chosen (this file's profiles)", None), *ALTERNATIVES.items()]:
        lomo_errors, lobo_errors = [], []
        for name, spec in PROFILES.items():
            group = grouped[name]
            lomo, lobo = cross_validate(group, spec.terms if terms is None else terms)
            for p in group:
                if p.row["framework"].startswith("TFLM"):
                    lomo_errors.append(error(lomo[p.key], p.cycles))
                    if p.key in lobo:
                        lobo_errors.append(error(lobo[p.key], p.cycles))
        out.append((label, lomo_errors, lobo_errors))
    return out


def calibrate(rows: list[dict]) -> dict:
    """Fit every profile, then cross-validate: leave one model out, leave one board out."""
    grouped = points(rows)
    result = {"profiles": {}, "points": []}
    for name, spec in PROFILES.items():
        group = grouped[name]
        coefficients = fit(group, spec.terms)
        lomo, lobo = cross_validate(group, spec.terms)
        boards = sorted({p.row["board"] for p in group})
        result["profiles"][name] = {"spec": spec, "coefficients": coefficients, "boards": boards,
                                    "points": group, "lomo": lomo, "lobo": lobo}
        for p in group:
            result["points"].append({"point": p, "profile": name, "fitted": predict(coefficients, p),
                                     "lomo": lomo.get(p.key), "lobo": lobo.get(p.key)})
    spread = [error(prof["lobo"][p.key], p.cycles) for prof in result["profiles"].values() for p in prof["points"]
              if p.key in prof["lobo"]]
    board_spread = max(spread) if spread else 1.0
    for name, prof in result["profiles"].items():
        errors = {"in_sample": [error(predict(prof["coefficients"], p), p.cycles) for p in prof["points"]],
                  "lomo": [error(prof["lomo"][p.key], p.cycles) for p in prof["points"]],
                  "lobo": [error(prof["lobo"][p.key], p.cycles) for p in prof["points"] if p.key in prof["lobo"]]}
        # A new model on a new board: both cross-validated worst cases, combined as independent errors
        # (a profile with one board borrows the board-to-board spread measured where there are several).
        new_model = math.log(max(errors["lomo"]))
        new_board = math.log(max(errors["lobo"]) if errors["lobo"] else board_spread)
        prof["factor"] = math.exp(math.hypot(new_model, new_board))
        prof["errors"] = errors
    result["board_spread"] = board_spread
    tflm = [r for r in result["points"] if r["point"].row["framework"].startswith("TFLM")]
    result["tflm"] = {
        "lomo": [error(r["lomo"], r["point"].cycles) for r in tflm],
        "lobo": [error(r["lobo"], r["point"].cycles) for r in tflm if r["lobo"] is not None],
        "in_sample": [error(r["fitted"], r["point"].cycles) for r in tflm],
        "entries": len(tflm),
    }
    return result


# --------------------------------------------------------------------------- writing


def _float(value: float) -> str:
    return repr(float(f"{value:.6g}"))


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_toml(result: dict, data_sha256: str) -> str:
    out = [
        "# Latency cycle-model coefficients: GENERATED by scripts/calibrate_latency.py from mlperf_tiny.csv;",
        "# do not edit by hand. cycles per operator = cycles_per_mac * MACs + cycles_per_element * elements",
        "# + cycles_per_weight_load * weight bytes read (each weight reused for pixels_per_weight_pass output",
        "# pixels) + cycles_per_op. factor: the estimate's multiplicative uncertainty (worst leave-one-model-out",
        "# and leave-one-board-out errors combined). See docs/latency.md.",
        "",
        "[meta]",
        f"data = {_string(MLPERF_DATA)}",
        f"data_sha256 = {_string(data_sha256)}",
        f"fit = {_string('least squares on relative error, coefficients >= 0; cycles_per_op assumed, not fitted')}",
        f"extrapolated_factor = {_float(EXTRAPOLATED_FACTOR)}",
        f"uncalibrated_factor = {_float(UNCALIBRATED_FACTOR)}",
        f"board_spread = {_float(result['board_spread'])}",
    ]
    for name, prof in result["profiles"].items():
        spec, coefficients, errors = prof["spec"], prof["coefficients"], prof["errors"]
        sources = sorted({p.row["result"].rsplit("/", 3)[0] for p in prof["points"]})
        out += [
            "",
            "[[profiles]]",
            f"name = {_string(name)}",
            f"title = {_string(spec.title)}",
            f"kernel_library = {_string(spec.kernel_library)}",
            f"cores = {json.dumps(list(spec.cores))}",
            f"extrapolated_cores = {json.dumps(list(spec.extrapolated_cores))}",
            f"pixels_per_weight_pass = {spec.pixels_per_weight_pass}",
            f"cycles_per_mac = {_float(coefficients.get('macs', 0.0))}",
            f"cycles_per_element = {_float(coefficients.get('elements', 0.0))}",
            f"cycles_per_weight_load = {_float(coefficients.get('weight_loads', 0.0))}",
            f"cycles_per_op = {_float(CYCLES_PER_OP)}",
            f"factor = {_float(prof['factor'])}",
            f"boards = {json.dumps(prof['boards'])}",
            f"note = {_string(spec.note)}",
            "sources = [",
            *[f"  {_string(source)}," for source in sources],
            "]",
            "",
            "[profiles.cross_validation]",
            f"entries = {len(prof['points'])}",
            f"in_sample_geomean = {_float(geomean(errors['in_sample']))}",
            f"in_sample_worst = {_float(max(errors['in_sample']))}",
            f"leave_one_model_out_geomean = {_float(geomean(errors['lomo']))}",
            f"leave_one_model_out_worst = {_float(max(errors['lomo']))}",
        ]
        if errors["lobo"]:
            out += [f"leave_one_board_out_geomean = {_float(geomean(errors['lobo']))}",
                    f"leave_one_board_out_worst = {_float(max(errors['lobo']))}"]
    return "\n".join(out) + "\n"


def _board_default_ms(point: Point) -> float | None:
    """The estimate this model replaced: MACs / (the board file's int8_macs_per_cycle x clock)."""
    path = ROOT / "boards" / f"{point.row['board']}.toml"
    if not path.exists():
        return None
    rate = tomllib.loads(path.read_text())["board"]["int8_macs_per_cycle"]
    return point.x["macs"] / (rate * float(point.row["clock_mhz"]) * 1e3)


def _ms(cycles: float, point: Point) -> float:
    return cycles / (float(point.row["clock_mhz"]) * 1e3)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def render_docs(result: dict, notes: list[str]) -> str:
    """The generated part of docs/latency.md."""
    out = ["### Published against estimated, every entry used", "",
           "ms per inference; *fitted*: the profile fitted to all its entries; *LOMO*: fitted without that "
           "model; *LOBO*: fitted without that board (blank where the profile has one board); *old*: "
           "MACs ÷ (the board file's int8 MAC/cycle × clock), the estimate this model replaced; "
           "error = max(est/meas, meas/est).", "",
           "| entry | core, MHz | stack | model | published | fitted | LOMO | LOBO | old |",
           "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for item in result["points"]:
        p = item["point"]
        published = float(p.row["latency_ms"])
        cells = [f"{p.row['system']} ({p.row['round']} {p.row['submitter']})", f"{p.row['core']}, {p.row['clock_mhz']}",
                 f"{p.row['framework']}; {p.row['kernels']}", p.row["benchmark"].upper(), _fmt(published)]
        for key in ("fitted", "lomo", "lobo"):
            if item[key] is None:
                cells.append("")
            else:
                ms = _ms(item[key], p)
                cells.append(f"{_fmt(ms)} (×{error(ms, published):.2f})")
        old = _board_default_ms(p)
        cells.append("" if old is None else f"{_fmt(old)} (×{error(old, published):.2f})")
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "### Coefficients and cross-validated errors", "",
            "| profile | cycles/MAC | cycles/element | cycles/weight byte read | in-sample | LOMO geo-mean (worst) "
            "| LOBO geo-mean (worst) | factor |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, prof in result["profiles"].items():
        c, e = prof["coefficients"], prof["errors"]
        lobo = f"×{geomean(e['lobo']):.2f} (×{max(e['lobo']):.2f})" if e["lobo"] else "one board: n/a"
        out.append(f"| `{name}` | {c.get('macs', 0):.3g} | {c.get('elements', 0):.3g} | {c.get('weight_loads', 0):.3g} "
                   f"| ×{geomean(e['in_sample']):.2f} | ×{geomean(e['lomo']):.2f} (×{max(e['lomo']):.2f}) | {lobo} "
                   f"| ×{prof['factor']:.2f} |")
    t = result["tflm"]
    out += ["", f"Over the {t['entries']} TFLM + CMSIS-NN entries: in-sample ×{geomean(t['in_sample']):.2f} "
            f"(worst ×{max(t['in_sample']):.2f}); leave-one-model-out ×{geomean(t['lomo']):.2f} "
            f"(worst ×{max(t['lomo']):.2f}); leave-one-board-out ×{geomean(t['lobo']):.2f} "
            f"(worst ×{max(t['lobo']):.2f}) over the {len(t['lobo'])} whose profile has another board.",
            ""]
    out += ["### The kernel library's version, same board", "",
            "| board | model | TFLM 2.3.1 (2020), ms | later CMSIS-NN, ms | ratio |", "|---|---|---:|---:|---:|"]
    by_key = {(r["point"].row["board"], r["point"].row["benchmark"], r["point"].row["framework"]): r["point"]
              for r in result["points"]}
    for (board, benchmark, framework), old in by_key.items():
        if framework != "TFLM 2.3.1":
            continue
        for (board2, benchmark2, framework2), new in by_key.items():
            if board2 == board and benchmark2 == benchmark and framework2 != framework:
                ratio = float(old.row["latency_ms"]) / float(new.row["latency_ms"])
                out.append(f"| {board} | {benchmark.upper()} | {old.row['latency_ms']} | {new.row['latency_ms']} "
                           f"({framework2}) | {ratio:.2f} |")
    out += ["", "### Other term sets, cross-validated the same way (TFLM + CMSIS-NN entries)", "",
            "| terms | LOMO geo-mean (worst) | LOBO geo-mean (worst) |", "|---|---:|---:|"]
    for label, lomo, lobo in result.get("alternatives", []):
        out.append(f"| {label} | ×{geomean(lomo):.2f} (×{max(lomo):.2f}) | ×{geomean(lobo):.2f} (×{max(lobo):.2f}) |")
    out += ["", "Reproductions read and not fitted twice:", ""]
    out += [f"- {note}" for note in notes] if notes else ["- (none recorded)"]
    return "\n".join(out) + "\n"


BEGIN = "<!-- BEGIN GENERATED by scripts/calibrate_latency.py -->"
END = "<!-- END GENERATED -->"


def splice(document: str, block: str) -> str:
    head, rest = document.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def reproduction_notes(path: Path) -> list[str]:
    """The reproduction lines kept in the table file's companion (they need the repositories to recompute)."""
    return [line[2:] for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("- ")] \
        if path.exists() else []


def outputs(rows: list[dict], table_text: str, notes: list[str]) -> dict[Path, str]:
    result = calibrate(rows)
    result["alternatives"] = alternatives(rows)
    data_sha256 = hashlib.sha256(table_text.encode()).hexdigest()
    files = {DATA_DIR / CYCLE_MODELS: render_toml(result, data_sha256)}
    if DOCS.exists():
        files[DOCS] = splice(DOCS.read_text(encoding="utf-8"), render_docs(result, notes))
    return files


NOTES = DATA_DIR / "reproductions.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, help="folder with the tiny_results_v* git repositories")
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed files differ from a refit")
    args = parser.parse_args(argv)
    table = DATA_DIR / MLPERF_DATA
    if args.mirrors:
        repos = find_repos(args.mirrors)
        for line in review(repos):
            print(line)
        rows, notes = extract(repos)
        mismatched = [r for r in rows if r["model_identical"] == "NO"]
        if mismatched:
            raise SystemExit("embedded model differs from the reference: " + ", ".join(r["result"] for r in mismatched))
        write_table(rows, table)
        NOTES.write_text("Reproductions of used MLPerf Tiny entries (read by scripts/calibrate_latency.py, not fitted):\n\n"
                         + "".join(f"- {note}\n" for note in notes), encoding="utf-8")
        print(f"wrote {table.relative_to(ROOT)} ({len(rows)} rows) and {NOTES.relative_to(ROOT)}")
    rows = read_table(table)
    files = outputs(rows, table.read_text(encoding="utf-8"), reproduction_notes(NOTES))
    stale = [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is not what the fit writes: run scripts/calibrate_latency.py")
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    result = calibrate(rows)
    for name, prof in result["profiles"].items():
        e = prof["errors"]
        print(f"{name}: {prof['coefficients']} factor ×{prof['factor']:.3f}; LOMO ×{geomean(e['lomo']):.3f} "
              f"(worst ×{max(e['lomo']):.3f})" + (f"; LOBO ×{geomean(e['lobo']):.3f} (worst ×{max(e['lobo']):.3f})"
                                                  if e["lobo"] else ""))
    t = result["tflm"]
    print(f"TFLM + CMSIS-NN entries ({t['entries']}): LOMO ×{geomean(t['lomo']):.3f} (worst ×{max(t['lomo']):.3f}); "
          f"LOBO ×{geomean(t['lobo']):.3f} (worst ×{max(t['lobo']):.3f}, {len(t['lobo'])} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
