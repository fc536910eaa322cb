"""A smaller arena than TFLM plans itself: an operator order and tensor offsets TFLM honours.

TFLM runs operators in the order the flatbuffer lists them and places tensors with
its greedy planner, unless the model carries an ``OfflineMemoryAllocation``
metadata buffer: one offset per tensor (-1: plan online), which
``micro_allocation_info.cc`` hands to the planner before any online buffer. So a
smaller arena needs no change to TFLM or the firmware, only a better-written file.

The search, all of it scored by the estimator's exact replay of TFLM's allocator
(:func:`jsqat_embed.memory.arena.estimate_arena`, tail and scratch included):

1. operator orders: the file's own, and orders built by a memory-aware list
   scheduler (at each step, among the ready operators, the one that leaves the
   fewest live bytes; ties by the file's order) and by depth-first completion of
   branches (Liberis & Lane 2019 show reordering alone saves memory on branchy
   graphs);
2. for each order, tensor offsets: TFLM's own greedy plan (no metadata), and
   first-fit placements in several priority orders (size, lifetime, size x
   lifetime, start; Pisarchyk & Lee 2020), and, for small graphs, an exact
   mixed-integer program (``scipy.optimize.milp``) with a time limit.

Scratch buffers cannot be planned offline (TFLM plans them online, after the
offline tensors), so candidates are always scored after TFLM's own online pass.
The file's own plan is a candidate, so the result is never worse than TFLM's.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.graph.model import Model, Operator, Subgraph
from jsqat_embed.memory.arena import HOST, HOST_TFLM_VERSION, ArenaEstimate, estimate_arena
from jsqat_embed.memory.planner import ARENA_ALIGNMENT, OFFLINE_PLAN_KEY, ONLINE, Buffer

#: exact placement is tried up to this many planned tensors (the MILP grows with their overlaps)
EXACT_LIMIT = 60


@dataclass
class MemoryPlan:
    """A chosen operator order (indices into the original model) and per-tensor offline offsets."""

    order: list[int]
    offsets: list[int] | None  # one per tensor of the main subgraph, ONLINE (-1) = planned by TFLM; None: no plan
    arena: ArenaEstimate
    baseline: ArenaEstimate  # TFLM's own plan of the original file
    method: str
    lower_bound: int  # the chosen order's floor: its most simultaneously live planned bytes, plus the tail
    tried: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def saving(self) -> int:
        return self.baseline.total - self.arena.total

    @property
    def ratio(self) -> float:
        return self.arena.total / self.baseline.total if self.baseline.total else 1.0


def reordered(model: Model, order: list[int], offsets: list[int] | None) -> Model:
    """A view of ``model`` running its main subgraph's operators in ``order``, with an offline plan."""
    main = model.main
    operators = [dataclasses.replace(main.operators[old], index=new) for new, old in enumerate(order)]
    subgraph = dataclasses.replace(main, operators=operators)
    metadata = dict(model.metadata)
    metadata.pop(OFFLINE_PLAN_KEY, None)
    if offsets is not None:
        metadata[OFFLINE_PLAN_KEY] = offline_plan_bytes(offsets)
    return dataclasses.replace(model, subgraphs=[subgraph, *model.subgraphs[1:]], metadata=metadata)


def offline_plan_bytes(offsets: list[int]) -> bytes:
    """TFLM's OfflineMemoryAllocation layout: int32 [version 0, subgraphs 1, count, offsets...]."""
    words = [0, 1, len(offsets), *offsets]
    return np.asarray(words, dtype="<i4").tobytes()


def _check_supported(model: Model) -> None:
    if len(model.subgraphs) > 1:
        raise UnsupportedModelError("memory optimization handles single-subgraph models only (control flow keeps its plan)")
    if model.metadata.get(OFFLINE_PLAN_KEY) is not None:
        raise UnsupportedModelError(f"the model already carries an offline memory plan ({OFFLINE_PLAN_KEY})")


