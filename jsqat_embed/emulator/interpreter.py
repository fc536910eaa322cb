"""Runs a model's operators in order with the emulator's kernels.

Usage::

    from jsqat_embed.emulator import Emulator
    outputs = Emulator("model.tflite").run(images_int8)

Inputs are in the model's input dtype and shaped like the model input, or with
a larger leading batch: a batch of B runs as B independent samples and gives
exactly the bytes of B one-by-one runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jsqat_embed.emulator.fixedpoint import UndefinedInTFLM
from jsqat_embed.emulator.kernel import Kernel
from jsqat_embed.emulator.registry import kernel_class, supported_ops
from jsqat_embed.ops.shapes import check_model
from jsqat_embed.ops.verdict import require_tflm_runs
from jsqat_embed.errors import InputDataError, InternalError, JsqatError, UnsupportedModelError
from jsqat_embed.graph.model import Model, Tensor
from jsqat_embed.tflite import read_model

DECODE_OPCODE = "TFLM_DECODE"
#: samples run together; bounds the memory of im2col buffers on big models
DEFAULT_CHUNK = 32
#: memory one chunk of samples may take in an operator's temporaries (the chunk shrinks to fit)
CHUNK_BYTES = 256 << 20


def load_kernels(model: Model) -> tuple[list[Kernel], dict[int, np.ndarray]]:
    """Build one kernel per operator; DECODE operators are evaluated here, once.

    Returns the runtime kernels and the constant values by tensor index
    (including DECODE outputs, which depend only on constants).
    """
    if len(model.subgraphs) > 1:
        raise UnsupportedModelError(
            f"model has {len(model.subgraphs)} subgraphs; control flow (IF/WHILE/CALL_ONCE) is not supported"
        )
    # Shapes, required inputs and resource bounds (the reader checks them too; a Model built in
    # memory has not been read), then what TFLM refuses, with TFLM's reason.
    check_model(model)
    require_tflm_runs(model)
    constants = {t.index: t.data for t in model.tensors if t.data is not None}
    available = {t.index for t in model.inputs} | {t.index for op in model.operators for t in op.outputs}
    for op in model.operators:
        for tensor in op.inputs:
            if tensor is not None and tensor.data is None and not tensor.is_variable and tensor.index not in available:
                # TFLM plans such a tensor as a buffer nobody fills (Vela's scratch): its content is undefined.
                raise UnsupportedModelError(f"{op.describe()} reads {tensor.describe()}, which no operator writes "
                                            f"and is not a model input (TFLM would read uninitialized memory)")
    kernels: list[Kernel] = []
    for op in model.operators:
        cls = kernel_class(op.opcode)
        if cls is None:
            written = ", ".join(t.describe() for t in op.outputs) or "no tensor"
            raise UnsupportedModelError(
                f"{op.describe()} writing {written}: operator not supported by the emulator "
                f"(supported: {', '.join(supported_ops())})"
            )
        try:
            kernel = cls(op, constants)
        except (JsqatError, MemoryError, RecursionError):
            raise
        except (ValueError, ArithmeticError) as exc:
            # Prepare-time arithmetic that TFLM guards with TFLITE_CHECK (it aborts there).
            raise UnsupportedModelError(f"{op.describe()}: cannot prepare the kernel: {exc}") from exc
        except Exception as exc:
            raise InternalError(f"internal error in the emulator preparing {op.describe()}: "
                                f"{type(exc).__name__}: {exc}; please report") from exc
        if op.opcode == DECODE_OPCODE:
            for tensor, value in zip(op.outputs, kernel.eval([])):
                constants[tensor.index] = value
        else:
            kernels.append(kernel)
    return kernels, constants


class Emulator:
    """Bit-exact numpy emulation of TFLM's reference int8 kernels for one model."""

    def __init__(self, model: str | os.PathLike | bytes | Model, *, chunk: int = DEFAULT_CHUNK) -> None:
        self.model = model if isinstance(model, Model) else read_model(model)
        self.chunk = max(1, int(chunk))
        self.kernels, self._constants = load_kernels(self.model)
        self._last_use = self._liveness()
        # Fewer samples at once when one sample is large: the kernels' int64 temporaries grow with it.
        self.chunk = min(self.chunk, max(1, CHUNK_BYTES // self._bytes_per_sample()))

    @classmethod
    def from_path(cls, path: str | Path) -> "Emulator":
        return cls(path)

    @property
    def inputs(self) -> list[Tensor]:
        return self.model.inputs

    @property
    def outputs(self) -> list[Tensor]:
        return self.model.outputs

    def _bytes_per_sample(self) -> int:
        """A generous bound of what one operator needs per sample: its non-constant inputs and outputs
        as int64 (the kernels' accumulators and temporaries)."""
        largest = 1
        for kernel in self.kernels:
            tensors = [t for t in (*kernel.op.inputs, *kernel.op.outputs) if t is not None and t.data is None]
            largest = max(largest, 8 * sum(t.size for t in tensors))
        return largest

    def _liveness(self) -> dict[int, int]:
        """Index of the last kernel reading each tensor, so values can be freed early."""
        last: dict[int, int] = {}
        for position, kernel in enumerate(self.kernels):
            for tensor in kernel.op.inputs:
                if tensor is not None:
                    last[tensor.index] = position
        for tensor in self.model.outputs:
            last[tensor.index] = len(self.kernels)
        return last

    def _samples(self, inputs: tuple[np.ndarray, ...]) -> tuple[list[np.ndarray], int]:
        model_inputs = self.model.inputs
        if len(inputs) != len(model_inputs):
            raise InputDataError(f"model takes {len(model_inputs)} input(s), got {len(inputs)}")
        values, counts = [], set()
        for position, (array, tensor) in enumerate(zip(inputs, model_inputs)):
            array = np.asarray(array)
            if array.dtype != np.dtype(tensor.dtype):
                raise InputDataError(
                    f"input {position} ({tensor.describe()}): got dtype {array.dtype}, expected {tensor.dtype}"
                )
            shape = tensor.shape
            if array.shape == shape:
                samples = 1
            elif (
                len(shape) >= 1
                and array.ndim == len(shape)
                and array.shape[1:] == shape[1:]
                and shape[0] > 0
                and array.shape[0] % shape[0] == 0
                and array.shape[0] > 0
            ):
                samples = array.shape[0] // shape[0]
            else:
                raise InputDataError(
                    f"input {position} ({tensor.describe()}): got shape {list(array.shape)}, expected "
                    f"{list(shape)} or a larger leading batch"
                )
            counts.add(samples)
            values.append(array.reshape((samples, *shape)))
        if len(counts) > 1:
            raise InputDataError(f"inputs disagree on the number of samples: {sorted(counts)}")
        return values, counts.pop() if counts else 1

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run the model; returns one array per model output, batched like the inputs."""
        return self.run_with_intermediates(*inputs, keep_intermediates=False)[0]

    def run_with_intermediates(
        self, *inputs: np.ndarray, keep_intermediates: bool = True
    ) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
        """Run and also return every tensor's value, by tensor index, as ``(samples, *shape)``."""
        values, samples = self._samples(inputs)
        outputs: list[list[np.ndarray]] = [[] for _ in self.model.outputs]
        kept: dict[int, list[np.ndarray]] = {}
        for start in range(0, samples, self.chunk):
            chunk = [v[start : start + self.chunk] for v in values]
            result, intermediates = self._run_chunk(chunk, keep_intermediates)
            for i, value in enumerate(result):
                outputs[i].append(value)
            for index, value in intermediates.items():
                kept.setdefault(index, []).append(value)
        merged = []
        for tensor, parts in zip(self.model.outputs, outputs):
            value = np.concatenate(parts) if len(parts) > 1 else parts[0]
            merged.append(_unsample(value, tensor))
        return merged, {k: np.concatenate(v) if len(v) > 1 else v[0] for k, v in kept.items()}

    def _run_chunk(self, inputs: list[np.ndarray], keep: bool) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
        samples = inputs[0].shape[0] if inputs else 1
        env: dict[int, np.ndarray] = {t.index: v for t, v in zip(self.model.inputs, inputs)}
        kept: dict[int, np.ndarray] = dict(env) if keep else {}
        for position, kernel in enumerate(self.kernels):
            op = kernel.op
            args = []
            for tensor in op.inputs:
                if tensor is None:
                    args.append(None)
                elif tensor.index in self._constants:
                    args.append(self._constants[tensor.index])
                elif tensor.is_variable and tensor.index not in env:
                    args.append(None)  # state (SVDF, LSTM): the kernel starts from TFLM's reset value
                elif tensor.index not in env:
                    raise _unwritten(op, tensor)
                else:
                    args.append(env[tensor.index])
            try:
                results = kernel.eval(args)
            except (JsqatError, MemoryError, RecursionError):
                raise
            except UndefinedInTFLM as exc:
                raise UnsupportedModelError(f"{op.describe()}: {exc}") from exc
            except Exception as exc:
                # The model passed the load-time checks (shapes, inputs, bounds): a kernel failing now is
                # a bug in the emulator, not a bad model, and is reported as one, with the operator.
                raise InternalError(f"internal error in the emulator at {op.describe()}: {type(exc).__name__}: "
                                    f"{exc}; please report") from exc
            for tensor, value in zip(op.outputs, results):
                expected = (samples, *tensor.shape)
                if value.shape == (1, *tensor.shape) and samples > 1:  # computed from constants only
                    value = np.broadcast_to(value, expected)
                if value.shape != expected or value.dtype.name != tensor.dtype:
                    raise JsqatError(
                        f"{op.describe()}: kernel produced {value.dtype}{list(value.shape)} for "
                        f"{tensor.describe()}, expected {tensor.dtype}{list(expected)}"
                    )
                env[tensor.index] = value
                if keep:
                    kept[tensor.index] = value
            if not keep:
                for tensor in op.inputs:
                    if tensor is not None and self._last_use.get(tensor.index) == position:
                        env.pop(tensor.index, None)
        outputs = []
        for tensor in self.model.outputs:
            if tensor.index in env:
                outputs.append(env[tensor.index])
            elif tensor.index in self._constants:  # a constant model output
                outputs.append(np.broadcast_to(self._constants[tensor.index], (samples, *tensor.shape)).copy())
            else:
                raise _unwritten(None, tensor)
        return outputs, kept


def _unwritten(reader, tensor: Tensor) -> UnsupportedModelError:
    """A tensor an operator declares as an output but whose kernel does not write (a CONCATENATION
    given a second output, say: TFLM's kernel ignores it too), read afterwards."""
    who = reader.describe() if reader is not None else "the model's output"
    return UnsupportedModelError(f"{who} reads {tensor.describe()}, which its operator declares as an output but "
                                 f"does not write (TFLM would read whatever the arena held there)")


def _unsample(value: np.ndarray, tensor: Tensor) -> np.ndarray:
    """(samples, *shape) -> the user's layout: samples merged into the leading dimension."""
    if not tensor.shape:
        return value.reshape(value.shape[0]) if value.shape[0] > 1 else value.reshape(())
    return value.reshape((value.shape[0] * tensor.shape[0], *tensor.shape[1:]))
