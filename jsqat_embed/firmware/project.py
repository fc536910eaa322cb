"""``jsqat-embed build``: model -> (compressed) model -> fit-check -> golden vectors -> firmware project.

The template context is computed here, in Python; templates only place values
(each escaped for its file's language by :mod:`jsqat_embed.firmware.render`).

Output safety: a new or empty destination gets the project rendered into a
temporary directory beside it and renamed into place, so a failed build never
leaves half a project. A non-empty destination is only touched with ``force``,
and only when it holds a ``jsqat_project.json`` that jsqat-embed wrote: then
only the files that manifest lists (unchanged since) are replaced or removed;
every other file stays. Files and symbolic links are never replaced by a
directory. "Build even if it does not fit" is a separate flag (``ignore_fit``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jsqat_embed import __version__
from jsqat_embed.boards.profile import BoardProfile
from jsqat_embed.errors import DoesNotFitError, InputDataError, OutputLocationError, UnsupportedModelError
from jsqat_embed.firmware.c_array import c_identifier, render_model_arrays
from jsqat_embed.firmware.protocol import VERSION as PROTOCOL_VERSION
from jsqat_embed.firmware.render import Code, banner, render_template, shell_word, template_directory
from jsqat_embed.graph.model import Model, Tensor
from jsqat_embed.memory.fit import BoardFit, fit_board
from jsqat_embed.ops import descriptor
from jsqat_embed.tflite import read_model

ENCODINGS = ("auto", "dense", "pruned", "lut", "huffman", "smallest")
#: compress --method per --encoding, and back
_COMPRESS_METHOD = {"pruned": "prune", "lut": "lut", "huffman": "huffman", "smallest": "auto"}
#: where the shared sources go, and their extension, per build system
SOURCE_LAYOUT = {
    "esp-idf": ("main", ".cc"),
    "arduino": ("{sketch}", ".cpp"),
    "platformio": ("src", ".cpp"),
    "zephyr": ("src", ".cc"),
    "cmake": ("src", ".cc"),
    "pico-sdk": ("", ".cc"),
}
STATIC_SOURCES = ("jsqat_core.h", "jsqat_core.cc", "jsqat_selftest.h", "jsqat_selftest.cc", "jsqat_platform.h",
                  "jsqat_app.h")
C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float"}
MANIFEST = "jsqat_project.json"
#: the deployed model (the encoded one when build compressed it), written into the project
MODEL_FILE = "model.tflite"
#: the manifest's tool marker: --force replaces only directories whose manifest carries it
TOOL_MARKER = "jsqat-embed"
#: golden vectors: at most this many cases and bytes, whatever the board's flash
MAX_GOLDEN_CASES = 10_000
MAX_GOLDEN_BYTES = 256 << 20
#: flash sizes ESP-IDF's CONFIG_ESPTOOLPY_FLASHSIZE_<n>MB offers
ESP_FLASH_SIZES_MB = (1, 2, 4, 8, 16, 32, 64, 128)


@dataclass
class BuildResult:
    directory: Path
    build_system: str
    encoding: str
    fit: BoardFit
    files: list[str]
    golden_count: int
    output_crcs: list[int]  # per output tensor: CRC-32 of its golden bytes over all cases
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    @property
    def crc_text(self) -> str:
        """The CRCs as the device prints them: ``aaaaaaaa bbbbbbbb`` in output order."""
        return " ".join(f"{crc:08x}" for crc in self.output_crcs)

    def to_json(self) -> dict:
        return {
            "directory": str(self.directory), "build_system": self.build_system, "encoding": self.encoding,
            "files": self.files, "golden_count": self.golden_count,
            "expected_output_crc32": [f"{crc:08x}" for crc in self.output_crcs],
            "inputs": self.inputs, "outputs": self.outputs, "protocol_version": PROTOCOL_VERSION,
            "next_steps": self.next_steps, "fit": self.fit.to_json(),
        }


def choose_build_system(board: BoardProfile, requested: str | None) -> str:
    firmware = [b for b in board.build_systems if b in SOURCE_LAYOUT]
    if not firmware:
        raise InputDataError(f"board {board.id} has no firmware build system (it lists {', '.join(board.build_systems)})")
    if requested is None:
        return firmware[0]
    if requested not in SOURCE_LAYOUT:
        raise InputDataError(f"unknown build system {requested!r}; known: {', '.join(SOURCE_LAYOUT)}")
    if requested not in board.build_systems:
        raise InputDataError(f"board {board.id} does not support {requested}; it supports {', '.join(firmware)}")
    return requested


def encode_model(data: bytes, board: BoardProfile, encoding: str) -> tuple[bytes, str]:
    """The model bytes to deploy and the encoding used.

    'auto': the model as it is if it fits (decoding costs arena and time at every
    inference); else the smallest DECODE encoding that fits flash and RAM, decoded
    weights' arena included (pruning, then compress's per-tensor smallest); else
    the smallest one.
    """
    if encoding not in ENCODINGS:
        raise InputDataError(f"--encoding {encoding!r}: choose {', '.join(ENCODINGS)}")
    if encoding == "dense":
        return data, "dense"
    from jsqat_embed.compress.encoder import compress_model

    if encoding == "auto":
        model = read_model(data)
        if fit_board(model, board).fits:
            return data, "dense"
        from jsqat_embed.compress.plan import method_of, variants

        found = list(variants(model))  # each smaller than the one before
        if not found:
            return data, "dense"
        fitting = [v for v in found if fit_board(v[0], board, file_bytes=v[1]).fits]
        method = method_of((fitting or found)[-1][2])  # "prune" for the pruning variant, else compress's auto
        compressed, _ = compress_model(data, "prune" if method == "prune" else "auto")
        return compressed, {v: k for k, v in _COMPRESS_METHOD.items()}[method]
    compressed, _ = compress_model(data, _COMPRESS_METHOD[encoding])
    return compressed, encoding


def golden_vectors(data: bytes, count: int, images: Path | None, seed: int
                   ) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """Inputs (one array per model input, cases along axis 0) and the emulator's outputs
    for them (one array per model output; bit-exact with TFLM)."""
    from jsqat_embed.emulator import Emulator
    from jsqat_embed.verify.compare import random_inputs

    emulator = Emulator(data)
    if images is not None:
        from jsqat_embed.verify.images import load_images
        from jsqat_embed.verify.support import require_image_input

        require_image_input(emulator.model, "--golden-images")
        batch, files = load_images(images, emulator.inputs[0])
        inputs = [batch]
        source = f"{len(files)} images from {Path(images).name}"
    else:
        if count < 1:
            raise InputDataError("--golden must be at least 1")
        inputs = random_inputs(emulator, count, seed)
        source = f"random, seed {seed}"
    outputs = emulator.run(*inputs)
    return inputs, outputs, source


def case_major(arrays: list[np.ndarray], tensors: list[Tensor], cases: int) -> bytes:
    """Every tensor's bytes of case 0 back to back in model order, then case 1, ...: the
    layout of the golden data and of the protocol's tensor lists."""
    per_case = [np.ascontiguousarray(a).reshape(cases, -1).view(np.uint8).reshape(cases, -1) for a in arrays]
    for array, tensor in zip(per_case, tensors):
        if array.shape[1] != tensor.nbytes:
            raise UnsupportedModelError(f"{tensor.describe()}: {array.shape[1]} bytes per case, expected {tensor.nbytes}")
    return np.concatenate(per_case, axis=1).tobytes() if per_case else b""