def _dependencies(subgraph: Subgraph) -> list[set[int]]:
    """For each operator, the operators that must run before it (data, and any shared variable tensor)."""
    producer: dict[int, int] = {}
    last_toucher: dict[int, int] = {}  # variable tensors are state: keep their users in file order
    before: list[set[int]] = []
    for position, op in enumerate(subgraph.operators):
        needs: set[int] = set()
        for tensor in op.inputs:
            if tensor is None:
                continue
            if tensor.index in producer:
                needs.add(producer[tensor.index])
            if tensor.is_variable:
                if tensor.index in last_toucher:
                    needs.add(last_toucher[tensor.index])
                last_toucher[tensor.index] = position
        for tensor in op.outputs:
            producer[tensor.index] = position
        before.append(needs)
    return before


def _memory_aware_order(subgraph: Subgraph, before: list[set[int]], depth_first: bool) -> list[int]:
    """A topological order that keeps few bytes live: a list scheduler over ready operators."""
    count = len(subgraph.operators)
    consumers: dict[int, list[int]] = {}
    for position, op in enumerate(subgraph.operators):
        for tensor in op.inputs:
            if tensor is not None and tensor.data is None:
                consumers.setdefault(tensor.index, []).append(position)
    keep = {t.index for t in subgraph.outputs}
    remaining_uses = {index: len(users) for index, users in consumers.items()}
    done: set[int] = set()
    order: list[int] = []
    last: int | None = None
    while len(order) < count:
        ready = [p for p in range(count) if p not in done and before[p] <= done]

        def freed(position: int) -> int:
            op = subgraph.operators[position]
            gain = 0
            for tensor in {t.index: t for t in op.inputs if t is not None and t.data is None}.values():
                if remaining_uses.get(tensor.index, 0) == 1 and tensor.index not in keep:
                    gain += tensor.nbytes
            return gain - sum(t.nbytes for t in op.outputs)

        def follows_last(position: int) -> bool:
            if last is None:
                return False
            produced = {t.index for t in subgraph.operators[last].outputs}
            return any(t is not None and t.index in produced for t in subgraph.operators[position].inputs)

        if depth_first:
            pick = min(ready, key=lambda p: (not follows_last(p), -freed(p), p))
        else:
            pick = min(ready, key=lambda p: (-freed(p), p))
        order.append(pick)
        done.add(pick)
        last = pick
        for tensor in subgraph.operators[pick].inputs:
            if tensor is not None and tensor.index in remaining_uses:
                remaining_uses[tensor.index] -= 1
    return order


class _LivePeak:
    """The most planned bytes live at once for an operator order: a cheap score for order search.

    Lifetimes as TFLM marks them (created by the producer, alive to the last consumer; model inputs
    from the start, outputs to the end); each operator's scratch adds at its own position."""

    def __init__(self, subgraph: Subgraph, estimate: ArenaEstimate) -> None:
        planned = {b.tensor_index: b.size for b in estimate.buffers if b.tensor_index is not None}
        self.scratch = np.zeros(len(subgraph.operators), dtype=np.int64)
        for buffer in estimate.buffers:
            if buffer.operator_index is not None:
                self.scratch[buffer.operator_index] += buffer.size
        self.tensors = sorted(planned)
        self.size = np.array([planned[i] for i in self.tensors], dtype=np.int64)
        position = {index: k for k, index in enumerate(self.tensors)}
        self.producer = np.full(len(self.tensors), -1)
        self.users: list[list[int]] = [[] for _ in self.tensors]
        for op_index, op in enumerate(subgraph.operators):
            for tensor in op.outputs:
                if tensor.index in position:
                    self.producer[position[tensor.index]] = op_index
            for tensor in op.inputs:
                if tensor is not None and tensor.index in position:
                    self.users[position[tensor.index]].append(op_index)
        self.pinned_end = np.array([index in {t.index for t in subgraph.outputs} for index in self.tensors])
        self.count = len(subgraph.operators)

    def peak(self, order: list[int]) -> int:
        at = np.empty(self.count, dtype=np.int64)
        at[np.asarray(order)] = np.arange(self.count)
        delta = np.zeros(self.count + 2, dtype=np.int64)
        for k in range(len(self.tensors)):
            first = at[self.producer[k]] if self.producer[k] >= 0 else 0
            users = [at[u] for u in self.users[k]]
            last = self.count - 1 if self.pinned_end[k] else max(users + [first])
            delta[first] += self.size[k]
            delta[last + 1] -= self.size[k]
        live = np.cumsum(delta)[: self.count] + self.scratch[np.asarray(order)]
        return int(live.max()) if self.count else 0


