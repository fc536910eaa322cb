"""Fuzzing the model pipeline and the board loader with mutated real inputs (issue 14).

One harness, two drivers: ``tests/fuzz/test_fuzz.py`` (hypothesis draws every choice, a
bounded derandomized run in CI, shrinking on failure) and ``scripts/fuzz.py`` (a seeded
``random.Random`` draws them, for the long run; docs/robustness.md).

A case is a seed (a real model from tests/corpus, a hand-built op model from
tests/op_models.py, or a bundled board file) and a few mutations: byte flips, 32-bit
words overwritten with boundary values, truncations, splices from another seed, and
structured edits of flatbuffer fields (shapes, tensor indices, scales, zero points,
buffer references and offsets, options) made on the tree the project's own codec
decodes and encodes. Each case runs in a worker process under an address-space limit
and a wall-clock limit; the property is that every stage (read_model, fit_board on a
board, Emulator construction and one invoke) ends in a result or a
:class:`jsqat_embed.errors.JsqatError`: never another exception, a crash, more than
``CASE_SECONDS`` or more than ``CASE_BYTES`` of memory.

The differential run (``scripts/fuzz.py --differential``, the end of this file) adds: a model
the emulator accepts must give TFLM's outputs byte for byte (docs/robustness.md, "Differential run").
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import struct
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
MAX_SEED_BYTES = 200_000
CASE_SECONDS = 10.0
CASE_BYTES = 1 << 30
#: boards the estimator is fuzzed against: reference kernels on arm32, CMSIS-NN, esp-nn, the host wheel
FIT_BOARDS = ("rpi-pico", "nucleo-h743zi2", "esp32s3-devkitc-n8r8", "host")

#: a draw function: ``draw(n)`` is an integer in [0, n)
Draw = Callable[[int], int]

INTERESTING_INTS = (0, 1, -1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 127, 128, 255, 256, -128, 65535, 65536, 1 << 20,
                    (1 << 31) - 1, -(1 << 31), (1 << 32) - 1)
INTERESTING_FLOATS = (0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, 1e-45, 3.4e38, float("nan"), float("inf"), float("-inf"),
                      1e-10, 65536.0)


# --- seeds ------------------------------------------------------------------------------------


def model_seeds() -> dict[str, bytes]:
    """Name -> bytes of every seed model: the small real models and a few hand-built op models."""
    seeds = {path.name: path.read_bytes() for path in sorted(CORPUS.glob("*.tflite"))
             if path.stat().st_size <= MAX_SEED_BYTES}
    seeds.update(_op_model_seeds())
    return seeds


def _op_model_seeds() -> dict[str, bytes]:
    from tests.op_models import T, op, op_model

    rng = np.random.default_rng(0)
    x = T("x", (1, 6, 6, 3), "int8", scale=0.05, zero_point=-3)
    w = T("w", (4, 3, 3, 3), "int8", scale=[0.01, 0.02, 0.03, 0.04], axis=0,
          data=rng.integers(-127, 128, (4, 3, 3, 3)))
    b = T("b", (4,), "int32", scale=[0.0005, 0.001, 0.0015, 0.002], data=rng.integers(-500, 500, 4))
    y = T("y", (1, 4, 4, 4), "int8", scale=0.1, zero_point=2)
    conv = op_model([op("CONV_2D", [x, w, b], [y], padding="VALID", stride_w=1, stride_h=1,
                        fused_activation_function="RELU")])
    dw = T("dw", (1, 3, 3, 3), "int8", scale=[0.01, 0.02, 0.03], axis=3, data=rng.integers(-127, 128, (1, 3, 3, 3)))
    db = T("db", (3,), "int32", scale=[0.0005, 0.001, 0.0015], data=rng.integers(-500, 500, 3))
    dy = T("dy", (1, 6, 6, 3), "int8", scale=0.1)
    pooled = T("pooled", (1, 3, 3, 3), "int8", scale=0.1)
    flat = T("flat", (1, 27), "int8", scale=0.1)
    fw = T("fw", (5, 27), "int8", scale=0.02, data=rng.integers(-127, 128, (5, 27)))
    fy = T("fy", (1, 5), "int8", scale=0.2, zero_point=-1)
    soft = T("soft", (1, 5), "int8", scale=1 / 256, zero_point=-128)
    chain = op_model([
        op("DEPTHWISE_CONV_2D", [x, dw, db], [dy], padding="SAME", stride_w=1, stride_h=1, depth_multiplier=1),
        op("MAX_POOL_2D", [dy], [pooled], padding="VALID", stride_w=2, stride_h=2, filter_width=2, filter_height=2),
        op("RESHAPE", [pooled], [flat]),
        op("FULLY_CONNECTED", [flat, fw, None], [fy]),
        op("SOFTMAX", [fy], [soft], beta=1.0),
    ])
    return {"op_conv.tflite": conv, "op_chain.tflite": chain}


def board_seeds() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((REPO / "boards").glob("*.toml"))}


# --- mutations --------------------------------------------------------------------------------


def _pick(draw: Draw, items):
    return items[draw(len(items))]


def mutate_bytes(data: bytes, draw: Draw, others: list[bytes]) -> bytes:
    """One byte-level mutation: flips, a boundary word, a truncation or a splice."""
    out = bytearray(data)
    if not out:
        return bytes(out)
    kind = draw(5)
    if kind == 0:  # flip a few bytes
        for _ in range(1 + draw(8)):
            out[draw(len(out))] ^= 1 << draw(8)
    elif kind == 1:  # a byte to a boundary value
        out[draw(len(out))] = _pick(draw, (0, 1, 0x7F, 0x80, 0xFF, 0xFE))
    elif kind == 2 and len(out) >= 4:  # an aligned 32-bit word (offsets, lengths, indices) to a boundary value
        at = draw(len(out) // 4) * 4
        out[at:at + 4] = struct.pack("<I", _pick(draw, INTERESTING_INTS) & 0xFFFFFFFF)
    elif kind == 3:  # truncation
        del out[draw(len(out)):]
    else:  # splice: a slice of another seed over or into this one
        other = _pick(draw, others) if others else data
        start = draw(max(1, len(other)))
        piece = other[start:start + 1 + draw(256)]
        at = draw(len(out) + 1)
        if draw(2):
            out[at:at + len(piece)] = piece
        else:
            out[at:at] = piece
    return bytes(out)


def _slots(node, path=()):
    """Every (container, key, path) in a decoded flatbuffer tree that a mutation can change."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield node, key, path + (key,)
            if isinstance(value, (dict, list)):
                yield from _slots(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, (dict, list)):
                yield node, index, path + (index,)
                yield from _slots(value, path + (index,))


