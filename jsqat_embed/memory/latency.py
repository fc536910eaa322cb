"""How long one inference takes on a board: a per-operator cycle model with its uncertainty.

Each operator costs

    cycles = cycles_per_mac * MACs + cycles_per_element * elements
             + cycles_per_weight_load * weight_loads + cycles_per_op

where *elements* are the output elements of a MAC operator (each one requantized
and stored) or the elements an elementwise/pooling/data-movement operator
touches, and *weight_loads* are the weight bytes read from flash when a kernel
reuses each weight for ``pixels_per_weight_pass`` output pixels (CMSIS-NN's
DSP path computes 2 output pixels per pass over a filter, its MVE/Helium path 4;
a fully connected layer at batch 1 reads every weight once). Operator classes
(1x1 and kxk convolution, depthwise, fully connected, other) are reported, not
fitted separately: four published models cannot pin down four per-class
efficiencies (docs/latency.md shows the leave-one-model-out errors that result).

The coefficients are data: ``boards/latency/cycle_models.toml``, one profile per
core family x kernel library, fitted by ``scripts/calibrate_latency.py`` to the
MLPerf Tiny results in ``boards/latency/mlperf_tiny.csv``, with each profile's
cross-validated error as its uncertainty factor. A board whose core and kernel
library no published TFLM measurement covers falls back to its own
``int8_macs_per_cycle`` (the estimate this module replaced) with a wide factor.
"""

from __future__ import annotations

import math
import re
import tomllib
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from jsqat_embed.errors import BoardProfileError
from jsqat_embed.graph.analysis import count_macs

if TYPE_CHECKING:
    from jsqat_embed.boards.profile import BoardProfile
    from jsqat_embed.graph.model import Model, Operator

OP_CLASSES = ("conv_1x1", "conv_kxk", "depthwise", "fully_connected", "other")
#: ops whose weight product `count_macs` does not count: their cost is only per element here
UNMODELLED_MAC_OPS = frozenset({"BATCH_MATMUL", "UNIDIRECTIONAL_SEQUENCE_LSTM", "SVDF", "CONV_3D", "LSTM",
                                "BIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN", "RNN"})
BOARD_PROFILE = "board"  # the fallback: the board file's int8_macs_per_cycle
CYCLE_MODELS = "cycle_models.toml"
MLPERF_DATA = "mlperf_tiny.csv"


def latency_directory() -> Path:
    """``boards/latency`` (``jsqat_embed/data/boards/latency`` in a wheel): the data table and the fitted profiles."""
    from jsqat_embed.boards.profile import board_directory

    return board_directory() / "latency"


# --------------------------------------------------------------------------- what each operator does


