"""Measure the sizes and alignments of TFLM's allocator structs for each target.

    python scripts/probe_tflm_sizes.py TFLM_SRC GEMMLOWP_SRC FLATBUFFERS_INCLUDE > sizes.json
    python scripts/probe_tflm_sizes.py TFLM_SRC GEMMLOWP_SRC FLATBUFFERS_INCLUDE --module COMMIT \
        > jsqat_embed/memory/tflm_structs.py

The arena estimator (jsqat_embed/memory/) needs ``sizeof``/``alignof`` of the
structs TFLM places in the arena tail: eval tensors, nodes, builtin parameter
structs, each kernel's OpData. They depend on the pointer size, the compiler's
enum size (arm-none-eabi uses short enums) and the TFLM version, so they are
measured, not guessed: one small C++ translation unit per struct group is
compiled to assembly with the target's compiler (the sizes are constant data,
so nothing has to run on the target) and the numbers are read back.

Kernel-local structs (OpData defined inside a kernel's .cc) are reached by
including that .cc into its own translation unit. Builds use TFLM's own flags:
``TF_LITE_STATIC_MEMORY`` always; ``USE_TFLM_COMPRESSION`` only where the
runtime has it on. Three ABIs:

- ``x86_64``: g++, LP64, compression on: the tflite-micro PyPI wheel (``host``).
- ``arm32``: arm-none-eabi-g++ -mcpu=cortex-m4, ILP32 with short enums,
  compression off (TFLM's Makefile default; Arduino, Zephyr, pico-sdk, STM32).
- ``ilp32``: ILP32 with int-sized enums, compression off: the ABI of Xtensa
  (ESP32, ESP32-S3; esp-tflite-micro leaves compression off) and RISC-V
  (ESP32-C3). Probed with both Debian's riscv64-unknown-elf-g++ (rv32imc/ilp32)
  and xtensa-lx106-elf-g++ (apt: gcc-riscv64-unknown-elf gcc-xtensa-lx106); the
  two must agree or the script fails. Neither
  Debian cross compiler ships C++ library headers, so newlib's (from
  libnewlib-arm-none-eabi) are borrowed: the structs use only fixed-width
  integer types from them.

The DECODE operator needs no ``USE_TFLM_COMPRESSION``: without it, decoded
tensors go to the arena, which is how jsqat-embed's firmware runs them.

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

def _newlib_cxx_includes() -> list[str]:
    root = Path("/usr/include/newlib/c++")
    versions = sorted(root.glob("*")) if root.is_dir() else []
    if not versions:
        raise SystemExit("the ilp32 probe borrows newlib's C++ headers: apt-get install libnewlib-arm-none-eabi")
    version = versions[-1]
    return ["-isystem", str(version), "-isystem", str(version / "arm-none-eabi"), "-isystem", "/usr/include/newlib"]


COMMON = ["-std=c++17", "-O0", "-S", "-DTF_LITE_STATIC_MEMORY", "-fno-exceptions", "-fno-rtti"]
COMPRESSION = ["-DUSE_TFLM_COMPRESSION"]
ARM = ["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
RISCV32 = ["riscv64-unknown-elf-g++", "-march=rv32imc", "-mabi=ilp32"]
XTENSA = ["xtensa-lx106-elf-g++"]

# ABI -> compilers whose results must agree (each: command without sources).
TARGETS = {
    "x86_64": [["g++", *COMMON, *COMPRESSION]],
    "arm32": [[*ARM, *COMMON]],
    "ilp32": [[*RISCV32, *COMMON, "@newlib"], [*XTENSA, *COMMON, "@newlib"]],
}

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
                "TfLiteTransposeConvParams",
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
            "PreluParams": "tflite::PreluParams",
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
    "movement_params": (
        ["tensorflow/lite/c/builtin_op_data.h"],
        {
            name: name
            for name in [
                "TfLiteResizeBilinearParams", "TfLiteResizeNearestNeighborParams", "TfLiteSplitParams",
                "TfLiteSplitVParams", "TfLiteUnpackParams", "TfLiteGatherParams", "TfLiteMirrorPaddingParams",
                "TfLiteDepthToSpaceParams", "TfLiteSpaceToDepthParams", "TfLiteArgMaxParams", "TfLiteArgMinParams",
            ]
        },
    ),
    "mirror_pad": (["tensorflow/lite/micro/kernels/mirror_pad.cc"], {"OpDataMirrorPad": "tflite::OpDataMirrorPad"}),
    "concatenation": (["tensorflow/lite/micro/kernels/concatenation.cc"], {"ConcatenationOpData": "tflite::OpData"}),
    "tanh": (["tensorflow/lite/micro/kernels/tanh.cc"], {"TanhOpData": "tflite::OpData"}),
    "log_softmax": (["tensorflow/lite/micro/kernels/log_softmax.cc"], {"LogSoftmaxOpData": "tflite::LogSoftmaxOpData"}),
    "lstm": (["tensorflow/lite/c/builtin_op_data.h", "tensorflow/lite/micro/kernels/lstm_shared.h"],
             {"TfLiteUnidirectionalSequenceLSTMParams": "TfLiteUnidirectionalSequenceLSTMParams",
              "OpDataLSTM": "tflite::OpDataLSTM"}),
    "transpose_conv": (["tensorflow/lite/micro/kernels/transpose_conv.cc"],
                       {"TransposeConvOpData": "tflite::OpData"}),
    # SVDF, DIV, CAST and the signal library (audio front end) kernels
    "svdf_div_cast": (
        ["tensorflow/lite/c/builtin_op_data.h", "tensorflow/lite/micro/kernels/svdf.h"],
        {"TfLiteSVDFParams": "TfLiteSVDFParams", "TfLiteDivParams": "TfLiteDivParams",
         "TfLiteCastParams": "TfLiteCastParams", "OpDataSvdf": "tflite::OpDataSvdf"},
    ),
    "div": (["tensorflow/lite/micro/kernels/div.cc"], {"OpDataDiv": "tflite::OpDataDiv"}),
    "signal_window": (["signal/micro/kernels/window.cc"], {"TFLMSignalWindowParams": "tflite::TFLMSignalWindowParams"}),
    "signal_energy": (["signal/micro/kernels/energy.cc"], {"TFLMSignalEnergyParams": "tflite::TFLMSignalEnergyParams"}),
    "signal_filter_bank": (["signal/micro/kernels/filter_bank.cc"],
                           {"TFLMSignalFilterBankParams": "tflite::TFLMSignalFilterBankParams"}),
    "signal_spectral_subtraction": (
        ["signal/micro/kernels/filter_bank_spectral_subtraction.cc"],
        {"TFLMSignalSpectralSubtractionParams": "tflite::TFLMSignalSpectralSubtractionParams"},
    ),
    "signal_pcan": (["signal/micro/kernels/pcan.cc"], {"TfLitePcanParams": "tflite::tflm_signal::TfLitePcanParams"}),
    "signal_log": (["signal/micro/kernels/filter_bank_log.cc"], {"TFLMSignalLogParams": "tflite::TFLMSignalLogParams"}),
    # The template's T only types a pointer member: one size for the int16, int32 and float kernels.
    "signal_rfft": (["signal/micro/kernels/rfft.cc"],
                    {"TfLiteAudioFrontendRfftParams": "tflite::TfLiteAudioFrontendRfftParams<int16_t>"}),
    "signal_irfft": (["signal/micro/kernels/irfft.cc"],
                     {"TfLiteAudioFrontendIrfftParams": "tflite::TfLiteAudioFrontendIrfftParams"}),
    "signal_delay": (["signal/micro/kernels/delay.cc"],
                     {"TFLMSignalFrontendDelayParams": "tflite::TFLMSignalFrontendDelayParams",
                      "CircularBuffer": "tflite::tflm_signal::CircularBuffer"}),
    "signal_framer": (["signal/micro/kernels/framer.cc"], {"TFLMSignalFramerParams": "tflite::TFLMSignalFramerParams"}),
    "signal_stacker": (["signal/micro/kernels/stacker.cc"],
                       {"TFLMSignalStackerParams": "tflite::TFLMSignalStackerParams"}),
    "signal_overlap_add": (["signal/micro/kernels/overlap_add.cc"],
                           {"TFLMSignalOverlapAddParams": "tflite::TFLMSignalOverlapAddParams<int16_t>"}),
    "decode": (
        ["tensorflow/lite/micro/kernels/decode_state_lut.h", "tensorflow/lite/micro/kernels/decode_state_prune.h",
         "tensorflow/lite/micro/kernels/decode_state_huffman.h"],
        {"DecodeStateLut": "tflite::DecodeStateLut", "DecodeStatePrune": "tflite::DecodeStatePrune",
         "DecodeStateHuffman": "tflite::DecodeStateHuffman"},
    ),
}


def probe(target: str, tflm: Path, gemmlowp: Path, flatbuffers: Path) -> dict[str, list[int]]:
    results = [_probe_with(compiler, target, tflm, gemmlowp, flatbuffers) for compiler in TARGETS[target]]
    for other, compiler in zip(results[1:], TARGETS[target][1:]):
        if other != results[0]:
            differ = sorted(name for name in results[0] if results[0][name] != other.get(name))
            raise SystemExit(f"{target}: {compiler[0]} disagrees with {TARGETS[target][0][0]} on {differ}")
    return results[0]


def _probe_with(compiler: list[str], target: str, tflm: Path, gemmlowp: Path, flatbuffers: Path
                ) -> dict[str, list[int]]:
    if "@newlib" in compiler:
        at = compiler.index("@newlib")
        compiler = compiler[:at] + _newlib_cxx_includes() + compiler[at + 1:]
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
            command = compiler + [
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


MODULE_DOC = '''"""sizeof/alignof of the TFLM structs the arena holds, per ABI.