#: fields whose corruption the issue's campaign found most telling: picked more often
_FAVOURED = {"shape", "shape_signature", "inputs", "outputs", "scale", "zero_point", "quantized_dimension",
             "buffer", "offset", "size", "type", "builtin_options", "data", "opcode_index", "builtin_code",
             "deprecated_builtin_code", "stride_w", "stride_h", "filter_width", "filter_height",
             "dilation_w_factor", "dilation_h_factor", "depth_multiplier", "padding", "new_shape", "axis",
             "fused_activation_function", "keep_num_dims", "beta", "custom_options"}


def mutate_tree(data: bytes, draw: Draw) -> bytes | None:
    """One structured mutation of a flatbuffer field, through the project's codec (decode,
    edit, encode); None when the seed does not decode or the edit cannot be encoded."""
    from jsqat_embed.tflite import codec

    try:
        tree = codec.decode(data)
    except Exception:  # a seed the codec refuses is mutated at the byte level instead
        return None
    slots = list(_slots(tree))
    favoured = [slot for slot in slots if slot[1] in _FAVOURED]
    if not slots:
        return None
    container, key, _ = _pick(draw, favoured) if favoured and draw(4) else _pick(draw, slots)
    container[key] = _mutated_value(container[key], draw)
    if container[key] is _DELETE:
        if isinstance(container, dict):
            del container[key]
        else:
            container.pop(key)
    try:
        return codec.encode(tree)
    except Exception:  # an edit the schema cannot hold (an int too wide for its field, say)
        return None


_DELETE = object()