def output_crcs(outputs: list[np.ndarray]) -> list[int]:
    """Per output tensor, the CRC-32 of its bytes over all cases in order (what the self-test prints)."""
    return [zlib.crc32(np.ascontiguousarray(array).tobytes()) for array in outputs]


def _hex_lines(data: bytes, per_line: int = 16) -> list[str]:
    return [", ".join(f"0x{b:02x}" for b in data[i : i + per_line]) + "," for i in range(0, len(data), per_line)]


def _io(index: int, tensor: Tensor) -> dict:
    quantized = (tensor.quantization is not None and tensor.quantization.scale.size > 0
                 and tensor.dtype not in ("float32", "float16"))
    return {
        "index": index,
        "name": tensor.name,
        "dtype": tensor.dtype,
        "shape": list(tensor.shape),
        "bytes": tensor.nbytes,
        "ctype": C_TYPES.get(tensor.dtype, tensor.dtype),
        "shape_text": "x".join(str(d) for d in tensor.shape),
        "scale": _c_float(tensor.scale) if quantized else "0.0",
        "zero_point": tensor.zero_point if quantized else 0,
    }


def _c_float(value) -> str:
    """A finite float32 as C source (``repr`` of the float32 value)."""
    number = float(np.float32(value))
    if not np.isfinite(number):
        raise UnsupportedModelError(f"quantization scale {value!r} is not a finite float32")
    return repr(number)


