"""The compressed model as a graph plus its exact file size: what fit-check and build need to size it.

:func:`with_decode` is the graph ``compress`` writes (the same DECODE insertion,
:mod:`jsqat_embed.compress.decode_insert`), so the arena estimator sees the
decoded weights where TFLM will put them, with each encoding's DecodeState.
:func:`variant` also writes it (lean, as ``compress`` does by default) to know
its size to the byte.
"""

from __future__ import annotations

from collections.abc import Iterator

from jsqat_embed.compress.encoder import TensorChoice, choose, encode_graph
from jsqat_embed.graph.model import Model
from jsqat_embed.tflite.writer import write_model

#: a variant: (graph with DECODE operators, file bytes, the compressed tensors' choices)
Variant = tuple[Model, int, list[TensorChoice]]
#: what fit-check and build try, in this order: pruning is quick to plan and what
#: most pruned models need; ``auto`` (Huffman, LUT, pruning, per tensor) is smaller
FIT_METHODS = ("prune", "auto")


def with_decode(model: Model, chosen: list[TensorChoice]) -> Model:
    """A copy of ``model`` whose chosen weight tensors are encoded and decoded by DECODE ops."""
    return encode_graph(model, chosen)


def variant(model: Model, method: str = "prune") -> Variant | None:
    """The model as ``compress --method METHOD`` writes it, or None if no tensor pays to encode."""
    chosen = [c for c in choose(model, method) if c.method != "dense"]
    if not chosen:
        return None
    graph = with_decode(model, chosen)
    return graph, len(write_model(graph, lean=True)), chosen


def pruned_variant(model: Model) -> Variant | None:
    """(graph with DECODE, file bytes, choices) for ``--method prune``, or None if nothing pays."""
    return variant(model, "prune")


class Variants:
    """The encodings fit-check and build try (``FIT_METHODS``), each computed when first asked for
    and kept; only those smaller than every earlier one are offered. Iterate it as often as needed."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self._found: list[Variant] = []
        self._next_method = 0

    def __iter__(self) -> Iterator[Variant]:
        position = 0
        while True:
            while position >= len(self._found):
                if self._next_method >= len(FIT_METHODS):
                    return
                found = variant(self.model, FIT_METHODS[self._next_method])
                self._next_method += 1
                if found is not None and (not self._found or found[1] < self._found[-1][1]):
                    self._found.append(found)
            yield self._found[position]
            position += 1


def variants(model: Model) -> Variants:
    """:class:`Variants` of ``model``, for ``memory.fit.fit_with_encodings``."""
    return Variants(model)


def method_of(chosen: list[TensorChoice]) -> str:
    """The ``--method`` that writes these choices: their one method, or ``auto`` for a mix."""
    methods = {c.method for c in chosen if c.method != "dense"}
    return methods.pop() if len(methods) == 1 else "auto"


_NAMES = {"prune": "pruning", "lut": "LUT", "huffman": "Huffman"}


def describe(chosen: list[TensorChoice]) -> str:
    """'DECODE pruning', 'DECODE Huffman', or 'DECODE compression (12 Huffman, 3 pruning)'."""
    counts: dict[str, int] = {}
    for choice in chosen:
        if choice.method != "dense":
            counts[choice.method] = counts.get(choice.method, 0) + 1
    if len(counts) == 1:
        return f"DECODE {_NAMES[next(iter(counts))]}"
    parts = ", ".join(f"{n} {_NAMES[m]}" for m, n in sorted(counts.items(), key=lambda item: -item[1]))
    return f"DECODE compression ({parts})"