def _mutated_value(value, draw: Draw):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return _pick(draw, (*INTERESTING_INTS, value + 1, value - 1, value * 2, value * 1000))
    if isinstance(value, float):
        return _pick(draw, (*INTERESTING_FLOATS, value * 2, -value))
    if isinstance(value, np.ndarray):
        return _mutated_array(value, draw)
    if isinstance(value, (bytes, bytearray)):
        choice = draw(3)
        if choice == 0:
            return bytes(value[:draw(len(value) + 1)])
        if choice == 1:
            return bytes(value) + bytes(1 + draw(64))
        flipped = bytearray(value)
        if flipped:
            flipped[draw(len(flipped))] ^= 0xFF
        return bytes(flipped)
    if isinstance(value, str):
        return _pick(draw, ("", value * 2, "x", "\x00"))
    if isinstance(value, list):
        copy = list(value)
        choice = draw(4)
        if choice == 0 and copy:
            copy.pop(draw(len(copy)))
        elif choice == 1 and copy:
            copy.append(copy[draw(len(copy))])
        elif choice == 2 and len(copy) > 1:
            i, j = draw(len(copy)), draw(len(copy))
            copy[i], copy[j] = copy[j], copy[i]
        else:
            copy.clear()
        return copy
    if isinstance(value, dict):
        return _DELETE
    return value


def _mutated_array(array: np.ndarray, draw: Draw) -> np.ndarray:
    flat = array.reshape(-1).copy()
    choice = draw(4)
    if choice == 0 or flat.size == 0:  # one more element, or one fewer
        if flat.size and draw(2):
            return np.delete(flat, draw(flat.size))
        return np.append(flat, flat[draw(flat.size)] if flat.size else 1).astype(array.dtype)
    if choice == 1:
        return flat[:0]
    index = draw(flat.size)
    if array.dtype.kind == "f":
        flat[index] = _pick(draw, INTERESTING_FLOATS)
    elif array.dtype.kind in "iu":
        info = np.iinfo(array.dtype)
        candidates = [v for v in (*INTERESTING_INTS, int(flat[index]) + 1, int(flat[index]) - 1)
                      if info.min <= v <= info.max]
        flat[index] = _pick(draw, candidates)
    elif array.dtype.kind == "b":
        flat[index] = not flat[index]
    return flat


def make_case(draw: Draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """(seed name, mutated bytes): one seed and one to three mutations, structured or bytes."""
    names = sorted(seeds)
    name = _pick(draw, names)
    data = seeds[name]
    others = [seeds[n] for n in names]
    for _ in range(1 + draw(3)):
        mutated = mutate_tree(data, draw) if name.endswith(".tflite") and draw(2) else None
        data = mutated if mutated is not None else mutate_bytes(data, draw, others)
    return name, data


# --- running one case ---------------------------------------------------------------------------


@dataclass
class Outcome:
    verdict: str  # "ok" (every stage a result or a project error) or a finding: exception, memory, hang, crash
    detail: str = ""
    stage: str = ""
    where: str = ""  # the innermost frame of the traceback: file:line function
    seconds: float = 0.0
    arrays: tuple | None = None  # the differential run's (inputs, outputs) of an accepted model

    @property
    def finding(self) -> bool:
        return self.verdict != "ok"


def run_model_case(data: bytes, case_index: int = 0) -> Outcome:
    """Every stage on one mutated model, in this process (the worker calls this)."""
    from jsqat_embed.errors import JsqatError

    started = time.monotonic()
    stage = "read_model"
    try:
        from jsqat_embed.tflite import read_model

        try:
            model = read_model(data, name="fuzz")
        except JsqatError:
            return Outcome("ok", "refused at read", seconds=time.monotonic() - started)
        stage = "fit_board"
        try:
            from jsqat_embed.boards import load_board
            from jsqat_embed.memory.fit import fit_board

            fit_board(model, load_board(FIT_BOARDS[case_index % len(FIT_BOARDS)]))
        except JsqatError:
            pass
        stage = "Emulator"
        try:
            from jsqat_embed.emulator import Emulator

            emulator = Emulator(model)
            stage = "Emulator.run"
            rng = np.random.default_rng(case_index)
            inputs = [_input(tensor, rng) for tensor in emulator.inputs]
            emulator.run(*inputs)
        except JsqatError:
            pass
    except BaseException as exc:  # noqa: BLE001 - the property: nothing but JsqatError may get here
        return _finding(exc, stage, started)
    return Outcome("ok", seconds=time.monotonic() - started)


def run_board_case(data: bytes, case_index: int = 0) -> Outcome:
    """A mutated board file through the strict loader, then (if loaded) the estimator on a small model."""
    import tempfile

    from jsqat_embed.errors import JsqatError

    started = time.monotonic()
    stage = "load_board_file"
    try:
        from jsqat_embed.boards import load_board_file

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "board.toml"
            path.write_bytes(data)
            try:
                board = load_board_file(path)
            except JsqatError:
                return Outcome("ok", "refused", seconds=time.monotonic() - started)
        stage = "fit_board"
        from jsqat_embed.memory.fit import fit_board
        from jsqat_embed.tflite import read_model

        try:
            fit_board(read_model(_BOARD_FIT_MODEL), board)
        except JsqatError:
            pass
    except BaseException as exc:  # noqa: BLE001
        return _finding(exc, stage, started)
    return Outcome("ok", seconds=time.monotonic() - started)


def _run_probe(data: bytes, case_index: int = 0) -> Outcome:
    """What the harness's own test uses to check that its limits hold: b"sleep" outlives the
    time limit, b"allocate" asks for twice the memory limit, b"exit" kills the worker."""
    started = time.monotonic()
    try:
        if data == b"sleep":
            time.sleep(CASE_SECONDS * 10)
        elif data == b"allocate":
            np.ones(2 * CASE_BYTES, np.uint8)
        elif data == b"exit":
            os._exit(3)
    except BaseException as exc:  # noqa: BLE001
        return _finding(exc, "probe", started)
    return Outcome("ok", seconds=time.monotonic() - started)


#: the model board cases are estimated with (read before the worker's memory limit)
_BOARD_FIT_MODEL = (CORPUS / "hello_world_int8.tflite").read_bytes()


def _input(tensor, rng) -> np.ndarray:
    dtype = np.dtype(tensor.dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -128), min(info.max, 127) + 1, tensor.shape, endpoint=False).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, tensor.shape).astype(dtype)
    return rng.standard_normal(tensor.shape).astype(dtype)


