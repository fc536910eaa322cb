"""Insert TFLM DECODE operators into a graph, as TFLM's compression tool lays them out.

TFLM's runtime expects (see ``compression/decode_insert.py`` in tflite-micro):

- one DECODE (custom operator ``"TFLM_DECODE"``) right before each operator
  that reads a compressed tensor, decoding every compressed tensor that
  operator reads: a decoded tensor lives only until the next operator, so
  consumers never share one;
- its inputs are pairs (encoded tensor, ancillary tensor), its outputs the
  decoded tensors, copies of the original weights without data; the consumer
  reads the decoded copy instead of the weights;
- the original weight tensor becomes the encoded one in place: uint8, shape
  ``[len(encoded)]``, no quantization;
- ancillary tensors with the same bytes are one tensor; a compressed tensor
  that is a subgraph output is decoded by one DECODE appended at the end.

Consumers are handled from the last to the first, so new tensors are appended
in that order, as the tool does. The result is a graph; ``tflite.writer``
writes it (fresh buffers for the encoded and ancillary data, identical bytes
shared, the dense weights' buffers dropped).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from jsqat_embed.errors import JsqatError
from jsqat_embed.graph.model import Model, Operator, Tensor

DECODE_OPCODE = "TFLM_DECODE"


def insert_decode(model: Model, encodings: dict[int, tuple[bytes, bytes]]) -> Model:
    """A copy of ``model`` whose main-subgraph tensors ``index -> (encoded, ancillary)`` are DECODE'd."""
    if not encodings:
        return model
    model = copy.deepcopy(model)
    subgraph = model.main
    compressed = []
    for index, (encoded, ancillary) in encodings.items():
        if not 0 <= index < len(subgraph.tensors) or subgraph.tensors[index].data is None:
            raise JsqatError(f"tensor {index} is not a constant of the main subgraph: nothing to compress")
        tensor = subgraph.tensors[index]
        consumers = [op for op in subgraph.operators if any(t is tensor for t in op.inputs)]
        is_output = any(t is tensor for t in subgraph.outputs)
        if consumers or is_output:
            compressed.append((tensor, bytes(encoded), bytes(ancillary), consumers, is_output))

    ancillary_tensors: dict[bytes, Tensor] = {}

    def ancillary_for(tensor: Tensor, ancillary: bytes) -> Tensor:
        found = ancillary_tensors.get(ancillary)
        if found is None:
            found = _uint8_constant(len(subgraph.tensors), f"{tensor.name}_ancillary", ancillary)
            subgraph.tensors.append(found)
            ancillary_tensors[ancillary] = found
        return found

    def decode_for(entries) -> tuple[Operator, list[Tensor]]:
        inputs, outputs = [], []
        for tensor, _, ancillary, _, _ in entries:
            side = ancillary_for(tensor, ancillary)
            decoded = replace(tensor, index=len(subgraph.tensors), name=f"{tensor.name}_decoded", data=None,
                              buffer_index=0)
            subgraph.tensors.append(decoded)
            inputs += [tensor, side]
            outputs.append(decoded)
        return Operator(index=-1, opcode=DECODE_OPCODE, is_custom=True, version=1, inputs=inputs,
                        outputs=outputs), outputs

    position = {id(op): i for i, op in enumerate(subgraph.operators)}
    by_consumer: dict[int, tuple[Operator, list]] = {}
    for entry in compressed:
        for consumer in entry[3]:
            by_consumer.setdefault(id(consumer), (consumer, []))[1].append(entry)
    for consumer, entries in sorted(by_consumer.values(), key=lambda item: position[id(item[0])], reverse=True):
        decode, decoded = decode_for(entries)
        subgraph.operators.insert(position[id(consumer)], decode)
        for (tensor, *_), replacement in zip(entries, decoded):
            consumer.inputs = [replacement if t is tensor else t for t in consumer.inputs]
    read_at_end = [entry for entry in compressed if entry[4]]
    if read_at_end:
        decode, decoded = decode_for(read_at_end)
        subgraph.operators.append(decode)
        for (tensor, *_), replacement in zip(read_at_end, decoded):
            subgraph.outputs = [replacement if t is tensor else t for t in subgraph.outputs]

    for tensor, encoded, _, _, _ in compressed:
        tensor.shape = (len(encoded),)
        tensor.dtype = "uint8"
        tensor.quantization = None
        tensor.shape_signature = None
        tensor.data = np.frombuffer(encoded, dtype=np.uint8).copy()
    for index, operator in enumerate(subgraph.operators):
        operator.index = index
    return model


def _uint8_constant(index: int, name: str, payload: bytes) -> Tensor:
    return Tensor(index=index, name=name, shape=(len(payload),), dtype="uint8",
                  data=np.frombuffer(payload, dtype=np.uint8).copy())