Generated by ``scripts/probe_tflm_sizes.py`` from tensorflow/tflite-micro at
{commit}: TFLM's headers compiled with each ABI's compiler (see the
script for the compilers and flags). ABIs: ``x86_64`` = the tflite-micro PyPI wheel (g++,
LP64, USE_TFLM_COMPRESSION on); ``arm32`` = Cortex-M builds (arm-none-eabi-g++,
ILP32, short enums, compression off); ``ilp32`` = Xtensa and RISC-V builds
(ESP32 family; ILP32, int-sized enums, compression off). Each entry is
``name: (sizeof, alignof)``; names are TFLM's. Corrections measured against a
newer TFLM build live in :mod:`jsqat_embed.memory.arena` (``TFLM_VERSIONS``),
not here, so this file stays a faithful record of the probe. Do not edit.
"""

from __future__ import annotations

'''


def render_module(out: dict[str, dict[str, list[int]]], commit: str) -> str:
    """The Python module; ``ilp32`` is written as its differences from ``arm32`` (the enum sizes)."""
    lines = [MODULE_DOC.format(commit=commit), "STRUCTS: dict[str, dict[str, tuple[int, int]]] = {"]
    for target in ("x86_64", "arm32"):
        lines.append(f'    "{target}": {{')
        lines += [f'        "{name}": ({size}, {align}),' for name, (size, align) in sorted(out[target].items())]
        lines.append("    },")
    lines.append("}")
    differ = {name: value for name, value in sorted(out["ilp32"].items()) if out["arm32"].get(name) != value}
    lines.append("# Xtensa and RISC-V: arm32's layout except where int-sized enums change a struct.")
    lines.append('STRUCTS["ilp32"] = {')
    lines.append('    **STRUCTS["arm32"],')
    lines += [f'    "{name}": ({size}, {align}),' for name, (size, align) in differ.items()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    tflm, gemmlowp, flatbuffers = (Path(a) for a in argv[1:4])
    out = {target: probe(target, tflm, gemmlowp, flatbuffers) for target in TARGETS}
    if len(argv) > 5 and argv[4] == "--module":
        sys.stdout.write(render_module(out, argv[5]))
    else:
        json.dump(out, sys.stdout, indent=1, sort_keys=True)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