def _finding(exc: BaseException, stage: str, started: float) -> Outcome:
    verdict = "memory" if _caused_by(exc, MemoryError) else "exception"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "jsqat_embed" in f.filename] or frames
    top = ours[-1] if ours else None
    where = f"{os.path.relpath(top.filename, REPO)}:{top.lineno} {top.name}" if top else ""
    return Outcome(verdict, f"{type(exc).__name__}: {str(exc)[:300]}", stage, where, time.monotonic() - started)


def _caused_by(exc: BaseException | None, kind: type) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


# --- the worker: one process, many cases, each under limits ---------------------------------------


def _worker(connection, memory_bytes: int) -> None:
    import resource

    # Limit the address space to what the process already maps plus the budget: a case
    # that tries to allocate more fails with MemoryError (a "memory" finding) instead of
    # taking the machine's memory.
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = mapped + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    runners = {"model": run_model_case, "board": run_board_case, "probe": _run_probe,
               "differential": run_emulator_side}
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        if message[0] == "numbered":  # ("numbered", seed, index): make the case here, return it if it finds
            _, seed, index = message
            kind, name, data = numbered_case(seed, index)
            outcome = runners[kind](data, index)
            connection.send((outcome, (kind, name, data) if outcome.finding else None))
        elif message[0] == "differential":  # ("differential", seed, index): the emulator's side, with the case
            _, seed, index = message
            name, data = differential_case(seed, index)
            outcome = run_emulator_side(data, index)
            connection.send((outcome, ("model", name, data) if outcome.finding or outcome.arrays else None))
        else:
            kind, data, case_index = message
            connection.send((runners[kind](data, case_index), None))


def _stop(process, connection, kill: bool) -> None:
    """End a worker process: ask it to return (``None``), or kill it; kill it if it has not
    returned within 5 s; close its connection."""
    if kill:
        process.kill()
    else:
        try:
            connection.send(None)
        except OSError:
            pass
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join()
    connection.close()


