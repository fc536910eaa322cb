"""Child process that runs one reference interpreter (see references.py).

argv: NAME DIR INTERMEDIATES ARENA_SIZE ALT_DECOMPRESSION_SIZE ZERO_INPUT
Reads DIR/model.tflite and DIR/inputs.npz, writes DIR/outputs.npz.
Allocation figures go to stderr, where TFLM prints them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def _split(inputs: list[np.ndarray], details: list[dict]) -> list[list[np.ndarray]]:
    """Per-sample input lists from arrays with a leading batch of samples."""
    per_input = []
    for array, detail in zip(inputs, details):
        shape = tuple(int(d) for d in detail["shape"])
        batch = shape[0] if shape else 1
        array = np.asarray(array, dtype=detail["dtype"])
        count = array.shape[0] // batch if shape else 1
        per_input.append([array[i * batch : (i + 1) * batch].reshape(shape) for i in range(count)])
    return [list(sample) for sample in zip(*per_input)] if per_input else [[]]


def _activation_indices(model: bytes) -> list[int]:
    from jsqat_embed.tflite import read_model

    return [t.index for t in read_model(model).tensors if t.data is None]


def _tflm(model: bytes, inputs, keep: bool, arena: int, alt: int, zero: bool):
    from tflite_micro.python.tflite_micro import runtime

    config = runtime.InterpreterConfig.kPreserveAllTensors if keep else runtime.InterpreterConfig.kAllocationRecording
    interpreter = runtime.Interpreter.from_bytes(
        model,
        arena_size=arena or max(len(model) * 10, 64 << 20),
        intrepreter_config=config,
        alt_decompression_memory_size=alt,
    )
    count = 0
    while True:
        try:
            interpreter.get_input_details(count)
            count += 1
        except Exception:
            break
    details = [interpreter.get_input_details(i) for i in range(count)]
    if zero:
        inputs = [np.zeros(tuple(int(d) for d in x["shape"]), dtype=x["dtype"]) for x in details]
    samples = _split(inputs, details)
    outputs: dict[int, list[np.ndarray]] = {}
    tensors: dict[int, list[np.ndarray]] = {}
    for sample_index, sample in enumerate(samples):
        if sample_index:
            # Each sample starts from the state a fresh interpreter has (variable
            # tensors, kernels' internal state such as SVDF's memory or the signal
            # library's noise estimates), as the emulator runs samples independently.
            interpreter.reset()
        for i, value in enumerate(sample):
            interpreter.set_input(value, i)
        interpreter.invoke()
        if sample_index == 0 and not keep:
            sys.stderr.flush()
            interpreter.print_allocations()
        index = 0
        while True:
            try:
                value = interpreter.get_output(index)
            except Exception:
                break
            outputs.setdefault(index, []).append(np.array(value))
            index += 1
        if keep:
            # GetTensor crashes on an out-of-range index: ask only for the
            # model's own non-constant tensors.
            for tensor_index in _activation_indices(model):
                info = interpreter.GetTensor(tensor_index, 0)
                data = info.get("tensor_data") if isinstance(info, dict) else None
                if data is not None:
                    tensors.setdefault(tensor_index, []).append(np.array(data))
    return outputs, tensors


def _litert(model: bytes, inputs, keep: bool, zero: bool):
    from ai_edge_litert import interpreter as litert

    interpreter = litert.Interpreter(model_content=model, experimental_preserve_all_tensors=keep, num_threads=1)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()
    details = [{"shape": d["shape"], "dtype": d["dtype"]} for d in input_details]
    if zero:
        inputs = [np.zeros(tuple(int(s) for s in d["shape"]), dtype=d["dtype"]) for d in details]
    outputs: dict[int, list[np.ndarray]] = {}
    tensors: dict[int, list[np.ndarray]] = {}
    for sample in _split(inputs, details):
        for detail, value in zip(input_details, sample):
            interpreter.set_tensor(detail["index"], value)
        interpreter.invoke()
        for i, detail in enumerate(interpreter.get_output_details()):
            outputs.setdefault(i, []).append(np.array(interpreter.get_tensor(detail["index"])))
        if keep:
            for detail in interpreter.get_tensor_details():
                try:
                    tensors.setdefault(detail["index"], []).append(np.array(interpreter.get_tensor(detail["index"])))
                except ValueError:
                    pass
    return outputs, tensors


def main(argv: list[str]) -> int:
    name, directory, keep, arena, alt, zero = argv[1], Path(argv[2]), argv[3] == "1", int(argv[4]), int(argv[5]), argv[6] == "1"
    model = (directory / "model.tflite").read_bytes()
    with np.load(directory / "inputs.npz") as data:
        inputs = [data[f"input_{i}"] for i in range(len(data.files))]
    if name == "tflm":
        outputs, tensors = _tflm(model, inputs, keep, arena, alt, zero)
    else:
        outputs, tensors = _litert(model, inputs, keep, zero)
    payload = {f"output_{i}": np.concatenate([np.atleast_1d(a) for a in v]) for i, v in outputs.items()}
    payload.update({f"tensor_{i}": np.stack(v) for i, v in tensors.items()})
    np.savez(directory / "outputs.npz", **payload)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
