"""Measure the sizes and alignments of TFLM's allocator structs for each target.

    python scripts/probe_tflm_sizes.py TFLM_SRC GEMMLOWP_SRC FLATBUFFERS_INCLUDE > sizes.json

The arena estimator (jsqat_embed/memory/) needs ``sizeof``/``alignof`` of the
structs TFLM places in the arena tail: eval tensors, nodes, builtin parameter
structs, each kernel's OpData. They depend on the pointer size, the compiler's
enum size (arm-none-eabi uses short enums) and the TFLM version, so they are
measured, not guessed: one small C++ translation unit per struct group is
compiled to assembly with the target's compiler (the sizes are constant data,
so nothing has to run on the target) and the numbers are read back.

Kernel-local structs (OpData defined inside a kernel's .cc) are reached by
including that .cc into its own translation unit. Builds use TFLM's own flags:
``TF_LITE_STATIC_MEMORY`` and ``USE_TFLM_COMPRESSION`` (the PyPI wheel has
compression on).

The output feeds jsqat_embed/memory/tflm_structs.py, which records where each
number came from; the host table is then checked against the real interpreter
by tests/memory/test_arena.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TARGETS = {
    "x86_64": ["g++", "-std=c++17", "-O0", "-S"],
    "arm32": ["arm-none-eabi-g++", "-std=c++17", "-O0", "-S", "-mcpu=cortex-m4", "-mthumb",
              "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
}
DEFINES = ["-DTF_LITE_STATIC_MEMORY", "-DUSE_TFLM_COMPRESSION", "-fno-exceptions", "-fno-rtti"]

# name -> (includes, C++ type). Types are spelled as TFLM spells them.
GROUPS: dict[str, tuple[list[str], dict[str, str]]] = {
    "core": (
        ["tensorflow/lite/c/common.h", "tensorflow/lite/micro/micro_allocator.h"],
        {
            "TfLiteEvalTensor": "TfLiteEvalTensor",
            "TfLiteTensor": "TfLiteTensor",
            "TfLiteNode": "TfLiteNode",
            "NodeAndRegistration": "tflite::NodeAndRegistration",
            "TfLiteAffineQuantization": "TfLiteAffineQuantization",
            "TfLiteIntArray": "TfLiteIntArray",
            "ScratchBufferHandle": "tflite::ScratchBufferHandle",
            "SubgraphAllocations": "tflite::SubgraphAllocations",
            "pointer": "void*",
        },
    ),
    "builtin_params": (
        ["tensorflow/lite/c/builtin_op_data.h"],
        {
            name: name
            for name in [
                "TfLiteConvParams", "TfLiteDepthwiseConvParams", "TfLiteFullyConnectedParams",
                "TfLiteAddParams", "TfLiteSubParams", "TfLiteMulParams", "TfLitePoolParams",
                "TfLiteReducerParams", "TfLiteSoftmaxParams", "TfLiteLeakyReluParams",
                "TfLiteConcatenationParams", "TfLiteReshapeParams", "TfLiteSqueezeParams",
                "TfLiteShapeParams", "TfLiteStridedSliceParams", "TfLitePackParams",
            ]
        },
    ),
    "kernel_headers": (
        [
            "tensorflow/lite/micro/kernels/conv.h", "tensorflow/lite/micro/kernels/fully_connected.h",
            "tensorflow/lite/micro/kernels/softmax.h", "tensorflow/lite/micro/kernels/pooling.h",
            "tensorflow/lite/micro/kernels/add.h", "tensorflow/lite/micro/kernels/sub.h",
            "tensorflow/lite/micro/kernels/mul.h", "tensorflow/lite/micro/kernels/reduce.h",
            "tensorflow/lite/micro/kernels/logistic.h", "tensorflow/lite/micro/kernels/hard_swish.h",
            "tensorflow/lite/micro/kernels/leaky_relu.h", "tensorflow/lite/micro/kernels/activations.h",
            "tensorflow/lite/micro/kernels/quantize.h", "tensorflow/lite/micro/kernels/dequantize.h",
            "tensorflow/lite/micro/kernels/strided_slice.h", "tensorflow/lite/micro/kernels/pad.h",
            "tensorflow/lite/kernels/internal/types.h",
        ],
        {
            "OpDataConv": "tflite::OpDataConv",
            "OpDataFullyConnected": "tflite::OpDataFullyConnected",
            "SoftmaxParams": "tflite::SoftmaxParams",
            "OpDataPooling": "tflite::OpDataPooling",
            "OpDataAdd": "tflite::OpDataAdd",
            "OpDataSub": "tflite::OpDataSub",
            "OpDataMul": "tflite::OpDataMul",
            "OpDataReduce": "tflite::OpDataReduce",
            "OpDataLogistic": "tflite::OpDataLogistic",
            "HardSwishParams": "tflite::HardSwishParams",
            "LeakyReluOpData": "tflite::LeakyReluOpData",
            "ReluOpData": "tflite::ReluOpData",
            "Relu6OpData": "tflite::Relu6OpData",
            "OpDataQuantizeReference": "tflite::OpDataQuantizeReference",
            "DequantizeOpData": "tflite::DequantizeOpData",
            "StridedSliceParams": "tflite::StridedSliceParams",
            "PadOpData": "tflite::OpData",
            "SpaceToBatchParams": "tflite::SpaceToBatchParams",
        },
    ),
    "allocators": (
        [
            "tensorflow/lite/micro/micro_allocator.h", "tensorflow/lite/micro/recording_micro_allocator.h",
            "tensorflow/lite/micro/memory_planner/greedy_memory_planner.h",
            "tensorflow/lite/micro/arena_allocator/single_arena_buffer_allocator.h",
            "tensorflow/lite/micro/arena_allocator/recording_single_arena_buffer_allocator.h",
        ],
        {
            "MicroAllocator": "tflite::MicroAllocator",
            "RecordingMicroAllocator": "tflite::RecordingMicroAllocator",
            "GreedyMemoryPlanner": "tflite::GreedyMemoryPlanner",
            "SingleArenaBufferAllocator": "tflite::SingleArenaBufferAllocator",
            "RecordingSingleArenaBufferAllocator": "tflite::RecordingSingleArenaBufferAllocator",
        },
    ),
    "builtin_data_allocator": (
        ["tensorflow/lite/micro/micro_allocator.cc"],
        {"MicroBuiltinDataAllocator": "tflite::MicroBuiltinDataAllocator"},
    ),
    "concatenation": (["tensorflow/lite/micro/kernels/concatenation.cc"], {"ConcatenationOpData": "tflite::OpData"}),
    "tanh": (["tensorflow/lite/micro/kernels/tanh.cc"], {"TanhOpData": "tflite::OpData"}),
    "decode": (
        ["tensorflow/lite/micro/kernels/decode_state_lut.h", "tensorflow/lite/micro/kernels/decode_state_prune.h"],
        {"DecodeStateLut": "tflite::DecodeStateLut", "DecodeStatePrune": "tflite::DecodeStatePrune"},
    ),
}


def probe(target: str, tflm: Path, gemmlowp: Path, flatbuffers: Path) -> dict[str, list[int]]:
    sizes: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, (includes, types) in GROUPS.items():
            source = "".join(f'#include "{include}"\n' for include in includes)
            names = list(types)
            values = ", ".join(f"sizeof({types[n]}), alignof({types[n]})" for n in names)
            source += f"extern \"C\" {{ extern const unsigned int jsqat_sizes[]; "
            source += f"const unsigned int jsqat_sizes[] = {{ {values} }}; }}\n"
            path = Path(tmp) / f"{group}.cc"
            path.write_text(source)
            command = TARGETS[target] + DEFINES + [
                f"-I{tflm}", f"-I{gemmlowp}", f"-I{flatbuffers}", str(path), "-o", str(path.with_suffix(".s")),
            ]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"{target} {group}: compile failed\n{result.stderr[-2000:]}")
            numbers = _read_array(path.with_suffix(".s").read_text())
            for i, name in enumerate(names):
                sizes[name] = [numbers[2 * i], numbers[2 * i + 1]]
    return sizes


def _read_array(assembly: str) -> list[int]:
    """The 32-bit words of ``jsqat_sizes`` (``.long`` on x86-64, ``.word`` on arm)."""
    body = assembly.split("jsqat_sizes:", 1)[1]
    values: list[int] = []
    for line in body.splitlines()[1:]:
        line = line.strip()
        match = re.match(r"\.(quad|word|long|4byte|8byte)\s+(-?\d+)", line)
        if not match:
            if line.startswith(".") and not line.startswith((".size", ".type")):
                break
            if not line or line.startswith((".size", ".type")):
                break
            continue
        values.append(int(match.group(2)))
    return values


def main(argv: list[str]) -> int:
    tflm, gemmlowp, flatbuffers = (Path(a) for a in argv[1:4])
    out = {target: probe(target, tflm, gemmlowp, flatbuffers) for target in TARGETS}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