class Worker:
    """A forked worker process running cases under CASE_BYTES (address space beyond its own
    start) and CASE_SECONDS each; restarted after a hang or a crash."""

    def __init__(self, seconds: float = CASE_SECONDS, memory_bytes: int = CASE_BYTES):
        self.seconds, self.memory_bytes = seconds, memory_bytes
        self.process = None
        self._start()

    def _start(self) -> None:
        # Import the pipeline before forking so each worker starts warm.
        import jsqat_embed.boards  # noqa: F401
        import jsqat_embed.emulator  # noqa: F401
        import jsqat_embed.memory.fit  # noqa: F401
        import jsqat_embed.tflite  # noqa: F401

        context = multiprocessing.get_context("fork")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, self.memory_bytes), daemon=True)
        self.process.start()
        child.close()

    def run(self, kind: str, data: bytes, case_index: int = 0) -> Outcome:
        """One given case (a model's or a board file's bytes)."""
        return self._ask((kind, data, case_index))[0]

    def run_numbered(self, seed: int, index: int) -> tuple[Outcome, tuple[str, str, bytes] | None]:
        """Case ``index`` of run ``seed``, made in the worker; with (kind, seed name, bytes) if it finds."""
        outcome, case = self._ask(("numbered", seed, index))
        if outcome.finding and case is None:  # a hang or a crash: make the case again here
            case = numbered_case(seed, index)
        return outcome, case

    def run_differential(self, seed: int, index: int) -> tuple[Outcome, tuple[str, str, bytes] | None]:
        """The emulator's side of differential case ``index`` of run ``seed``: with the case
        when it finds or when the model was accepted (then TFLM runs it too)."""
        outcome, case = self._ask(("differential", seed, index))
        if outcome.finding and case is None:
            case = ("model", *differential_case(seed, index))
        return outcome, case

    def _ask(self, message) -> tuple[Outcome, tuple | None]:
        started = time.monotonic()
        self.connection.send(message)
        died = False
        if self.connection.poll(self.seconds):
            try:
                outcome, case = self.connection.recv()
            except EOFError:  # the worker's end closed: it died
                died = True
            else:
                if outcome.seconds > self.seconds and not outcome.finding:
                    return Outcome("hang", f"took {outcome.seconds:.1f} s", seconds=outcome.seconds), None
                return outcome, case
        elapsed = time.monotonic() - started
        self.close(kill=True)
        self._start()
        if died:
            return Outcome("crash", "the worker died", seconds=elapsed), None
        return Outcome("hang", f"no outcome within {self.seconds:.0f} s", seconds=elapsed), None

    def close(self, kill: bool = False) -> None:
        if self.process is None:
            return
        _stop(self.process, self.connection, kill)


def save_regression(kind: str, data: bytes, outcome: Outcome, findings_log: Path | None = None) -> Path:
    """Keep a finding's input as tests/fuzz/regressions/<sha>.tflite|.toml (replayed by
    test_fuzz.py) and append it to ``findings_log`` for whoever fixes it."""
    REGRESSIONS.mkdir(exist_ok=True)
    suffix = ".tflite" if kind == "model" else ".toml"
    path = REGRESSIONS / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    path.write_bytes(data)
    if findings_log is not None:
        with open(findings_log, "a") as log:
            log.write(f"- `{path.relative_to(REPO)}`: {outcome.verdict} at {outcome.stage}: {outcome.detail} "
                      f"({outcome.where}; {outcome.seconds:.2f} s)\n")
    return path


def random_draw(rng: random.Random) -> Draw:
    return lambda n: rng.randrange(n) if n > 0 else 0


#: one case in BOARD_EVERY is a board file, the others models
BOARD_EVERY = 10
_SEEDS: dict[str, dict[str, bytes]] = {}


def numbered_case(seed: int, index: int) -> tuple[str, str, bytes]:
    """(kind, seed name, bytes) of case ``index`` of the run ``seed``: the same on every
    machine and in every process, so a case is replayed from its two numbers alone."""
    if not _SEEDS:
        _SEEDS["model"], _SEEDS["board"] = model_seeds(), board_seeds()
    kind = "board" if index % BOARD_EVERY == BOARD_EVERY - 1 else "model"
    name, data = make_case(random_draw(random.Random(f"{seed}:{index}")), _SEEDS[kind])
    return kind, name, data


# --- the differential run: accepted mutated models against the real TFLM ------------------------
#
# The property above is only "a result or a project error". The differential run adds: a
# result must be TFLM's, byte for byte. The emulator side runs in the limited Worker (a
# "differential" message); TFLM runs in a TflmWorker, a forked child that keeps the wheel
# loaded and is restarted when TFLM aborts it (it does, on some bad models).

#: differential seeds: the small corpus models and the op models; those with a CONV_2D or a
#: DEPTHWISE_CONV_2D (the issue's reproduction) are drawn three times in four
DIFFERENTIAL_MAX_SEED_BYTES = 60_000
DIFFERENTIAL_SAMPLES = 2
_DIFFERENTIAL_SEEDS: dict[str, dict[str, bytes]] = {}


