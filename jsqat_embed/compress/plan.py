"""The compressed model as a graph, without writing it: what fit-check needs to size it.

:func:`with_decode` inserts DECODE operators into a copy of the graph the way
the tflite-micro package's ``decode_insert`` does (one DECODE right before each
consumer, decoding every compressed tensor that consumer reads; consumers
handled from last to first, so new tensors are appended in that order), so the
arena estimator sees the decoded weights where TFLM will put them.
:func:`estimated_file_bytes` sizes the file from the dense one.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from jsqat_embed.compress.encoder import PER_TENSOR_OVERHEAD, TensorChoice, choose
from jsqat_embed.graph.model import Model, Operator, Subgraph, Tensor


def _uint8_constant(index: int, name: str, payload: bytes) -> Tensor:
    data = np.frombuffer(payload, dtype=np.uint8).copy()
    return Tensor(index=index, name=name, shape=(len(payload),), dtype="uint8", data=data)


def with_decode(model: Model, chosen: list[TensorChoice]) -> Model:
    """A copy of ``model`` whose chosen weight tensors are encoded and decoded by DECODE ops."""
    chosen = [c for c in chosen if c.method != "dense"]
    if not chosen:
        return model
    main = model.main
    tensors = list(main.tensors)
    by_index = {c.tensor.index: c for c in chosen}
    encoded: dict[int, Tensor] = {}
    for choice in chosen:
        payload = choice.pruned.bitmask if choice.method == "prune" else bytes(choice.encoded_bytes - 16)
        encoded[choice.tensor.index] = _uint8_constant(choice.tensor.index, choice.tensor.name, payload)
        tensors[choice.tensor.index] = encoded[choice.tensor.index]

    consumers = [op for op in main.operators if any(t is not None and t.index in by_index and t.data is not None
                                                    for t in op.inputs)]
    ancillary_cache: dict[int, Tensor] = {}
    decode_before: dict[int, tuple[Operator, dict[int, Tensor]]] = {}
    for consumer in reversed(consumers):
        reads = []
        for t in consumer.inputs:
            if t is not None and t.index in by_index and t.index not in [r.index for r in reads]:
                reads.append(t)
        inputs, outputs, decoded_for = [], [], {}
        for original in reads:
            choice = by_index[original.index]
            if original.index not in ancillary_cache:
                ancillary_bytes = choice.pruned.ancillary if choice.method == "prune" else bytes(16)
                ancillary_cache[original.index] = _uint8_constant(len(tensors), f"{original.name}_ancillary",
                                                                  ancillary_bytes)
                tensors.append(ancillary_cache[original.index])
            decoded = replace(original, index=len(tensors), name=f"{original.name}_decoded", data=None)
            tensors.append(decoded)
            decoded_for[original.index] = decoded
            inputs += [encoded[original.index], ancillary_cache[original.index]]
            outputs.append(decoded)
        decode = Operator(index=-1, opcode="TFLM_DECODE", is_custom=True, version=1, inputs=inputs, outputs=outputs)
        decode_before[consumer.index] = (decode, decoded_for)

    operators: list[Operator] = []
    for op in main.operators:
        if op.index in decode_before:
            decode, decoded_for = decode_before[op.index]
            operators.append(replace(decode, index=len(operators)))
            new_inputs = [decoded_for.get(t.index, t) if t is not None and t.data is not None else t
                          for t in op.inputs]
            operators.append(replace(op, index=len(operators), inputs=new_inputs))
        else:
            operators.append(replace(op, index=len(operators)))
    subgraph = Subgraph(main.name, tensors, operators, list(main.inputs), list(main.outputs))
    variant = copy.copy(model)
    variant.subgraphs = [subgraph] + list(model.subgraphs[1:])
    return variant


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
