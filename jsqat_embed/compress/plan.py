"""The compressed model as a graph, without writing it: what fit-check needs to size it.

:func:`with_decode` is the graph ``compress`` writes (the same DECODE insertion,
:mod:`jsqat_embed.compress.decode_insert`), so the arena estimator sees the
decoded weights where TFLM will put them. :func:`estimated_file_bytes` sizes
the file from the dense one.
"""

from __future__ import annotations

from jsqat_embed.compress.decode_insert import insert_decode
from jsqat_embed.compress.encoder import PER_TENSOR_OVERHEAD, TensorChoice, choose
from jsqat_embed.graph.model import Model


def with_decode(model: Model, chosen: list[TensorChoice]) -> Model:
    """A copy of ``model`` whose chosen weight tensors are encoded and decoded by DECODE ops."""
    return insert_decode(model, {c.tensor.index: c.encoding() for c in chosen if c.method != "dense"})


def estimated_file_bytes(model: Model, chosen: list[TensorChoice]) -> int:
    """The compressed .tflite size: dense file - dense weights + encodings + DECODE bookkeeping."""
    chosen = [c for c in chosen if c.method != "dense"]
    consumers = {op.index for op in model.operators for t in op.inputs
                 if t is not None and any(t is c.tensor for c in chosen)}
    return (len(model.source) - sum(c.dense_bytes for c in chosen) + sum(c.encoded_bytes for c in chosen)
            + PER_TENSOR_OVERHEAD * len(chosen) + 64 * len(consumers))


def pruned_variant(model: Model) -> tuple[Model, int, list[TensorChoice]] | None:
    """(graph with DECODE, estimated file bytes, choices) for ``--method prune``, or None if nothing pays."""
    chosen = [c for c in choose(model, "prune") if c.method == "prune"]
    if not chosen:
        return None
    return with_decode(model, chosen), estimated_file_bytes(model, chosen), chosen