@dataclass(frozen=True)
class OperatorWork:
    """The counts the cycle model prices, for one operator."""

    index: int
    opcode: str
    op_class: str
    macs: int
    elements: int
    weight_bytes: int  # constant weights of a MAC operator
    output_pixels: int  # output rows that share one pass over the weights (1 for FC at batch 1)

    def weight_loads(self, pixels_per_pass: int) -> int:
        if not self.weight_bytes:
            return 0
        return self.weight_bytes * -(-self.output_pixels // max(1, pixels_per_pass))


def op_class(op: Operator) -> str:
    if op.opcode == "CONV_2D":
        weights = op.input(1)
        if weights is not None and len(weights.shape) == 4 and weights.shape[1] == weights.shape[2] == 1:
            return "conv_1x1"
        return "conv_kxk"
    if op.opcode == "TRANSPOSE_CONV":
        return "conv_kxk"
    if op.opcode == "DEPTHWISE_CONV_2D":
        return "depthwise"
    if op.opcode == "FULLY_CONNECTED":
        return "fully_connected"
    return "other"


_WORK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def operator_work(model: Model) -> list[OperatorWork]:
    """MACs, elements and weights of every operator of the main subgraph (cached per model object)."""
    cached = _WORK.get(model)
    if cached is None or len(cached) != len(model.operators):
        cached = _WORK[model] = _operator_work(model)
    return cached


def _operator_work(model: Model) -> list[OperatorWork]:
    work = []
    for op in model.operators:
        macs = count_macs(op)
        outputs = [t for t in op.outputs if t is not None]
        if macs:
            out = outputs[0]
            weights = op.input(1)
            weight_bytes = weights.nbytes if weights is not None and weights.is_constant else 0
            channels = out.shape[-1] if out.shape else 1
            pixels = max(1, out.size // max(1, channels))
            work.append(OperatorWork(op.index, op.opcode, op_class(op), macs, sum(t.size for t in outputs),
                                     weight_bytes, pixels))
        else:
            touched = [t.size for t in list(op.inputs) + outputs if t is not None and not t.is_constant]
            work.append(OperatorWork(op.index, op.opcode, op_class(op), 0, max(touched, default=0), 0, 1))
    return work


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class CycleProfile:
    """Coefficients for one core family x kernel library, and how far to trust them."""

    name: str
    title: str
    kernel_library: str
    cores: tuple[str, ...]  # measured in the calibration data
    extrapolated_cores: tuple[str, ...]  # same kernel code path, not measured
    cycles_per_mac: float
    cycles_per_element: float
    cycles_per_weight_load: float
    cycles_per_op: float
    pixels_per_weight_pass: int
    factor: float  # multiplicative uncertainty: the estimate is within [t / factor, t * factor]
    boards: tuple[str, ...] = ()
    note: str = ""
    sources: tuple[str, ...] = ()
    stats: dict = field(default_factory=dict)

    def cycles(self, work: OperatorWork) -> float:
        return (self.cycles_per_mac * work.macs + self.cycles_per_element * work.elements
                + self.cycles_per_weight_load * work.weight_loads(self.pixels_per_weight_pass) + self.cycles_per_op)


@dataclass(frozen=True)
class CycleModels:
    profiles: dict[str, CycleProfile]
    extrapolated_factor: float
    uncalibrated_factor: float
    data_sha256: str


@lru_cache(maxsize=4)
def _load(path: Path) -> CycleModels:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoardProfileError(f"{path}: the latency coefficients are missing: the installation is incomplete "
                                "(scripts/calibrate_latency.py writes them)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BoardProfileError(f"{path}: cannot read the latency coefficients ({exc})") from exc
    try:
        meta = data["meta"]
        profiles = {}
        for raw in data["profiles"]:
            profile = CycleProfile(
                name=raw["name"], title=raw["title"], kernel_library=raw["kernel_library"],
                cores=tuple(raw["cores"]), extrapolated_cores=tuple(raw.get("extrapolated_cores", ())),
                cycles_per_mac=float(raw["cycles_per_mac"]), cycles_per_element=float(raw["cycles_per_element"]),
                cycles_per_weight_load=float(raw["cycles_per_weight_load"]), cycles_per_op=float(raw["cycles_per_op"]),
                pixels_per_weight_pass=int(raw["pixels_per_weight_pass"]), factor=float(raw["factor"]),
                boards=tuple(raw.get("boards", ())), note=raw.get("note", ""), sources=tuple(raw.get("sources", ())),
                stats=dict(raw.get("cross_validation", {})))
            if profile.name in profiles or profile.name == BOARD_PROFILE:
                raise KeyError(f"profile name {profile.name!r} repeated or reserved")
            if min(profile.cycles_per_mac, profile.cycles_per_element, profile.cycles_per_weight_load,
                   profile.cycles_per_op) < 0 or profile.factor < 1:
                raise ValueError(f"profile {profile.name!r}: negative coefficient or factor below 1")
            profiles[profile.name] = profile
        return CycleModels(profiles, float(meta["extrapolated_factor"]), float(meta["uncalibrated_factor"]),
                           meta.get("data_sha256", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise BoardProfileError(f"{path}: malformed latency coefficients ({exc})") from exc


def cycle_models(path: Path | None = None) -> CycleModels:
    """The fitted profiles (cached); ``path`` for a file of one's own."""
    return _load((path or latency_directory() / CYCLE_MODELS).resolve())


def profile_names() -> tuple[str, ...]:
    """What a board may name as its latency profile: every fitted profile and ``board``."""
    return (*cycle_models().profiles, BOARD_PROFILE)


_CORE = re.compile(r"cortex[-\s]?m(\d+)(p|\+)?", re.IGNORECASE)


def core_family(core: str) -> str | None:
    """``"Cortex-M33 (dual core)"`` -> ``"Cortex-M33"``; the first Cortex-M named wins (the main core)."""
    match = _CORE.search(core)
    if match is None:
        return None
    return f"Cortex-M{match.group(1)}{(match.group(2) or '').upper()}"


def select_profile(board: BoardProfile, models: CycleModels | None = None) -> tuple[CycleProfile | None, str]:
    """The profile for ``board`` and on what basis: ``calibrated``, ``extrapolated``, ``override`` or ``uncalibrated``.

    A board file's ``latency_profile`` (when its schema has one) wins; ``board`` there
    forces the board's own int8_macs_per_cycle.
    """
    models = models or cycle_models()
    override = getattr(board, "latency_profile", None)
    if override:
        if override == BOARD_PROFILE:
            return None, "override"
        if override not in models.profiles:
            raise BoardProfileError(f"{board.path or board.id}: latency_profile {override!r} is not one of "
                                    f"{', '.join((*models.profiles, BOARD_PROFILE))}")
        return models.profiles[override], "override"
    family = core_family(board.core)
    for profile in models.profiles.values():
        if profile.kernel_library != board.kernel_library or family is None:
            continue
        if family in profile.cores:
            return profile, "calibrated"
        if family in profile.extrapolated_cores:
            return profile, "extrapolated"
    return None, "uncalibrated"


# --------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class OperatorLatency:
    index: int
    opcode: str
    op_class: str
    cycles: float


@dataclass
class LatencyEstimate:
    """Milliseconds per inference, the interval [ms / factor, ms * factor] and where the time goes."""

    ms: float
    factor: float
    profile: str  # a profile name, or "board" for the int8_macs_per_cycle fallback
    basis: str  # calibrated | extrapolated | override | uncalibrated
    clock_mhz: float
    slowdown: float
    operators: list[OperatorLatency]
    description: str
    notes: list[str] = field(default_factory=list)

    @property
    def low_ms(self) -> float:
        return self.ms / self.factor

    @property
    def high_ms(self) -> float:
        return self.ms * self.factor

    @property
    def cycles(self) -> float:
        return sum(op.cycles for op in self.operators) * self.slowdown

    def by_class(self) -> dict[str, float]:
        """Milliseconds per operator class (every class listed, zeros included)."""
        totals = dict.fromkeys(OP_CLASSES, 0.0)
        for op in self.operators:
            totals[op.op_class] += op.cycles
        return {name: cycles * self.slowdown / (self.clock_mhz * 1e3) for name, cycles in totals.items()}

    def to_json(self) -> dict:
        return {
            "estimate_ms": _round(self.ms),
            "interval_ms": [_round(self.low_ms), _round(self.high_ms)],
            "factor": round(self.factor, 3),
            "profile": self.profile,
            "basis": self.basis,
            "cycles": round(self.cycles),
            "clock_mhz": self.clock_mhz,
            "slowdown": self.slowdown,
            "by_class_ms": {name: _round(ms) for name, ms in self.by_class().items()},
            "description": self.description,
            "notes": self.notes,
        }

    def text(self) -> str:
        """``≈ 180 ms (×1.3)``: two significant digits, the factor rounded up to one decimal."""
        return f"≈ {format_ms(self.ms)} ms (×{math.ceil(self.factor * 10 - 1e-9) / 10:g})"


def _round(ms: float) -> float:
    return float(f"{ms:.4g}")


def format_ms(ms: float) -> str:
    """Two significant digits, thousands separated: 182.4 -> 180, 3.46 -> 3.5, 1234 -> 1,200."""
    if ms <= 0:
        return "0"
    digits = 1 - math.floor(math.log10(ms))
    rounded = round(ms, digits)
    return f"{rounded:,.0f}" if digits <= 0 else f"{rounded:.{digits}f}"


def estimate_latency(model: Model, board: BoardProfile, *, slowdown: float = 1.0,
                     models: CycleModels | None = None) -> LatencyEstimate:
    """The latency of one inference of ``model`` on ``board`` (``slowdown``: e.g. an arena in external RAM)."""
    models = models or cycle_models()
    profile, basis = select_profile(board, models)
    work = operator_work(model)
    notes = []
    unmodelled = sorted({w.opcode for w in work if w.opcode in UNMODELLED_MAC_OPS})
    if unmodelled:
        notes.append(f"{', '.join(unmodelled)} priced per element only: their weight products are not counted")
    if len(model.subgraphs) > 1:
        notes.append("only the main subgraph is counted (control-flow subgraphs run on demand)")
    if profile is None:
        rate = board.int8_macs_per_cycle
        operators = [OperatorLatency(w.index, w.opcode, w.op_class, w.macs / rate) for w in work]
        factor = models.uncalibrated_factor
        why = ("the board file's choice" if basis == "override" else
               f"no published TFLM measurement covers {board.core} with {board.kernel_library}")
        description = (f"{sum(w.macs for w in work):,} MACs at the board's {rate:g} int8 MAC/cycle "
                       f"({why}; ×{factor:g})")
        name = BOARD_PROFILE
    else:
        operators = [OperatorLatency(w.index, w.opcode, w.op_class, profile.cycles(w)) for w in work]
        factor = profile.factor
        if basis == "extrapolated":
            factor = max(factor, models.extrapolated_factor)
            notes.append(f"{core_family(board.core)} runs {profile.kernel_library}'s code path of "
                         f"{'/'.join(profile.cores)} but was not measured")
        description = f"{profile.title}, fitted to MLPerf Tiny ({basis}; ×{factor:.2f})"
        name = profile.name
    cycles = sum(op.cycles for op in operators) * slowdown
    return LatencyEstimate(ms=cycles / (board.clock_mhz * 1e3), factor=factor, profile=name, basis=basis,
                           clock_mhz=board.clock_mhz, slowdown=slowdown, operators=operators,
                           description=description, notes=notes)
