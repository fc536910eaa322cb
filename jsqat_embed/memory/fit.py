"""Does a model fit a board? Flash and RAM against the profile, a placement plan, a latency guess.

Every number here is derived from the model and the board file; what is exact
and what is a bound is carried along (``exact``, ``margin``) so the CLI can say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jsqat_embed.boards.profile import BoardProfile, MemoryRegion
from jsqat_embed.graph.analysis import count_macs
from jsqat_embed.graph.model import Model
from jsqat_embed.memory.arena import DEFAULT_TFLM_VERSION, HOST, HOST_TFLM_VERSION, ArenaEstimate, estimate_arena
from jsqat_embed.memory.flash import RuntimeCode, model_bytes, runtime_code
from jsqat_embed.memory.latency import LatencyEstimate, estimate_latency
from jsqat_embed.memory.planner import align_up
from jsqat_embed.memory.tflm_structs import STRUCTS

#: per-op allowance for TFLM struct growth between versions (the wheel's
#: TfLiteFullyConnectedParams grew 16 bytes in two months; see docs/estimator.md)
VERSION_DRIFT_BYTES_PER_OP = 16
#: an arena in PSRAM/SDRAM runs slower: a rough factor for the latency guess
EXTERNAL_RAM_SLOWDOWN = 2.0
MAX_SCRATCH_REQUESTS_PER_OP = 12  # kMaxScratchBuffersPerOp
#: GreedyMemoryPlanner::per_buffer_size(): BufferRequirements (4 ints), two int arrays, a ListEntry (3 ints), offsets
GREEDY_PLANNER_BYTES_PER_BUFFER = 16 + 4 + 4 + 12 + 4


@dataclass
class RamMargin:
    prepare_peak: int  # extra bytes the temp region may need during Prepare beyond the plan
    version_drift: int
    total: int


@dataclass
class BoardFit:
    board: BoardProfile
    fits: bool
    model_bytes: int
    runtime: RuntimeCode
    flash_reserve: int
    flash_capacity: int
    flash_total: int  # what must fit in internal flash (model too unless external)
    model_region: MemoryRegion | None
    arena: ArenaEstimate
    margin: RamMargin
    arena_region: MemoryRegion | None
    ram_reserve: int
    ram_capacity: int
    macs: int
    latency_ms: float
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    encoding: str = "dense"  # else the compress --method whose DECODE encoding makes it fit (prune, huffman, lut, auto)
    dense: "BoardFit | None" = None  # the dense figures when another encoding was chosen
    latency: LatencyEstimate | None = None  # latency_ms with its interval and per-class breakdown

    @property
    def arena_bytes(self) -> int:
        """What to give ``kTensorArenaSize``: the estimate plus the margin."""
        return self.arena.total + self.margin.total

    @property
    def ram_total(self) -> int:
        return self.arena_bytes + self.ram_reserve

    @property
    def flash_headroom(self) -> float:
        return 1 - self.flash_total / self.flash_capacity if self.flash_capacity else 0.0

    @property
    def ram_headroom(self) -> float:
        return 1 - self.ram_total / self.ram_capacity if self.ram_capacity else 0.0

    def to_json(self) -> dict:
        return {
            "board": self.board.id,
            "name": self.board.name,
            "fits": self.fits,
            "flash": {
                "model": self.model_bytes,
                "runtime": self.runtime.total,
                "reserve": self.flash_reserve,
                "total": self.flash_total,
                "capacity": self.flash_capacity,
                "headroom": round(self.flash_headroom, 4),
                "runtime_ops": self.runtime.ops,
                "runtime_shared": self.runtime.shared,
                "runtime_is_upper_bound": False,
                "unmeasured_ops": self.runtime.unmeasured,
            },
            "ram": {
                "arena": self.arena_bytes,
                "reserve": self.ram_reserve,
                "total": self.ram_total,
                "capacity": self.ram_capacity,
                "headroom": round(self.ram_headroom, 4),
                "arena_head": self.arena.head,
                "arena_tail": self.arena.tail,
                "arena_margin": self.margin.total,
                "arena_exact": self.arena.exact and self.margin.total == 0,
            },
            "placement": {
                "model": self.model_region.name if self.model_region else None,
                "arena": self.arena_region.name if self.arena_region else None,
            },
            "latency_ms_estimate": round(self.latency_ms, 3),
            "latency": self.latency.to_json() if self.latency is not None else None,
            "encoding": self.encoding,
            "dense": None if self.dense is None else {
                "fits": self.dense.fits, "flash_total": self.dense.flash_total, "ram_total": self.dense.ram_total,
                "reasons": self.dense.reasons,
            },
            "macs": self.macs,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "assumptions": self.assumptions,
        }


def ram_margin(model: Model, arena: ArenaEstimate, board: BoardProfile) -> RamMargin:
    """What the offline estimate cannot know, bounded from above (zero on the host wheel).

    - During Prepare the head holds the scratch-request array and each op's
      temporary TfLiteTensors (with quantization) before the plan exists; if that
      exceeds the planned head, the arena must be larger than the recorded total.
    - When it commits the plan (``MicroAllocator::CommitStaticMemoryPlan``) the head holds
      the scratch-request array, an AllocationInfo per tensor of the model (weights
      included) and per scratch buffer, then the greedy planner's working arrays (40 B per
      planned buffer) in all the memory left; only the input/output TfLiteTensors are
      allocated in the tail after it. For models with many tensors and a small head this
      is the peak (an SVDF keyword spotter: 2 348 B over the recorded total, the smallest
      arena that works under QEMU exactly).
    - TFLM struct sizes drift between releases: an allowance per op.
    """
    if board.tflm_runtime == "python-wheel":
        return RamMargin(0, 0, 0)
    structs = STRUCTS[board.target]
    pointer = structs["pointer"][0]
    request_bytes = MAX_SCRATCH_REQUESTS_PER_OP * (pointer + 8)
    peak = 0
    for operator in model.operators:
        temp = align_up(request_bytes, 16)
        for tensor in [t for t in operator.inputs if t is not None] + list(operator.outputs):
            temp = align_up(temp, 8) + structs["TfLiteTensor"][0]
            if tensor.quantization is not None:
                temp = align_up(temp, 8) + structs["TfLiteAffineQuantization"][0]
                temp = align_up(temp, 4) + 4 + 4 * tensor.quantization.channels
        peak = max(peak, temp)
    scratch = len(arena.scratch)
    allocation_info = 3 * 4 + 1 + 2 * pointer  # size_t bytes, void** output_ptr, three ints, bool
    allocation_info = align_up(allocation_info, pointer)
    tensor_count = sum(len(subgraph.tensors) for subgraph in model.subgraphs)
    requests = align_up((scratch + MAX_SCRATCH_REQUESTS_PER_OP) * (pointer + 8), pointer)
    planning = (align_up(requests + pointer * len(model.subgraphs) + allocation_info * (tensor_count + scratch), 16)
                + GREEDY_PLANNER_BYTES_PER_BUFFER * len(arena.buffers))
    io_tail = sum(item.bytes for item in arena.tail_items if item.category == "io tensors")
    prepare = align_up(max(0, peak - arena.head, planning - io_tail - arena.head), 16)
    drift = align_up(VERSION_DRIFT_BYTES_PER_OP * len(model.operators), 16)
    return RamMargin(prepare, drift, prepare + drift)


def _arena_for(model: Model, board: BoardProfile) -> ArenaEstimate:
    if board.tflm_runtime == "python-wheel":
        return estimate_arena(model, HOST, board.kernel_library, recording_allocator=True, tflm_version=HOST_TFLM_VERSION)
    return estimate_arena(model, board.target, board.kernel_library, tflm_version=DEFAULT_TFLM_VERSION)


def fit_board(model: Model, board: BoardProfile, *, arena: ArenaEstimate | None = None,
              file_bytes: int | None = None) -> BoardFit:
    """The fit of ``model`` as it is (``file_bytes`` overrides its size, for planned encodings).

    Raises :class:`UnsupportedModelError` with TFLM's reason when TFLM would refuse the model
    (an NPU-only op is allowed: its arena is still estimated).
    """
    from jsqat_embed.ops.verdict import NPU_OPS, require_tflm_runs

    require_tflm_runs(model, npu=True)
    arena = arena or _arena_for(model, board)
    margin = ram_margin(model, arena, board)
    runtime = runtime_code(model, board.kernel_library)
    size = model_bytes(model) if file_bytes is None else (file_bytes + 15) // 16 * 16
    macs = sum(count_macs(op) for op in model.operators)
    reasons: list[str] = []
    warnings: list[str] = []
    for opcode, needs in sorted({(op.opcode, NPU_OPS[op.opcode]) for op in model.operators if op.opcode in NPU_OPS}):
        reasons.append(f"the model's '{opcode}' operators need {needs}; {board.id} has none")
    assumptions = [
        f"runtime code: TFLM with {board.kernel_library} kernels as the generated CMake project links it on "
        "Cortex-M4F, measured per op (scripts/measure_code_size.py)",
    ]

    # Flash: code and reserve always in internal flash; the model there too if it fits.
    internal = board.regions_of("flash")
    external = board.regions_of("external_flash")
    code_region = max(internal, key=lambda r: r.size_bytes) if internal else max(external, key=lambda r: r.size_bytes)
    flash_reserve = code_region.reserved_bytes
    code_bytes = runtime.total + flash_reserve
    model_region: MemoryRegion | None = None
    if code_bytes + size <= code_region.size_bytes:
        model_region = code_region
        flash_total, flash_capacity = code_bytes + size, code_region.size_bytes
    else:
        roomy = [r for r in external if r is not code_region and size <= r.available_bytes]
        if code_bytes <= code_region.size_bytes and roomy:
            model_region = min(roomy, key=lambda r: r.size_bytes)
            flash_total = code_bytes + size
            flash_capacity = code_region.size_bytes + model_region.size_bytes
            warnings.append(f"model placed in external flash '{model_region.name}': weights are read through "
                            "the QSPI/XIP cache, slower than internal flash")
        else:
            flash_total, flash_capacity = code_bytes + size, code_region.size_bytes
            biggest = max(board.regions_of("flash", "external_flash"), key=lambda r: r.available_bytes)
            reasons.append(
                f"flash: model {_kb(size)} + runtime {_kb(runtime.total)} + reserve {_kb(flash_reserve)} = "
                f"{_kb(flash_total)} > {_kb(code_region.size_bytes)} '{code_region.name}'"
                + (f"; largest external flash '{biggest.name}' has {_kb(biggest.available_bytes)}"
                   if biggest is not code_region else ""))

    # RAM: the arena is one contiguous block: the smallest SRAM region it fits, else PSRAM/SDRAM.
    need = arena.total + margin.total
    arena_region: MemoryRegion | None = None
    sram = sorted(board.regions_of("sram"), key=lambda r: r.available_bytes)
    slow = sorted(board.regions_of("psram", "sdram"), key=lambda r: r.available_bytes)
    for candidates in (sram, slow):
        fitting = [r for r in candidates if need <= r.available_bytes]
        if fitting:
            arena_region = fitting[0]
            break
    if arena_region is None:
        largest = max(sram + slow, key=lambda r: r.available_bytes)
        ram_reserve, ram_capacity = largest.reserved_bytes, largest.size_bytes
        reasons.append(f"RAM: arena {_kb(need)} + reserve {_kb(ram_reserve)} > {_kb(ram_capacity)} "
                       f"'{largest.name}', the largest contiguous RAM region")
    else:
        ram_reserve, ram_capacity = arena_region.reserved_bytes, arena_region.size_bytes
        if arena_region.kind != "sram":
            warnings.append(f"arena in {arena_region.kind} '{arena_region.name}' ({_kb(need)} does not fit any SRAM "
                            f"region): expect roughly {EXTERNAL_RAM_SLOWDOWN:g}x slower inference")

    external = arena_region is not None and arena_region.kind != "sram"
    latency = estimate_latency(model, board, slowdown=EXTERNAL_RAM_SLOWDOWN if external else 1.0)
    assumptions.append(f"latency: {latency.description}")
    if external:
        assumptions.append(f"x{EXTERNAL_RAM_SLOWDOWN:g} for the arena in external RAM")
    if not arena.exact:
        assumptions.append(f"{board.kernel_library} scratch buffers are bounds read from its sources")
    if runtime.unmeasured:
        assumptions.append("code size by family for unmeasured ops: " + ", ".join(runtime.unmeasured))
    # The first blocker first: hardware the model needs, then the arena against RAM (pruning cannot
    # help there), then flash.
    reasons.sort(key=lambda reason: 1 if reason.startswith("RAM") else 2 if reason.startswith("flash") else 0)
    return BoardFit(
        board=board, fits=not reasons, model_bytes=size, runtime=runtime, flash_reserve=flash_reserve,
        flash_capacity=flash_capacity, flash_total=flash_total, model_region=model_region, arena=arena,
        margin=margin, arena_region=arena_region, ram_reserve=ram_reserve, ram_capacity=ram_capacity,
        macs=macs, latency_ms=latency.ms, reasons=reasons, warnings=warnings, assumptions=assumptions,
        latency=latency,
    )


def fit_with_encodings(model: Model, board: BoardProfile, pruned=None) -> BoardFit:
    """The dense fit, or the first DECODE-encoded one that fits.

    ``pruned``: a variant ``(graph, file bytes, choices)`` from
    ``compress.plan``, or several (``plan.variants()``, smaller ones later,
    computed as they are asked for). Their figures are the encoded file's exact
    size and the arena with the decoded weights planned where TFLM puts them
    (exact on the host), so decoding RAM is counted for each encoding.
    """
    dense = fit_board(model, board)
    if dense.fits or pruned is None:
        return dense
    for variant, file_bytes, chosen in ([pruned] if isinstance(pruned, tuple) else pruned):
        candidate = fit_board(variant, board, file_bytes=file_bytes)
        if candidate.fits:
            break
    else:
        return dense
    methods = sorted({c.method for c in chosen})
    candidate.encoding = methods[0] if len(methods) == 1 else "auto"
    names = {"prune": "pruning", "lut": "LUT", "huffman": "Huffman"}
    what = (f"DECODE {names.get(methods[0], methods[0])}" if len(methods) == 1 else
            "DECODE compression (" + ", ".join(names.get(m, m) for m in methods) + ")")
    candidate.dense = dense
    weights = sum(c.dense_bytes for c in chosen)
    encoded = sum(c.encoded_bytes for c in chosen)
    candidate.warnings.insert(0, (
        f"fits only with {what} of {len(chosen)} weight tensors ({_kb(weights)} -> {_kb(encoded)}; "
        f"decoding adds {_kb(max(0, candidate.arena.total - dense.arena.total))} of arena): "
        f"run `jsqat-embed compress --method {candidate.encoding}` and deploy the compressed model"))
    return candidate


def _kb(count: int) -> str:
    if count >= 1 << 20:
        return f"{count / (1 << 20):.2f} MiB"
    return f"{count / 1024:.1f} KiB"


def sparsity_hint(model: Model, fit: BoardFit) -> str | None:
    """If flash is what fails, the weight sparsity at which DECODE pruning would make the model fit.

    Pruned size of a weight tensor of N int8 values at density d: N/8 (bitmask) +
    16 (header) + d*N; everything else in the file stays.
    """
    if fit.fits or not any(r.startswith("flash") for r in fit.reasons):
        return None
    if any(r.startswith("RAM") for r in fit.reasons):
        # The arena is the first blocker: pruning shrinks flash, never the arena (decoding adds to it).
        return None
    weights = [t for op in model.operators if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
               for t in op.inputs[1:2] if t is not None and t.data is not None and t.itemsize == 1]
    seen: dict[int, int] = {id(t): t.size for t in weights}
    weight_bytes = sum(seen.values())
    other = fit.model_bytes - weight_bytes
    available = (fit.model_region or max(fit.board.regions_of("flash", "external_flash"),
                                         key=lambda r: r.available_bytes)).size_bytes
    budget = fit.flash_capacity - (fit.flash_total - fit.model_bytes) if fit.model_region is None else available
    room = budget - other - weight_bytes / 8 - 16 * len(seen)
    if weight_bytes == 0 or room <= 0:
        return None
    density = room / weight_bytes
    if density >= 1:
        return None
    return (f"with DECODE pruning (jsqat-embed compress) the weights would fit at about "
            f"{(1 - density):.0%} sparsity or more")