def differential_seeds() -> tuple[dict[str, bytes], list[str], list[str]]:
    """(name -> bytes, convolution seed names, other seed names): the model seeds under
    DIFFERENTIAL_MAX_SEED_BYTES that the emulator runs unmutated."""
    if not _DIFFERENTIAL_SEEDS:
        from jsqat_embed.emulator import Emulator
        from jsqat_embed.tflite import read_model

        seeds, kinds = {}, {}
        for name, data in model_seeds().items():
            if len(data) > DIFFERENTIAL_MAX_SEED_BYTES:
                continue
            try:
                model = read_model(data, name=name)
                Emulator(model)
            except Exception:  # noqa: BLE001 - a seed the emulator does not run tells nothing here
                continue
            seeds[name] = data
            opcodes = {operator.opcode for subgraph in model.subgraphs for operator in subgraph.operators}
            kinds[name] = bool(opcodes & {"CONV_2D", "DEPTHWISE_CONV_2D"})
        _DIFFERENTIAL_SEEDS["seeds"] = seeds
        _DIFFERENTIAL_SEEDS["kinds"] = kinds
    seeds, kinds = _DIFFERENTIAL_SEEDS["seeds"], _DIFFERENTIAL_SEEDS["kinds"]
    return seeds, sorted(n for n in seeds if kinds[n]), sorted(n for n in seeds if not kinds[n])


def differential_case(seed: int, index: int) -> tuple[str, bytes]:
    """(seed name, bytes) of case ``index`` of differential run ``seed`` (reproducible as numbered_case)."""
    seeds, convolutions, others = differential_seeds()
    draw = random_draw(random.Random(f"differential:{seed}:{index}"))
    names = convolutions if convolutions and (not others or draw(4)) else others
    name = _pick(draw, names)
    return _mutate_seed(draw, name, seeds)