def _improve_order(subgraph: Subgraph, before: list[set[int]], order: list[int], score: _LivePeak,
                   deadline: float) -> list[int]:
    """Hill-climb: move one operator at a time to another place in its legal window while the peak drops."""
    after: list[set[int]] = [set() for _ in before]
    for op, needs in enumerate(before):
        for need in needs:
            after[need].add(op)
    best = list(order)
    best_peak = score.peak(best)
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for op in list(best):
            if time.monotonic() >= deadline:
                break
            at = best.index(op)
            lowest = max((best.index(n) for n in before[op]), default=-1) + 1
            highest = min((best.index(n) for n in after[op]), default=len(best)) - 1
            for target in {lowest, highest, (lowest + highest) // 2}:
                if target == at or not lowest <= target <= highest:
                    continue
                candidate = best[:at] + best[at + 1:]
                candidate.insert(target, op)
                peak = score.peak(candidate)
                if peak < best_peak:
                    best, best_peak, improved = candidate, peak, True
                    break
    return best


def _overlaps(a: Buffer, b: Buffer) -> bool:
    return not (a.first_used > b.last_used or b.first_used > a.last_used)


def _first_fit(buffers: list[Buffer], priority) -> dict[int, int]:
    """Place tensor buffers in ``priority`` order, each at the lowest gap among overlapping placed ones."""
    placed: list[Buffer] = []
    offsets: dict[int, int] = {}
    for buffer in sorted(buffers, key=priority):
        candidate = 0
        for other in sorted((p for p in placed if _overlaps(p, buffer)), key=lambda p: p.offset):
            if other.offset - candidate >= buffer.size:
                break
            candidate = max(candidate, other.offset + other.size)
        buffer = dataclasses.replace(buffer, offset=candidate)
        placed.append(buffer)
        offsets[buffer.tensor_index] = candidate
    return offsets


def _exact(buffers: list[Buffer], upper: int, time_limit: float) -> dict[int, int] | None:
    """Minimum-height placement of the tensor buffers (overlapping lifetimes may not share bytes): a MILP."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    unit = ARENA_ALIGNMENT
    sizes = [b.size // unit for b in buffers]
    n = len(buffers)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if _overlaps(buffers[i], buffers[j])]
    big = upper // unit + 1
    # variables: offsets o_0..o_{n-1}, height H, one binary per overlapping pair
    variables = n + 1 + len(pairs)
    rows, lower, upper_bounds = [], [], []
    for i in range(n):  # o_i + s_i <= H
        row = np.zeros(variables)
        row[i], row[n] = 1, -1
        rows.append(row), lower.append(-np.inf), upper_bounds.append(-sizes[i])
    for k, (i, j) in enumerate(pairs):  # either i below j or j below i
        z = n + 1 + k
        row = np.zeros(variables)
        row[i], row[j], row[z] = 1, -1, big
        rows.append(row), lower.append(-np.inf), upper_bounds.append(big - sizes[i])
        row = np.zeros(variables)
        row[j], row[i], row[z] = 1, -1, -big
        rows.append(row), lower.append(-np.inf), upper_bounds.append(-sizes[j])
    objective = np.zeros(variables)
    objective[n] = 1
    integrality = np.ones(variables)
    bounds = Bounds(np.zeros(variables), np.r_[np.full(n + 1, big), np.ones(len(pairs))])
    result = milp(objective, constraints=LinearConstraint(np.array(rows), lower, upper_bounds),
                  integrality=integrality, bounds=bounds, options={"time_limit": time_limit, "disp": False})
    if result.x is None:
        return None
    return {b.tensor_index: int(round(result.x[i])) * unit for i, b in enumerate(buffers)}


PRIORITIES = {
    "size": lambda b: (-b.size, b.first_used),
    "lifetime": lambda b: (-(b.last_used - b.first_used), -b.size),
    "area": lambda b: (-b.size * (b.last_used - b.first_used + 1), b.first_used),
    "start": lambda b: (b.first_used, -b.size),
}


def lower_bound(estimate: ArenaEstimate) -> int:
    """Head floor for this order: the most bytes live at any one scope, plus the tail (order-bound)."""
    scopes = {s for b in estimate.buffers for s in range(b.first_used, b.last_used + 1)}
    live = max((sum(b.size for b in estimate.buffers if b.first_used <= s <= b.last_used) for s in scopes), default=0)
    return live + estimate.tail


def footprint_floor(model: Model, estimate: ArenaEstimate) -> int:
    """A floor no operator order or placement can beat: the largest single operator's footprint (the
    planned tensors it reads and writes and its scratch buffers, all live while it runs), plus the tail."""
    planned = {b.tensor_index: b.size for b in estimate.buffers if b.tensor_index is not None}
    scratch: dict[int, int] = {}
    for buffer in estimate.buffers:
        if buffer.operator_index is not None:
            scratch[buffer.operator_index] = scratch.get(buffer.operator_index, 0) + buffer.size
    largest = 0
    for op in model.operators:
        tensors = {t.index for t in [*op.inputs, *op.outputs] if t is not None}
        largest = max(largest, sum(planned.get(i, 0) for i in tensors) + scratch.get(op.index, 0))
    return largest + estimate.tail


def optimize_memory(model: Model, target: str = HOST, kernel_library: str = "reference", *,
                    recording_allocator: bool | None = None, tflm_version: str | None = None,
                    time_limit: float = 20.0, reorder: bool = True, exact: bool = True) -> MemoryPlan:
    """The smallest arena found for ``model`` within ``time_limit`` seconds (never worse than TFLM's plan).

    ``exact=False`` skips the MILP: first-fit heuristics only, fast enough for ``fit-check``."""
    _check_supported(model)
    if recording_allocator is None:
        recording_allocator = target == HOST
    if tflm_version is None:
        tflm_version = HOST_TFLM_VERSION if target == HOST else "probe-90b983c"

    def estimate(candidate: Model) -> ArenaEstimate:
        return estimate_arena(candidate, target, kernel_library, recording_allocator=recording_allocator,
                              tflm_version=tflm_version)

    started = time.monotonic()
    baseline = estimate(model)
    subgraph = model.main
    identity = list(range(len(subgraph.operators)))
    orders = {tuple(identity): "file order"}
    if reorder and len(subgraph.operators) > 1:
        before = _dependencies(subgraph)
        orders.setdefault(tuple(_memory_aware_order(subgraph, before, depth_first=False)), "memory-aware order")
        orders.setdefault(tuple(_memory_aware_order(subgraph, before, depth_first=True)), "branch-first order")
        score = _LivePeak(subgraph, baseline)
        seeds = sorted(orders, key=lambda o: score.peak(list(o)))
        searched = _improve_order(subgraph, before, list(seeds[0]), score, started + time_limit / 3)
        orders.setdefault(tuple(searched), "searched order")
    best = MemoryPlan(identity, None, baseline, baseline, "TFLM's own plan", lower_bound(baseline))
    tried = 1
    for order, order_name in orders.items():
        order = list(order)
        online = estimate(reordered(model, order, None)) if order != identity else baseline
        tried += 1
        if online.total < best.arena.total:
            best = MemoryPlan(order, None, online, baseline, f"{order_name}, TFLM's greedy plan", best.lower_bound)
        # Scratch buffers are placed too (TFLM then finds the gaps left for them by its own first fit),
        # but only the tensors' offsets go into the file.
        tensors = [dataclasses.replace(b, tensor_index=b.tensor_index if b.tensor_index is not None else -1 - k)
                   for k, b in enumerate(online.buffers)]
        if not tensors:
            continue
        placements = {name: _first_fit(tensors, key) for name, key in PRIORITIES.items()}
        if exact and len(tensors) <= EXACT_LIMIT and time.monotonic() - started < time_limit:
            exact = _exact(tensors, upper=online.head, time_limit=max(1.0, time_limit - (time.monotonic() - started)))
            if exact is not None:
                placements["exact MILP"] = exact
        for name, placement in placements.items():
            offsets = [placement.get(t.index, ONLINE) for t in subgraph.tensors]
            candidate = estimate(reordered(model, order, offsets))
            tried += 1
            if candidate.total < best.arena.total:
                best = MemoryPlan(order, offsets, candidate, baseline, f"{order_name}, offline plan by {name}",
                                  best.lower_bound)
        if time.monotonic() - started > time_limit:
            best.notes.append(f"stopped after {time_limit:g} s")
            break
    best.lower_bound = lower_bound(best.arena)
    best.tried = tried
    return best