def _c_list(values) -> str:
    return ", ".join(str(v) for v in values)


def _manifest_entry(entry: dict) -> dict:
    keys = ("index", "name", "dtype", "shape", "bytes", "scale", "zero_point", "crc32")
    return {key: (float(entry[key]) if key == "scale" else entry[key]) for key in keys if key in entry}


def golden_case_count(inputs: list[np.ndarray], tensors: list[Tensor]) -> int:
    """Golden cases in ``inputs`` (each tensor's leading batch may be more than 1)."""
    counts = {int(a.shape[0]) // max(1, t.shape[0] if t.shape else 1) for a, t in zip(inputs, tensors)}
    if len(counts) != 1:
        raise InputDataError(f"golden inputs disagree on the number of cases: {sorted(counts)}")
    return counts.pop()


def _arena(fit: BoardFit, board: BoardProfile, build_system: str) -> dict:
    region = fit.arena_region
    size = (fit.arena_bytes + 15) // 16 * 16
    attribute, section = "", None
    if region is not None and region.kind == "psram" and build_system in ("esp-idf", "platformio"):
        attribute = Code("#include \"esp_attr.h\"\nEXT_RAM_BSS_ATTR")
    elif region is not None and region.kind in ("psram", "sdram"):
        section = ".jsqat_arena"
        attribute = Code(f'__attribute__((section("{section}")))')
    return {
        "bytes": size, "estimate": fit.arena.total, "margin": fit.margin.total,
        "region": f"{region.name} ({region.kind})" if region else "unplaced",
        "region_name": region.name.replace("-", "_").upper() if region else "RAM",
        "attribute": attribute, "section": section, "in_psram": bool(region and region.kind == "psram"),
    }


def _linker_regions(board: BoardProfile) -> list[dict]:
    regions = []
    for region in board.regions:
        if region.origin is None:
            continue
        access = "rx" if region.is_flash else "rwx"
        regions.append({"name": region.name.replace("-", "_").upper(), "access": access,
                        "origin": f"0x{region.origin:08X}", "length": f"{region.size_bytes}"})
    return regions


def _next_steps(build_system: str, board: BoardProfile, directory: Path, project: str, model_file: Path) -> list[str]:
    """Shell commands to print, copy-pasteable from any directory: absolute paths, the
    board's own target names, jsqat-embed run by the interpreter that ran build (it may not
    be on PATH outside its virtual environment). Every word from a path or a board file is
    shell-quoted; comments start with '#'."""
    import sys

    fw = board.firmware or {}
    q = shell_word
    directory = directory.absolute()
    steps = {
        "esp-idf": [f"cd {q(directory)}", f"idf.py set-target {q(fw.get('idf_target', 'esp32s3'))}",
                    "idf.py -p PORT build flash",
                    "# idf.py -p PORT monitor shows the boot self-test; quit it (Ctrl+]) before serial-verify"],
        "arduino": [f"arduino-cli lib install {q(fw.get('arduino_library', 'Chirale_TensorFlowLite'))}",
                    f"arduino-cli compile --upload -p PORT --fqbn {q(fw['arduino_fqbn']) if fw.get('arduino_fqbn') else 'FQBN'} "
                    f"{q(directory / project)}"
                    + ("" if fw.get("arduino_fqbn") else "  # FQBN: see arduino-cli board listall")],
        "platformio": [f"cd {q(directory)}", "pio run -t upload",
                       "# pio device monitor -b 115200 shows the boot self-test; quit it (Ctrl+C) before serial-verify"],
        "zephyr": [f"west build -b {q(fw.get('zephyr_board', 'BOARD'))} -d {q(directory / 'build')} {q(directory)}",
                   f"west flash -d {q(directory / 'build')}"],
        "cmake": [f"cd {q(directory)}", "cmake -B build -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake -DTFLM_TREE=/path/to/tflm_tree",
                  "cmake --build build"],
        "pico-sdk": [f"cd {q(directory)}", f"cmake -B build {q('-DPICO_BOARD=' + fw.get('pico_board', 'pico'))} "
                     "-DPICO_TFLMICRO_PATH=/path/to/pico-tflmicro", "cmake --build build"],
    }[build_system]
    return steps + [f"{q(sys.executable)} -m jsqat_embed serial-verify {q(model_file)} --port PORT --random 16"]


def esp_flash_size_mb(board: BoardProfile) -> int:
    """The largest ESP-IDF flash size option not above the board's largest flash region."""
    largest = max((r.size_bytes for r in board.regions_of("flash")), default=4 << 20) >> 20
    return max([size for size in ESP_FLASH_SIZES_MB if size <= largest], default=ESP_FLASH_SIZES_MB[0])


def cmake_arch(cpu_flags: str) -> str:
    """TFLM's TARGET_ARCH: the value of the ``-mcpu=`` flag (the board loader requires one)."""
    for flag in cpu_flags.split():
        if flag.startswith("-mcpu=") and len(flag) > len("-mcpu="):
            return flag[len("-mcpu="):]
    raise InputDataError(f"cpu_flags {cpu_flags!r} do not name the CPU with -mcpu=")


def render_project(model_data: bytes, board: BoardProfile, build_system: str, fit: BoardFit,
                   inputs: list[np.ndarray], outputs: list[np.ndarray], golden_source: str, project_name: str,
                   encoding: str) -> dict[str, str]:
    """Relative path -> file text for the whole project.

    ``inputs`` and ``outputs`` hold one array per model input and output, the
    golden cases along axis 0.
    """
    model = read_model(model_data)
    sha256 = model.sha256
    project = c_identifier(project_name, suffix="") or "jsqat_app"
    folder, extension = SOURCE_LAYOUT[build_system]
    folder = folder.format(sketch=project)
    source_names = [f"jsqat_core{extension}", f"jsqat_selftest{extension}", f"jsqat_app{extension}",
                    f"model_data{extension}", f"golden_data{extension}"]
    cases = golden_case_count(inputs, model.inputs)
    input_table = [_io(i, t) for i, t in enumerate(model.inputs)]
    output_table = [_io(i, t) for i, t in enumerate(model.outputs)]
    crcs = output_crcs(outputs)
    for entry, crc in zip(output_table, crcs):
        entry["crc32"] = f"{crc:08x}"
    ops = []
    for op in model.operators:
        found = descriptor(op.opcode)
        method = found.resolver if found is not None else None
        if method is None:
            raise UnsupportedModelError(f"{op.describe()}: no TFLM resolver entry known for {op.opcode}")
        if method not in ops:
            ops.append(method)
    flash_mb = esp_flash_size_mb(board)
    app_partition = min(((fit.model_bytes + (1 << 20)) + 0xFFFF) // 0x10000 * 0x10000, (flash_mb << 20) - 0x10000)
    fw = board.firmware or {}
    cpu_flags = fw.get("cpu_flags", "-mcpu=cortex-m4 -mthumb")
    context = {
        "banner": banner(sha256), "sha256": sha256, "project_name": project, "board": board,
        "model_hash_bytes": ", ".join(f"0x{b:02x}" for b in bytes.fromhex(sha256)[:8]),
        "symbol": c_identifier(project_name), "ops": ops, "arena": _arena(fit, board, build_system),
        "inputs": input_table, "outputs": output_table,
        "input_bytes_list": _c_list(t["bytes"] for t in input_table),
        "input_case_bytes": sum(t["bytes"] for t in input_table),
        "input_scales_list": _c_list(f"{t['scale']}f" for t in input_table),
        "input_zero_points_list": _c_list(t["zero_point"] for t in input_table),
        "output_bytes_list": _c_list(t["bytes"] for t in output_table),
        "output_case_bytes": sum(t["bytes"] for t in output_table),
        "output_scales_list": _c_list(f"{t['scale']}f" for t in output_table),
        "output_zero_points_list": _c_list(t["zero_point"] for t in output_table),
        "golden_count": cases, "golden_source": golden_source,
        "golden_input_lines": _hex_lines(case_major(inputs, model.inputs, cases)),
        "golden_output_lines": _hex_lines(case_major(outputs, model.outputs, cases)),
        "expected_crcs_list": _c_list(f"0x{crc:08x}u" for crc in crcs), "sources": source_names,
        "idf_target": fw.get("idf_target", "esp32s3"), "flash_size_mb": flash_mb,
        "psram": bool(board.regions_of("psram")), "app_partition_hex": f"0x{app_partition:X}",
        "arduino_library": fw.get("arduino_library", "Chirale_TensorFlowLite"),
        "arduino_header": fw.get("arduino_header", "Chirale_TensorFlowLite.h"),
        "pio_env": board.id.replace("-", "_"), "pio_platform": fw.get("platformio_platform", ""),
        "pio_board": fw.get("platformio_board", ""), "pio_framework": fw.get("platformio_framework", "arduino"),
        "pio_lib": "espressif/esp-tflite-micro" if fw.get("platformio_framework") == "espidf"
        else fw.get("arduino_library", "Chirale_TensorFlowLite"),
        "pico_board": fw.get("pico_board", "pico"), "cpu_flags": cpu_flags, "cmake_arch": cmake_arch(cpu_flags),
        "clock_hz": int(board.clock_mhz * 1e6), "linker_script": "memory.ld", "linker_regions": _linker_regions(board),
        "encoding": encoding,
    }
    files: dict[str, str] = {}
    prefix = f"{folder}/" if folder else ""
    common = template_directory() / "common"
    for name in STATIC_SOURCES:
        target = name.replace(".cc", extension)
        files[prefix + target] = common.joinpath(name).read_text()
    for name in ("jsqat_app.cc", "golden_data.h", "golden_data.cc", "model_config.h"):
        files[prefix + name.replace(".cc", extension)] = render_template(f"common/{name}.j2", context)
    arrays = render_model_arrays(model_data, project_name, encoding_summary=_encoding_summary(encoding, model),
                                 board_id=board.id,
                                 placement="external_flash" if fit.model_region and fit.model_region.kind == "external_flash"
                                 else None)
    files[prefix + "model_data" + extension] = arrays["model_data.cc"]
    files[prefix + "model_data.h"] = arrays["model_data.h"]
    root = template_directory() / build_system
    for template in sorted(root.rglob("*.j2")):
        relative = template.relative_to(root).as_posix()[: -len(".j2")]
        if build_system == "arduino":
            relative = f"{project}/{project}.ino" if relative == "sketch.ino" else f"{project}/{relative}"
        text = render_template(f"{build_system}/{template.relative_to(root).as_posix()}", context,
                               output_name=relative)
        if text.strip():  # a template that renders empty does not apply to this board (e.g. ESP-only files)
            files[relative] = text
    return with_manifest(files, {
        "model_sha256": sha256, "board": board.id,
        "build_system": build_system, "encoding": encoding, "arena_bytes": context["arena"]["bytes"],
        "golden_count": context["golden_count"], "protocol_version": PROTOCOL_VERSION,
        "expected_output_crc32": [t["crc32"] for t in output_table],
        "inputs": [_manifest_entry(t) for t in input_table], "outputs": [_manifest_entry(t) for t in output_table],
        "ops": ops,
    })


def with_manifest(files: dict[str, str], fields: dict) -> dict[str, str]:
    """``files`` plus ``jsqat_project.json``: the tool marker, ``fields``, and every other
    file of the project with its SHA-256 (what ``--force`` may later replace)."""
    manifest = {"tool": TOOL_MARKER, "generator": f"jsqat-embed {__version__}", **fields,
                "files": {name: _sha256(text) for name, text in sorted(files.items()) if name != MANIFEST}}
    return {**files, MANIFEST: json.dumps(manifest, indent=2) + "\n"}


def with_model_file(files: dict[str, str], model_data: bytes) -> dict[str, str | bytes]:
    """``files`` plus the model the device runs (the encoded one when build compressed it)
    as ``model.tflite``, named and hashed in the manifest: the file serial-verify needs."""
    manifest = json.loads(files[MANIFEST])
    manifest["model_file"] = MODEL_FILE
    manifest["files"] = dict(sorted({**manifest["files"], MODEL_FILE: _sha256(model_data)}.items()))
    return {**files, MODEL_FILE: model_data, MANIFEST: json.dumps(manifest, indent=2) + "\n"}


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


def _encoding_summary(encoding: str, model: Model) -> str:
    decodes = sum(op.opcode == "TFLM_DECODE" for op in model.operators)
    return encoding if not decodes else f"{encoding}, {decodes} DECODE operators"


def _with_smaller_arena(data: bytes, board: BoardProfile, used: str) -> tuple[bytes, str]:
    """The model rewritten with a smaller arena for ``board`` (fast heuristics), or as it is."""
    from jsqat_embed.errors import UnsupportedModelError
    from jsqat_embed.memory.arena import DEFAULT_TFLM_VERSION, HOST, HOST_TFLM_VERSION
    from jsqat_embed.memory.optimize import optimize_memory, reordered
    from jsqat_embed.tflite.writer import write_model

    model = read_model(data)
    host = board.tflm_runtime == "python-wheel"
    try:
        plan = optimize_memory(model, HOST if host else board.target, board.kernel_library, recording_allocator=host,
                               tflm_version=HOST_TFLM_VERSION if host else DEFAULT_TFLM_VERSION, time_limit=5.0,
                               exact=False)
    except UnsupportedModelError:  # control flow, or a plan the file already carries: keep it
        return data, used
    if plan.arena.total >= plan.baseline.total:
        return data, used
    return write_model(reordered(model, plan.order, plan.offsets)), (
        f"{used}, offline memory plan (arena {plan.baseline.total:,} -> {plan.arena.total:,} B)")


def build_project(model_path: Path, board: BoardProfile, output: Path, *, build_system: str | None = None,
                  encoding: str = "auto", golden: int = 8, golden_images: Path | None = None, seed: int = 0,
                  force: bool = False, ignore_fit: bool = False, optimize_memory: bool = True) -> BuildResult:
    """Build a firmware project in ``output``.

    ``optimize_memory`` deploys the model with an operator order and offline memory plan that give
    this board a smaller arena, when the search finds one (``jsqat-embed optimize-memory``).

    ``force`` lets a project that jsqat-embed built in ``output`` before be
    replaced (only its generated files; see the module docstring);
    ``ignore_fit`` builds even when the model or the golden vectors do not fit.
    """
    output = Path(output)
    check_output_directory(output, force)
    system = choose_build_system(board, build_system)
    if golden_images is None and not 1 <= golden <= MAX_GOLDEN_CASES:
        raise InputDataError(f"--golden {golden}: choose 1 to {MAX_GOLDEN_CASES:,}")
    if not 0 <= seed < 1 << 63:
        raise InputDataError(f"--seed {seed}: choose 0 to 2**63-1")
    from jsqat_embed.tflite.reader import read_model_file
    from jsqat_embed.verify.support import require_quantized

    data = read_model_file(model_path)

    source_model = read_model(data)
    require_quantized(source_model, Path(model_path))
    if golden_images is not None:
        from jsqat_embed.verify.support import require_image_input

        require_image_input(source_model, "--golden-images")
    deployed, used = encode_model(data, board, encoding)
    if optimize_memory:
        deployed, used = _with_smaller_arena(deployed, board, used)
    model = read_model(deployed)
    fit = fit_board(model, board)
    if not fit.fits and optimize_memory and encoding == "auto" and used != "dense":
        # The arena may have been the blocker: the dense model with a smaller plan may fit where an
        # encoding (whose decoded tensors add to the arena) does not.
        dense, dense_used = _with_smaller_arena(data, board, "dense")
        dense_model = read_model(dense)
        dense_fit = fit_board(dense_model, board)
        if dense_fit.fits:
            deployed, used, model, fit = dense, dense_used, dense_model, dense_fit
    if not fit.fits and not ignore_fit:
        raise DoesNotFitError(f"{Path(model_path).name} ({used}) does not fit {board.id}: " + "; ".join(fit.reasons))
    if golden_images is None:
        case_bytes = sum(t.nbytes for t in model.inputs) + sum(t.nbytes for t in model.outputs)
        if golden * case_bytes > MAX_GOLDEN_BYTES:
            raise InputDataError(f"--golden {golden}: {golden * case_bytes:,} bytes of golden vectors; at most "
                                 f"{MAX_GOLDEN_BYTES:,} ({MAX_GOLDEN_BYTES // max(1, case_bytes):,} cases of this model)")
    inputs, outputs, source = golden_vectors(deployed, golden, golden_images, seed)
    cases = golden_case_count(inputs, model.inputs)
    golden_bytes = sum(a.nbytes for a in inputs) + sum(a.nbytes for a in outputs)
    if fit.flash_total + golden_bytes > fit.flash_capacity and not ignore_fit:
        per_case = golden_bytes // max(1, cases)
        room = max(0, (fit.flash_capacity - fit.flash_total) // max(1, per_case))
        raise DoesNotFitError(
            f"the {cases} golden vectors need {golden_bytes:,} bytes of flash and only "
            f"{max(0, fit.flash_capacity - fit.flash_total):,} are left on {board.id}; use --golden {room}"
            if room else f"no flash left on {board.id} for golden vectors ({per_case:,} bytes each)")
    files = with_model_file(render_project(deployed, board, system, fit, inputs, outputs, source,
                                           Path(model_path).stem, used), deployed)
    write_project(output, files, force=force)
    outputs_table = [_manifest_entry(_io(i, t)) | {"crc32": f"{crc:08x}"}
                     for (i, t), crc in zip(enumerate(model.outputs), output_crcs(outputs))]
    return BuildResult(output, system, used, fit, sorted(files), cases, output_crcs(outputs),
                       [_manifest_entry(_io(i, t)) for i, t in enumerate(model.inputs)], outputs_table,
                       _next_steps(system, board, output, c_identifier(Path(model_path).stem, suffix="") or "jsqat_app",
                                   (output / MODEL_FILE).absolute()))


# --- writing the project without losing anything -----------------------------------

def check_output_directory(output: Path, force: bool) -> str:
    """How ``output`` will be written: ``"new"`` (absent), ``"empty"`` (an empty
    directory) or ``"replace"`` (a project jsqat-embed built, with ``force``).
    Anything else is refused, nothing written."""
    try:
        info = os.lstat(output)
    except FileNotFoundError:
        return "new"
    except OSError as exc:
        raise OutputLocationError(f"cannot use {output}: {exc.strerror or exc} (nothing was written)") from exc
    if stat.S_ISLNK(info.st_mode):
        raise OutputLocationError(f"{output} is a symbolic link; give the project directory itself (nothing was written)")
    if not stat.S_ISDIR(info.st_mode):
        raise OutputLocationError(f"{output} exists and is not a directory; it is never replaced (nothing was written)")
    try:
        with os.scandir(output) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        raise OutputLocationError(f"cannot read {output}: {exc.strerror or exc} (nothing was written)") from exc
    if empty:
        return "empty"
    if not force:
        raise OutputLocationError(f"{output} exists and is not empty; pass --force to replace a project jsqat-embed "
                                  "built there (nothing was written)")
    _generated_files(output)
    return "replace"


def _generated_files(output: Path) -> dict[str, set[str]]:
    """From the manifest of a project jsqat-embed built: relative path -> the SHA-256s
    the file may have and still be ours (unchanged since it was generated)."""
    manifest_path = output / MANIFEST
    refuse = f"{output} is not empty and is not a project jsqat-embed built"
    try:
        info = os.lstat(manifest_path)
    except FileNotFoundError:
        raise OutputLocationError(f"{refuse} (no {MANIFEST}); --force only replaces such a project, so move your "
                                  "files or choose another directory (nothing was written)") from None
    except OSError as exc:
        raise OutputLocationError(f"{refuse}: cannot read {MANIFEST} ({exc.strerror or exc}); nothing was written") from exc
    if not stat.S_ISREG(info.st_mode) or info.st_size > 16 << 20:
        raise OutputLocationError(f"{refuse} ({MANIFEST} is not a regular file of at most 16 MiB); nothing was written")
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise OutputLocationError(f"{refuse} ({MANIFEST} is not readable JSON); nothing was written") from exc
    if not isinstance(manifest, dict) or manifest.get("tool") != TOOL_MARKER or not isinstance(manifest.get("files"), dict):
        raise OutputLocationError(f"{refuse} ({MANIFEST} has no jsqat-embed file list: made by another tool or an "
                                  "older version); move it away or choose another directory (nothing was written)")
    known: dict[str, set[str]] = {}
    for key in ("files", "replacing"):
        listed = manifest.get(key) or {}
        if not isinstance(listed, dict):
            continue
        for name, digests in listed.items():
            digests = [digests] if isinstance(digests, str) else digests
            if not isinstance(name, str) or not _safe_relative(name) or not isinstance(digests, list) \
                    or not all(isinstance(d, str) for d in digests):
                raise OutputLocationError(f"{refuse} ({MANIFEST} lists {name!r:.80}, not a file inside the project); "
                                          "nothing was written")
            known.setdefault(name, set()).update(digests)
    return known


def _safe_relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(p not in ("", ".", "..") for p in parts) and "\\" not in name \
        and "\0" not in name


def _file_digest(path: Path) -> str | None:
    """SHA-256 of a regular file, None when absent; refuses anything that is not a regular file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "a directory" if stat.S_ISDIR(info.st_mode) \
            else "not a regular file"
        raise OutputLocationError(f"{path} is {kind}; it is never replaced (nothing was written)")
    return _sha256(path.read_bytes())


def _check_parents(output: Path, name: str) -> None:
    """Every folder on the way to ``output/name`` is absent or a real directory (not a link or a file)."""
    current = output
    for part in name.split("/")[:-1]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(info.st_mode):
            raise OutputLocationError(f"{current} is {'a symbolic link' if stat.S_ISLNK(info.st_mode) else 'a file'} "
                                      f"where the project needs a folder; it is never replaced (nothing was written)")


def write_project(output: Path, files: dict[str, str], *, force: bool = False) -> None:
    """Write the project: renamed into place whole when ``output`` is absent or empty;
    with ``force``, into a project jsqat-embed built, replacing only its unchanged
    generated files. Nothing else is ever deleted or overwritten."""
    mode = check_output_directory(output, force)
    parent = output.absolute().parent
    staging = _staging_directory(parent, output.name)
    try:
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(text, bytes):  # the model file
                target.write_bytes(text)
            else:
                target.write_text(text)
        if mode == "replace":
            _replace_generated(output, staging, files)
        else:
            try:
                os.rename(staging, output)  # atomic; also over an empty directory
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise OutputLocationError(f"{output} changed while building (it is no longer absent or empty); "
                                              "nothing was replaced") from exc
                if mode != "empty":
                    raise
                _fill_empty(output, staging, files)  # a mount point or a folder we may not replace: fill it
    except OSError as exc:
        raise OutputLocationError(f"cannot write {output}: {exc.strerror or exc}") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _fill_empty(output: Path, staging: Path, files: dict[str, str]) -> None:
    """Copy the staged project into the empty directory ``output``, each file under a
    temporary name first, the manifest last (so a partial copy is never taken for a project)."""
    for name in sorted(files, key=lambda n: n == MANIFEST):
        target = output / name
        _check_parents(output, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(target):
            raise OutputLocationError(f"{output} changed while building ({name} appeared); nothing more was written")
        temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
        shutil.copyfile(staging / name, temporary)
        os.replace(temporary, target)


def _staging_directory(parent: Path, name: str) -> Path:
    """A new hidden directory beside the destination, created with the normal (umask) mode."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            candidate = parent / f".{name}.{secrets.token_hex(4)}"
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as exc:
        raise OutputLocationError(f"cannot create {parent / name}: {exc.strerror or exc}") from exc
    raise OutputLocationError(f"cannot create a staging directory in {parent}")


def _replace_generated(output: Path, staging: Path, files: dict[str, str]) -> None:
    known = _generated_files(output)
    new_digests = {name: _sha256(text) for name, text in files.items()}
    conflicts, edited = [], []
    for name in sorted((set(files) | set(known)) - {MANIFEST}):  # the manifest was checked: ours
        _check_parents(output, name)
        current = _file_digest(output / name)
        if current is None or current == new_digests.get(name):
            continue
        if name not in known:
            conflicts.append(name)
        elif current not in known[name]:
            edited.append(name)
    if conflicts:
        raise OutputLocationError(f"{output} has your own {', '.join(conflicts[:5])} where the project goes; move "
                                  f"{'it' if len(conflicts) == 1 else 'them'} away (nothing was written)")
    if edited:
        raise OutputLocationError(f"{', '.join(edited[:5])} in {output} changed since jsqat-embed generated "
                                  f"{'it' if len(edited) == 1 else 'them'}; move {'it' if len(edited) == 1 else 'them'} "
                                  "away to rebuild (nothing was written)")
    # The manifest first lists both generations, so an interrupted replacement can be forced again.
    manifest = json.loads(files[MANIFEST])
    manifest["replacing"] = {name: sorted(digests) for name, digests in known.items() if name != MANIFEST}
    interim = staging / (MANIFEST + ".interim")
    interim.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(interim, output / MANIFEST)
    for name in files:
        if name == MANIFEST:
            continue
        target = output / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, target)
    for name in sorted(set(known) - set(files)):  # generated last time, not this time, unchanged: ours to remove
        (output / name).unlink(missing_ok=True)
        folder = (output / name).parent
        while folder != output:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent
    os.replace(staging / MANIFEST, output / MANIFEST)
