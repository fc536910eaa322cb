"""The arena head: buffer lifetimes and TFLM's GreedyMemoryPlanner, from the model alone.

Mirrors ``micro_allocation_info.cc`` (which tensors are planned, and for which
scopes) and ``memory_planner/greedy_memory_planner.cc`` (where each buffer goes).
Both are reproduced rule for rule because the head size is only exact if ties
break the same way TFLM breaks them:
- a buffer's size is its byte length rounded up to 16 (``MicroArenaBufferAlignment``);
- offline-planned buffers keep their offsets and are placed first; the others are
  ordered by size, largest first, by a stable bubble sort over buffers listed in
  *reverse* index order (so among equal sizes the later buffer comes first);
- each buffer goes into the first gap, in offset order, among buffers whose
  lifetimes overlap its own (inclusive ends), else after the last of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from jsqat_embed.errors import ModelFormatError
from jsqat_embed.graph.model import Model

ARENA_ALIGNMENT = 16
ONLINE = -1
OFFLINE_PLAN_KEY = "OfflineMemoryAllocation"


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


@dataclass
class Buffer:
    """One planned buffer: a tensor (``tensor`` set) or a kernel's scratch request."""

    label: str
    size: int  # aligned to 16
    first_used: int
    last_used: int
    offline_offset: int = ONLINE
    tensor_index: int | None = None
    operator_index: int | None = None
    offset: int = -1

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass
class ScratchRequest:
    operator_index: int
    size: int
    label: str


def offline_offsets(model: Model) -> list[int] | None:
    """Per-tensor offsets from the model's ``OfflineMemoryAllocation`` metadata, if any."""
    raw = model.metadata.get(OFFLINE_PLAN_KEY)
    if raw is None:
        return None
    if len(raw) % 4 or len(raw) < 12:
        raise ModelFormatError(f"metadata {OFFLINE_PLAN_KEY}: {len(raw)} bytes is not a whole int32 header")
    words = [int.from_bytes(raw[i : i + 4], "little", signed=True) for i in range(0, len(raw), 4)]
    _version, _subgraphs, count = words[:3]
    offsets = words[3:]
    total_tensors = sum(len(s.tensors) for s in model.subgraphs)
    if count != len(offsets) or count != total_tensors:
        raise ModelFormatError(
            f"metadata {OFFLINE_PLAN_KEY}: {count} offsets declared, {len(offsets)} present, "
            f"model has {total_tensors} tensors")
    return offsets


def plan_buffers(model: Model, scratch: list[ScratchRequest]) -> list[Buffer]:
    """The buffers TFLM plans, in the order ``CreatePlan`` adds them, with lifetimes."""
    offsets = offline_offsets(model)
    buffers: list[Buffer] = []
    scope = 0
    flat_index = 0
    for subgraph_index, subgraph in enumerate(model.subgraphs):
        first: dict[int, int] = {}
        last: dict[int, int] = {}

        def created(tensor, at):
            first.setdefault(tensor.index, at)

        def used(tensor, at):
            last[tensor.index] = at

        for tensor in subgraph.inputs:
            created(tensor, scope)
            used(tensor, scope)
        scratch_scopes: dict[int, tuple[int, int]] = {}
        for operator in subgraph.operators:
            scope += 1
            for tensor in operator.outputs:
                created(tensor, scope)
            start = scope
            for tensor in operator.inputs:
                if tensor is not None:
                    used(tensor, scope)
            for tensor in operator.outputs:
                used(tensor, scope)
            if subgraph_index == 0:
                scratch_scopes[operator.index] = (start, scope)
        for tensor in subgraph.outputs:
            created(tensor, scope)
            used(tensor, scope)
        for tensor in subgraph.tensors:
            offline = offsets[flat_index] if offsets is not None else ONLINE
            flat_index += 1
            planned = tensor.data is None and tensor.nbytes > 0 and (not tensor.is_variable or offline != ONLINE)
            if not planned:
                continue
            if tensor.index not in first:
                # Nothing writes it (never used, or only read, as Vela's scratch tensors are):
                # TFLM leaves its creation uninitialized (-1), so it lives from before the first
                # operator to its last read; an unused one overlaps nothing that starts at 0 or
                # later, so it lands at offset 0 but still counts.
                first[tensor.index] = -1
                last.setdefault(tensor.index, -1)
            buffers.append(Buffer(
                label=tensor.name, size=align_up(tensor.nbytes, ARENA_ALIGNMENT),
                first_used=first[tensor.index], last_used=last.get(tensor.index, first[tensor.index]),
                offline_offset=offline, tensor_index=tensor.index,
            ))
        if subgraph_index == 0:
            main_scopes = scratch_scopes
    for request in scratch:
        start, end = main_scopes[request.operator_index]
        buffers.append(Buffer(label=request.label, size=align_up(request.size, ARENA_ALIGNMENT),
                              first_used=start, last_used=end, operator_index=request.operator_index))
    return buffers


def greedy_plan(buffers: list[Buffer]) -> int:
    """Assign ``offset`` to every buffer as GreedyMemoryPlanner does; return the head size."""
    if not buffers:
        return 0
    offline = [i for i, b in enumerate(buffers) if b.offline_offset != ONLINE]
    online = [i for i, b in enumerate(buffers) if b.offline_offset == ONLINE][::-1]
    # Stable sort by size, descending, of the reversed online list (= TFLM's bubble sort).
    online.sort(key=lambda i: -buffers[i].size)
    order = offline + online
    placed: list[Buffer] = []  # kept sorted by offset; equal offsets in insertion order
    for position, index in enumerate(order):
        buffer = buffers[index]
        if buffer.offline_offset != ONLINE:
            buffer.offset = buffer.offline_offset
        elif position == 0:
            buffer.offset = 0
        else:
            candidate = 0
            for other in placed:
                if other.first_used > buffer.last_used or buffer.first_used > other.last_used:
                    continue
                if other.offset - candidate >= buffer.size:
                    break
                candidate = max(candidate, other.end)
            buffer.offset = candidate
        insert_at = len(placed)
        for i, other in enumerate(placed):
            if other.offset > buffer.offset:
                insert_at = i
                break
        placed.insert(insert_at, buffer)
    return max(b.end for b in buffers)