def _mutate_seed(draw: Draw, name: str, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    data = seeds[name]
    others = [seeds[n] for n in sorted(seeds)]
    for _ in range(1 + draw(3)):
        mutated = mutate_tree(data, draw) if draw(2) else None
        data = mutated if mutated is not None else mutate_bytes(data, draw, others)
    return name, data


def run_emulator_side(data: bytes, case_index: int = 0) -> Outcome:
    """read_model, Emulator and a run on DIFFERENTIAL_SAMPLES random samples; an accepted
    model's Outcome carries (inputs, outputs) in ``arrays``, a refused one says where."""
    from jsqat_embed.errors import JsqatError

    started = time.monotonic()
    stage = "read_model"
    try:
        from jsqat_embed.emulator import Emulator
        from jsqat_embed.tflite import read_model
        from jsqat_embed.verify.compare import random_inputs

        try:
            model = read_model(data, name="fuzz")
            stage = "Emulator"
            emulator = Emulator(model)
            stage = "Emulator.run"
            inputs = random_inputs(emulator, DIFFERENTIAL_SAMPLES, case_index)
            outputs = emulator.run(*inputs)
        except JsqatError as exc:
            return Outcome("ok", f"refused at {stage}: {type(exc).__name__}: {str(exc)[:200]}", stage,
                           seconds=time.monotonic() - started)
    except BaseException as exc:  # noqa: BLE001 - the fuzz property still holds here
        return _finding(exc, stage, started)
    return Outcome("ok", "accepted", stage, seconds=time.monotonic() - started,
                   arrays=([np.asarray(a) for a in inputs], [np.asarray(a) for a in outputs]))


def run_tflm(model: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The real TFLM on ``inputs`` (samples along axis 0, as the emulator takes them), each
    sample from a fresh interpreter state; outputs concatenated over samples. Raises what the
    wheel raises; may abort the process (run it in a TflmWorker)."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model, arena_size=max(len(model) * 10, 64 << 20))
    count = 0
    while True:
        try:
            interpreter.get_input_details(count)
        except Exception:  # noqa: BLE001 - the wheel raises past the last input
            break
        count += 1
    if count != len(inputs):
        raise ValueError(f"TFLM sees {count} input(s), the emulator {len(inputs)}")
    details = [interpreter.get_input_details(i) for i in range(count)]
    outputs: dict[int, list[np.ndarray]] = {}
    for sample in range(DIFFERENTIAL_SAMPLES):
        if sample:
            interpreter.reset()
        for i, (array, detail) in enumerate(zip(inputs, details)):
            shape = tuple(int(d) for d in detail["shape"])
            batch = shape[0] if shape else 1
            value = np.asarray(array[sample * batch:(sample + 1) * batch])
            if np.dtype(detail["dtype"]) != value.dtype or value.size != int(np.prod(shape)):
                raise ValueError(f"input {i}: TFLM expects {np.dtype(detail['dtype'])} {shape}, "
                                 f"the emulator {value.dtype} {tuple(array.shape)}")
            interpreter.set_input(value.reshape(shape), i)
        interpreter.invoke()
        index = 0
        while True:
            try:
                value = interpreter.get_output(index)
            except Exception:  # noqa: BLE001 - past the last output
                break
            outputs.setdefault(index, []).append(np.array(value))
            index += 1
    return [np.concatenate([np.atleast_1d(v) for v in outputs[i]]) for i in sorted(outputs)]


def compare_outputs(ours: list[np.ndarray], theirs: list[np.ndarray]) -> str:
    """"" when equal byte for byte, else what differs."""
    if len(ours) != len(theirs):
        return f"{len(ours)} outputs, TFLM {len(theirs)}"
    for i, (mine, reference) in enumerate(zip(ours, theirs)):
        if mine.dtype != reference.dtype:
            return f"output {i}: dtype {mine.dtype}, TFLM {reference.dtype}"
        if mine.size != reference.size:
            return f"output {i}: shape {mine.shape}, TFLM {reference.shape}"
        mine = mine.reshape(reference.shape)
        if mine.tobytes() != reference.tobytes():
            if mine.dtype.kind in "iu":
                diff = np.abs(mine.astype(np.int64) - reference.astype(np.int64))
                return f"output {i}: {int((diff > 0).sum())} of {diff.size} values differ, max |diff| {int(diff.max())}"
            return f"output {i}: {int((mine != reference).sum())} of {mine.size} values differ"
    return ""


def _tflm_worker(connection, memory_bytes: int, log_path: str) -> None:
    import resource

    # TFLM reports why it refuses a model on stdout/stderr (MicroPrintf): keep it in a file
    # the parent reads, also after an abort.
    log = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = mapped + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        model, inputs = message
        os.ftruncate(log, 0)
        os.lseek(log, 0, os.SEEK_SET)
        try:
            connection.send(("ok", run_tflm(model, inputs)))
        except BaseException as exc:  # noqa: BLE001 - any refusal is an answer
            connection.send(("refused", f"{type(exc).__name__}: {str(exc)[:200]}"))


class TflmWorker:
    """The real TFLM in a forked child, one model at a time; an abort or a hang restarts it."""

    def __init__(self, seconds: float = CASE_SECONDS, memory_bytes: int = CASE_BYTES):
        import tempfile

        self.seconds, self.memory_bytes = seconds, memory_bytes
        with tempfile.NamedTemporaryFile(prefix="jsqat-fuzz-tflm-", suffix=".log", delete=False) as log:
            self.log_path = log.name
        self.process = None
        self._start()

    def _start(self) -> None:
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401 - loaded once, before forking

        context = multiprocessing.get_context("fork")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_tflm_worker, args=(child, self.memory_bytes, self.log_path),
                                       daemon=True)
        self.process.start()
        child.close()

    def run(self, model: bytes, inputs: list[np.ndarray]) -> tuple[str, object]:
        """("ok", outputs), ("refused", why), ("crash", TFLM's last words) or ("hang", "")."""
        self.connection.send((model, inputs))
        if self.connection.poll(self.seconds):
            try:
                answer = self.connection.recv()
            except EOFError:
                pass
            else:
                if answer[0] == "refused":
                    answer = ("refused", f"{answer[1]} | {self._last_words()}")
                return answer
            verdict = ("crash", self._last_words())
        else:
            verdict = ("hang", "")
        self.close(kill=True)
        self._start()
        return verdict

    def _last_words(self) -> str:
        try:
            lines = [line.strip() for line in Path(self.log_path).read_text(errors="replace").splitlines()
                     if line.strip()]
        except OSError:
            return ""
        return " / ".join(lines[-2:])[:300]

    def close(self, kill: bool = False) -> None:
        if self.process is None:
            return
        _stop(self.process, self.connection, kill)
        self.process = None
        Path(self.log_path).unlink(missing_ok=True)
