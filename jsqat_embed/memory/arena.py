"""The tensor arena TFLM will use for a model, to the byte: head (planned) + tail (persistent).

Replays ``MicroInterpreter::AllocateTensors`` in the order TFLM allocates:

tail (grows down from the arena end; each step ``tail = align_down(tail - size, align)``)
  1. allocator objects (``MicroAllocator::Create``; the recording variant on the host)
  2. ``StartModelAllocation``: builtin-data allocator, SubgraphAllocations, eval
     tensors (one per tensor, per subgraph), NodeAndRegistration (one per op)
  3. builtin params of every op (its params struct's own alignment)
  4. every op's Init buffer, then every op's Prepare buffers (16-aligned)
  5. ``FinishModelAllocation``: scratch-buffer handles, variable tensors
  6. input then output: pointer array (16-aligned), then per tensor a
     TfLiteTensor and, if quantized, TfLiteAffineQuantization + zero-point array
head: the greedy plan of :mod:`jsqat_embed.memory.planner`.

``print_allocations()`` of the real interpreter reports head + tail after the
first invoke; ``tests/memory/test_arena.py`` asserts equality on the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jsqat_embed.errors import UnsupportedModelError
from jsqat_embed.graph.model import Model
from jsqat_embed.memory import kernel_memory as km
from jsqat_embed.memory.planner import ARENA_ALIGNMENT, Buffer, ScratchRequest, align_up, greedy_plan, plan_buffers
from jsqat_embed.memory.tflm_structs import STRUCTS

HOST = "x86_64"
ARM32 = "arm32"

#: Where a newer TFLM differs from the probed headers: measured against the real
#: interpreter of that version (see docs/estimator.md for how each was found).
TFLM_VERSIONS: dict[str, dict[str, dict[str, tuple[int, int]]]] = {
    "probe-90b983c": {},
    # The tflite-micro wheel 0.dev20261023: every FULLY_CONNECTED costs 16 tail bytes
    # more than the probed headers give, on every model measured, with OpData
    # unchanged (its 'Persistent buffer data' requests match). Searching every
    # struct's size and alignment over 66 models, the one change consistent with
    # all of them is TfLiteFullyConnectedParams at 32 bytes, 8-aligned (a 4-aligned
    # 32 fails EfficientNetB0, where the padding before it differs).
    "wheel-0.dev20261023": {"x86_64": {"TfLiteFullyConnectedParams": (32, 8)}},
}
DEFAULT_TFLM_VERSION = "probe-90b983c"
HOST_TFLM_VERSION = "wheel-0.dev20261023"


@dataclass
class TailItem:
    label: str
    bytes: int  # including the alignment padding this allocation caused
    category: str


@dataclass
class ArenaEstimate:
    head: int
    tail: int
    buffers: list[Buffer]
    tail_items: list[TailItem]
    scratch: list[ScratchRequest]
    target: str
    kernel_library: str
    exact: bool  # False when a kernel's figure is a bound (optimized kernels) or an op is unknown
    unknown_ops: list[str] = field(default_factory=list)
    opcodes: list[str] = field(default_factory=list)  # the estimated model's operators, by index

    @property
    def total(self) -> int:
        return self.head + self.tail

    def tail_by_category(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for item in self.tail_items:
            totals[item.category] = totals.get(item.category, 0) + item.bytes
        return totals

    def peak(self) -> tuple[int | None, int, list[Buffer]]:
        """Where the head is fullest: (operator index or None for the model inputs, bytes in use up to
        the highest buffer end there, the buffers alive there, largest first).

        Buffer lifetimes are TFLM's allocation scopes: scope 0 holds the inputs, scope k + 1 is
        operator k; the operator index is what every report shows."""
        if not self.buffers:
            return None, 0, []
        scopes = sorted({s for b in self.buffers for s in range(max(b.first_used, 0), b.last_used + 1)})
        if not scopes:
            return None, 0, []

        def top(scope: int) -> int:
            return max((b.end for b in self.buffers if b.first_used <= scope <= b.last_used), default=0)

        def live(scope: int) -> int:
            return sum(b.size for b in self.buffers if b.first_used <= scope <= b.last_used)

        # Several scopes can touch the highest end; the one with the most live bytes explains it.
        best_scope = max(scopes, key=lambda scope: (top(scope), live(scope)))
        alive = [b for b in self.buffers if b.first_used <= best_scope <= b.last_used]
        return (best_scope - 1 if best_scope > 0 else None), top(best_scope), sorted(alive, key=lambda b: -b.size)

    def peak_buffers(self) -> list[Buffer]:
        """The buffers alive at the scope where the head is fullest, largest first."""
        return self.peak()[2]


class _Tail:
    def __init__(self, structs: dict[str, tuple[int, int]]):
        self.structs = structs
        self.position = 0  # the arena end, 16-aligned
        self.items: list[TailItem] = []

    def size_of(self, request: km.Request) -> tuple[int, int]:
        if isinstance(request, int):
            return request, ARENA_ALIGNMENT
        if isinstance(request, tuple):
            name, count = request
            size, align = self.structs[name]
            return size * count, align
        if isinstance(request, list):  # one buffer holding several parts (e.g. KISS FFT's state)
            return sum(self.size_of(part)[0] for part in request), ARENA_ALIGNMENT
        return self.structs[request]

    def allocate(self, label: str, size: int, alignment: int, category: str) -> None:
        new_position = (self.position - size) // alignment * alignment
        self.items.append(TailItem(label, self.position - new_position, category))
        self.position = new_position

    def struct(self, name: str, category: str, count: int = 1, alignment: int | None = None) -> None:
        size, align = self.structs[name]
        self.allocate(name, size * count, alignment or align, category)

    @property
    def used(self) -> int:
        return -self.position


def estimate_arena(
    model: Model,
    target: str = HOST,
    kernel_library: str = km.REFERENCE,
    *,
    recording_allocator: bool = False,
    tflm_version: str = DEFAULT_TFLM_VERSION,
) -> ArenaEstimate:
    """The arena TFLM needs for ``model`` on ``target`` with ``kernel_library`` kernels.

    ``recording_allocator`` models the tflite-micro Python package, whose
    interpreter uses RecordingMicroAllocator (larger bookkeeping objects).
    Raises UnsupportedModelError for an op the estimator has no rule for.
    """
    if target not in STRUCTS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(STRUCTS)}")
    if kernel_library not in km.KERNEL_LIBRARIES:
        raise ValueError(f"unknown kernel library {kernel_library!r}; known: {', '.join(km.KERNEL_LIBRARIES)}")
    structs = dict(STRUCTS[target])
    structs.update(TFLM_VERSIONS[tflm_version].get(target, {}))
    tail = _Tail(structs)

    memories = []
    unknown = sorted({op.opcode for op in model.operators if km.kernel_memory(op, kernel_library) is None})
    if unknown:
        raise UnsupportedModelError(f"no arena rule for op(s) {', '.join(unknown)}")
    for operator in model.operators:
        memories.append(km.kernel_memory(operator, kernel_library))

    if recording_allocator:
        tail.struct("RecordingSingleArenaBufferAllocator", "allocator")
        tail.struct("GreedyMemoryPlanner", "allocator")
        tail.struct("RecordingMicroAllocator", "allocator")
    else:
        tail.struct("SingleArenaBufferAllocator", "allocator")
        tail.struct("GreedyMemoryPlanner", "allocator")
        tail.struct("MicroAllocator", "allocator")
    tail.struct("MicroBuiltinDataAllocator", "allocator")
    tail.struct("SubgraphAllocations", "allocator", count=len(model.subgraphs))
    for subgraph in model.subgraphs:
        tail.struct("TfLiteEvalTensor", "eval tensors", count=len(subgraph.tensors))
    for subgraph in model.subgraphs:
        if subgraph.operators:
            tail.struct("NodeAndRegistration", "nodes", count=len(subgraph.operators))
    for operator, memory in zip(model.operators, memories):
        if memory.params:
            tail.struct(memory.params, "builtin params")
    for phase in ("init", "prepare"):
        for operator, memory in zip(model.operators, memories):
            for request in getattr(memory, phase):
                size, _ = tail.size_of(request)
                tail.allocate(f"{operator.opcode} #{operator.index} {phase}", size, ARENA_ALIGNMENT, "kernel data")

    scratch = [
        ScratchRequest(operator.index, tail.size_of(request)[0], f"{operator.opcode} #{operator.index} scratch")
        for operator, memory in zip(model.operators, memories)
        for request in memory.scratch
    ]
    if scratch:
        tail.struct("ScratchBufferHandle", "scratch handles", count=len(scratch))
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            if tensor.is_variable:
                tail.allocate(f"variable {tensor.name}", tensor.nbytes, ARENA_ALIGNMENT, "variables")

    pointer_size, _ = structs["pointer"]
    for tensors in (model.inputs, model.outputs):
        tail.allocate("tensor pointers", pointer_size * len(tensors), ARENA_ALIGNMENT, "io tensors")
        for tensor in tensors:
            tail.struct("TfLiteTensor", "io tensors")
            if tensor.quantization is not None:
                tail.struct("TfLiteAffineQuantization", "io tensors")
                header, align = structs["TfLiteIntArray"]
                tail.allocate("zero points", header + 4 * tensor.quantization.channels, align, "io tensors")

    buffers = plan_buffers(model, scratch)
    head = greedy_plan(buffers)
    exact = not any(memory.estimated for memory in memories)
    return ArenaEstimate(
        head=align_up(head, 1), tail=tail.used, buffers=buffers, tail_items=tail.items, scratch=scratch,
        target=target, kernel_library=kernel_library, exact=exact, opcodes=[op.opcode for op in model.operators],
    )
