"""BoardProfile and its strict loader.

A board file is TOML with one ``[board]`` table and one ``[[regions]]`` entry per
memory region. Unknown keys are rejected (a typo must not silently become a
default), every value is type-checked, units are in key names, and each file
must cite its sources. Errors name the file and the key.

Board files are shared between teams and downloaded: they are untrusted input.
Fields that name things for a downstream tool (ids, region names, IDF targets,
PlatformIO/pico-sdk/Zephyr boards, Arduino libraries and headers, compiler
flags) must match a strict pattern; free text (names, notes, sources) must be
printable and short; sizes are capped and numbers finite. The firmware
renderer escapes every value for its target language as well
(:mod:`jsqat_embed.firmware.render`), so neither check alone stands between a
board file and the generated code.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from jsqat_embed.errors import BoardProfileError
from jsqat_embed.memory.kernel_memory import KERNEL_LIBRARIES

REGION_KINDS = ("flash", "external_flash", "sram", "psram", "sdram")
FLASH_KINDS = ("flash", "external_flash")
RAM_KINDS = ("sram", "psram", "sdram")
RUNTIMES = ("firmware", "python-wheel")
BUILD_SYSTEMS = ("esp-idf", "arduino", "platformio", "zephyr", "cmake", "pico-sdk", "python")

#: A board file larger than this is refused before it is parsed.
MAX_BOARD_FILE_BYTES = 1 << 20
#: Region sizes: 1 TiB at most (and no more than the pointer width addresses).
MAX_REGION_BYTES = 1 << 40
#: clock_mhz must lie in this range (the Cortex-M timer divides by the MHz).
CLOCK_MHZ_RANGE = (1.0, 10_000.0)
MAX_MACS_PER_CYCLE = 4096.0
MAX_TEXT_CHARS = {"name": 100, "mcu": 100, "core": 100, "note": 300, "sources": 500}
MAX_LIST_ITEMS = 32

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_REGION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_CPU_FLAG = re.compile(r"-m[a-z0-9][a-z0-9_.+-]*(=[a-z0-9][a-z0-9_.+-]*)?")
#: [firmware] key -> (pattern, what it is): each value goes to another tool verbatim.
FIRMWARE_PATTERNS = {
    "idf_target": (re.compile(r"esp32[a-z0-9]{0,8}"), "an ESP-IDF target such as esp32s3"),
    "platformio_platform": (re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}"), "a PlatformIO platform such as espressif32"),
    "platformio_board": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"), "a PlatformIO board id such as nano33ble"),
    "platformio_framework": (re.compile(r"[a-z0-9][a-z0-9_-]{0,31}"), "a PlatformIO framework such as arduino"),
    "arduino_library": (re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]| (?! )){0,62}[A-Za-z0-9_.-]"),
                        "an Arduino library name (letters, digits, '_', '.', '-', single spaces)"),
    "arduino_header": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:/[A-Za-z0-9_][A-Za-z0-9_-]*)*\.(?:h|hh|hpp)"),
                       "a header file name such as Chirale_TensorFlowLite.h"),
    "arduino_fqbn": (re.compile(r"[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.=,-]+)?"),
                     "an arduino-cli FQBN such as arduino:mbed_nano:nano33ble"),
    "pico_board": (re.compile(r"[a-z0-9_]{1,64}"), "a pico-sdk board such as pico2"),
    "zephyr_board": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./@-]{0,127}"), "a Zephyr board such as nrf52840dk/nrf52840"),
    "cpu_flags": (None, "compiler flags such as -mcpu=cortex-m4 -mthumb"),
}

_BOARD_KEYS = {
    # key: (type, required)
    "id": (str, True),
    "name": (str, True),
    "mcu": (str, True),
    "core": (str, True),
    "pointer_bits": (int, True),
    "clock_mhz": ((int, float), True),
    "kernel_library": (str, True),
    "build_systems": (list, True),
    "int8_macs_per_cycle": ((int, float), True),
    "sources": (list, True),
    "tflm_runtime": (str, False),
    "aliases": (list, False),
    "abi": (str, False),
    "latency_profile": (str, False),
}
# Struct-layout ABIs of jsqat_embed.memory.tflm_structs; a board without "abi" gets
# one from pointer_bits and core (see default_abi).
ABIS = {"x86_64": 64, "arm32": 32, "ilp32": 32}
_REGION_KEYS = {
    "name": (str, True),
    "kind": (str, True),
    "size_bytes": (int, True),
    "reserved_bytes": (int, True),
    "note": (str, False),
    "origin": (int, False),
}
# Facts the firmware templates need, each used by one build system.
_FIRMWARE_KEYS = {
    "idf_target": (str, False),
    "platformio_platform": (str, False),
    "platformio_board": (str, False),
    "platformio_framework": (str, False),
    "arduino_library": (str, False),
    "arduino_header": (str, False),
    "arduino_fqbn": (str, False),
    "pico_board": (str, False),
    "cpu_flags": (str, False),
    "zephyr_board": (str, False),
}


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    kind: str
    size_bytes: int
    reserved_bytes: int
    note: str = ""
    origin: int | None = None

    @property
    def available_bytes(self) -> int:
        return self.size_bytes - self.reserved_bytes

    @property
    def is_flash(self) -> bool:
        return self.kind in FLASH_KINDS

    @property
    def is_external(self) -> bool:
        return self.kind in ("external_flash", "psram", "sdram")


@dataclass(frozen=True)
class BoardProfile:
    id: str
    name: str
    mcu: str
    core: str
    pointer_bits: int
    clock_mhz: float
    kernel_library: str
    build_systems: tuple[str, ...]
    int8_macs_per_cycle: float
    sources: tuple[str, ...]
    regions: tuple[MemoryRegion, ...]
    tflm_runtime: str = "firmware"
    path: Path | None = None
    aliases: tuple[str, ...] = ()
    firmware: dict | None = None
    abi: str = "arm32"
    latency_profile: str | None = None  # a profile of boards/latency/cycle_models.toml, or "board"

    @property
    def target(self) -> str:
        """The struct-size table of :mod:`jsqat_embed.memory.tflm_structs` for this board."""
        return self.abi

    def regions_of(self, *kinds: str) -> list[MemoryRegion]:
        return [r for r in self.regions if r.kind in kinds]

    @property
    def flash_bytes(self) -> int:
        return sum(r.size_bytes for r in self.regions if r.is_flash)

    @property
    def ram_bytes(self) -> int:
        return sum(r.size_bytes for r in self.regions if not r.is_flash)


def board_directory() -> Path:
    """The bundled boards: ``jsqat_embed/data/boards`` in a wheel, top-level ``boards/`` in a checkout."""
    packaged = Path(__file__).resolve().parents[1] / "data" / "boards"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "boards"


def list_boards() -> list[BoardProfile]:
    directory = board_directory()
    if not directory.is_dir():
        raise BoardProfileError(f"board directory {directory} is missing: the installation is incomplete")
    return sorted((load_board_file(path) for path in directory.glob("*.toml")), key=lambda b: b.id)


def _normalized(name: str) -> str:
    """Board names compare without case, dashes, underscores, dots or spaces: ESP32-S3 == esp32s3."""
    return "".join(c for c in name.lower() if c.isalnum())


def load_board(name: str) -> BoardProfile:
    """A bundled board by id or alias, matched case-, dash- and underscore-insensitively.

    A wrong name gets the closest ids and aliases as suggestions.
    """
    import difflib

    if len(name) > 200 or not name.isprintable():
        raise BoardProfileError(f"unknown board {_shown(name)}; `jsqat-embed boards` lists the bundled boards "
                                "(or pass --board-file PATH)")
    path = board_directory() / f"{name}.toml"
    if "/" not in name and "\\" not in name and path.is_file():
        return load_board_file(path)
    boards = list_boards()
    wanted = _normalized(name)
    names: dict[str, BoardProfile] = {}
    for board in boards:
        for candidate in (board.id, *board.aliases):
            names.setdefault(_normalized(candidate), board)
    if wanted in names:
        return names[wanted]
    spelled = {(_normalized(c)): c for b in boards for c in (b.id, *b.aliases)}
    close = difflib.get_close_matches(wanted, list(spelled), n=4, cutoff=0.5)
    close += [key for key in spelled if wanted and (wanted in key or key in wanted) and key not in close]
    suggestions, suggested = [], set()
    for key in close:
        board = names[key]
        if board.id in suggested or len(suggestions) == 4:
            continue
        suggested.add(board.id)
        suggestions.append(spelled[key] if spelled[key] == board.id else f"{spelled[key]} ({board.id})")
    hint = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
    raise BoardProfileError(f"unknown board {name!r}.{hint} `jsqat-embed boards` lists all {len(boards)} "
                            f"(or pass --board-file PATH)")


def load_board_file(path: str | Path) -> BoardProfile:
    """Load and validate one board file; only a regular file of at most 1 MiB is opened."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise BoardProfileError(f"{path}: not a regular file")
        if info.st_size > MAX_BOARD_FILE_BYTES:
            raise BoardProfileError(f"{path}: {info.st_size:,} bytes; a board file has at most "
                                    f"{MAX_BOARD_FILE_BYTES:,}")
        with open(path, "rb", opener=_nonblocking) as handle:
            raw = handle.read(MAX_BOARD_FILE_BYTES + 1)
        if len(raw) > MAX_BOARD_FILE_BYTES:
            raise BoardProfileError(f"{path}: more than {MAX_BOARD_FILE_BYTES:,} bytes; not a board file")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise BoardProfileError(f"{path}: board file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardProfileError(f"{path}: cannot read board file ({_one_line(exc)})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardProfileError(f"{path}: not valid TOML ({_one_line(exc)})") from exc
    except RecursionError:
        raise BoardProfileError(f"{path}: not valid TOML (nested too deeply)") from None
    return _parse(data, path)


def _nonblocking(path, flags):
    # O_NONBLOCK: a FIFO swapped in after the stat() check cannot hang the open
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _one_line(value) -> str:
    return " ".join(str(value).split())


def _named(value: str) -> str:
    """A name from the file as is when it is short, printable text; else :func:`_shown`."""
    return value if value.isprintable() and 0 < len(value) <= 40 else _shown(value, 40)


def _shown(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: hostile values stay one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse(data: dict, path: Path) -> BoardProfile:
    where = str(path)
    unknown = set(data) - {"board", "regions", "firmware"}
    if unknown:
        raise BoardProfileError(
            f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))}; expected [board], [[regions]], [firmware]")
    firmware = data.get("firmware", {})
    if not isinstance(firmware, dict):
        raise BoardProfileError(f"{where}: [firmware] must be a table")
    _check_table(firmware, _FIRMWARE_KEYS, f"{where} [firmware]")
    if not isinstance(data.get("board"), dict):
        raise BoardProfileError(f"{where}: missing [board] table")
    board = _check_table(data["board"], _BOARD_KEYS, f"{where} [board]")
    regions_raw = data.get("regions")
    if not isinstance(regions_raw, list) or not regions_raw:
        raise BoardProfileError(f"{where}: at least one [[regions]] entry is required")
    regions = []
    for i, raw in enumerate(regions_raw):
        if not isinstance(raw, dict):
            raise BoardProfileError(f"{where}: [[regions]] entry {i + 1} is not a table")
        region = _check_table(raw, _REGION_KEYS, f"{where} [[regions]] {_shown(raw.get('name', i + 1))}")
        context = f"{where}: region {_shown(region['name'])}"
        if not _REGION_NAME.fullmatch(region["name"]):
            raise BoardProfileError(f"{context}: a region name is a letter, then up to 31 letters, digits, "
                                    "'-' or '_' (it becomes a linker-script symbol)")
        if region["kind"] not in REGION_KINDS:
            raise BoardProfileError(f"{context}: kind {_shown(region['kind'])} is not one of {', '.join(REGION_KINDS)}")
        if region["size_bytes"] <= 0:
            raise BoardProfileError(f"{context}: size_bytes must be positive, got {region['size_bytes']}")
        if region["size_bytes"] > MAX_REGION_BYTES:
            raise BoardProfileError(
                f"{context}: size_bytes {region['size_bytes']} is more than {MAX_REGION_BYTES} (1 TiB)")
        if not 0 <= region["reserved_bytes"] <= region["size_bytes"]:
            raise BoardProfileError(
                f"{context}: reserved_bytes {region['reserved_bytes']} must be between 0 and size_bytes {region['size_bytes']}")
        if "origin" in region and not 0 <= region["origin"] < 1 << 64:
            raise BoardProfileError(f"{context}: origin {region['origin']} is not an address")
        if "note" in region:
            _check_text(region["note"], "note", context)
        regions.append(MemoryRegion(region["name"], region["kind"], region["size_bytes"], region["reserved_bytes"],
                                    region.get("note", ""), region.get("origin")))
    if len(regions) > MAX_LIST_ITEMS:
        raise BoardProfileError(f"{where}: {len(regions)} regions; at most {MAX_LIST_ITEMS}")
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise BoardProfileError(f"{where}: region names must be unique, got {', '.join(names)}")
    symbols = [n.replace("-", "_").upper() for n in names]
    if len(set(symbols)) != len(symbols):
        raise BoardProfileError(f"{where}: region names must differ in more than case and '-'/'_' "
                                f"(they become linker symbols {', '.join(symbols)})")
    if not any(r.is_flash for r in regions):
        raise BoardProfileError(f"{where}: no flash region (kind flash or external_flash)")
    if not any(r.kind in RAM_KINDS for r in regions):
        raise BoardProfileError(f"{where}: no RAM region (kind sram, psram or sdram)")
    if board["pointer_bits"] not in (32, 64):
        raise BoardProfileError(f"{where}: pointer_bits must be 32 or 64, got {board['pointer_bits']}")
    address_space = 1 << board["pointer_bits"]
    for region in regions:
        if region.size_bytes > address_space or (region.origin or 0) + region.size_bytes > address_space:
            raise BoardProfileError(f"{where}: region {region.name!r} does not fit a {board['pointer_bits']}-bit "
                                    "address space")
    abi = board.get("abi") or default_abi(board["pointer_bits"], board["core"])
    if ABIS.get(abi) != board["pointer_bits"]:
        allowed = ", ".join(name for name, bits in ABIS.items() if bits == board["pointer_bits"])
        raise BoardProfileError(f"{where}: abi {_shown(abi)} does not fit pointer_bits {board['pointer_bits']}; use {allowed}")
    if board["kernel_library"] not in KERNEL_LIBRARIES:
        raise BoardProfileError(
            f"{where}: kernel_library {_shown(board['kernel_library'])} is not one of {', '.join(KERNEL_LIBRARIES)}")
    runtime = board.get("tflm_runtime", "firmware")
    if runtime not in RUNTIMES:
        raise BoardProfileError(f"{where}: tflm_runtime {_shown(runtime)} is not one of {', '.join(RUNTIMES)}")
    for key in ("clock_mhz", "int8_macs_per_cycle"):
        if not math.isfinite(board[key]):
            raise BoardProfileError(f"{where}: {key} must be a finite number, got {board[key]}")
        if not board[key] > 0:
            raise BoardProfileError(f"{where}: {key} must be positive, got {board[key]}")
    low, high = CLOCK_MHZ_RANGE
    if not low <= board["clock_mhz"] <= high:
        raise BoardProfileError(f"{where}: clock_mhz must be between {low:g} and {high:g}, got {board['clock_mhz']}")
    if board["int8_macs_per_cycle"] > MAX_MACS_PER_CYCLE:
        raise BoardProfileError(f"{where}: int8_macs_per_cycle must be at most {MAX_MACS_PER_CYCLE:g}, "
                                f"got {board['int8_macs_per_cycle']}")
    for key in ("build_systems", "sources"):
        if not board[key] or not all(isinstance(item, str) and item for item in board[key]):
            raise BoardProfileError(f"{where}: {key} must be a non-empty list of strings")
        if len(board[key]) > MAX_LIST_ITEMS:
            raise BoardProfileError(f"{where}: {key} has {len(board[key])} entries; at most {MAX_LIST_ITEMS}")
    for source in board["sources"]:
        _check_text(source, "sources", f"{where}: [board]")
    for key in ("name", "mcu", "core"):
        _check_text(board[key], key, f"{where}: [board]")
    unknown_systems = [b for b in board["build_systems"] if b not in BUILD_SYSTEMS]
    if unknown_systems:
        raise BoardProfileError(
            f"{where}: build_systems {', '.join(_named(b) for b in unknown_systems[:5])} not among {', '.join(BUILD_SYSTEMS)}")
    aliases = board.get("aliases", [])
    if not all(isinstance(a, str) and a for a in aliases) or len(aliases) > MAX_LIST_ITEMS:
        raise BoardProfileError(f"{where}: aliases must be a list of at most {MAX_LIST_ITEMS} names")
    for key, value in (("id", board["id"]), *(("aliases", a) for a in aliases)):
        if not _ID.fullmatch(value):
            raise BoardProfileError(f"{where}: {key} {_shown(value)} must be a letter or digit, then up to 63 "
                                    "letters, digits, '-' and '_'")
    for key, value in firmware.items():
        _check_firmware_value(key, value, f"{where}: [firmware]")
    if "latency_profile" in board:
        from jsqat_embed.memory.latency import profile_names

        if board["latency_profile"] not in profile_names():
            raise BoardProfileError(f"{where}: latency_profile {_shown(board['latency_profile'])} is not one of "
                                    f"{', '.join(profile_names())}")
    return BoardProfile(
        id=board["id"], name=board["name"], mcu=board["mcu"], core=board["core"],
        pointer_bits=board["pointer_bits"], clock_mhz=float(board["clock_mhz"]),
        kernel_library=board["kernel_library"], build_systems=tuple(board["build_systems"]),
        int8_macs_per_cycle=float(board["int8_macs_per_cycle"]), sources=tuple(board["sources"]),
        regions=tuple(regions), tflm_runtime=runtime, path=path, aliases=tuple(aliases), firmware=dict(firmware),
        abi=abi, latency_profile=board.get("latency_profile"),
    )


def default_abi(pointer_bits: int, core: str) -> str:
    """64-bit: the host wheel's layout; Xtensa and RISC-V compilers use int-sized
    enums (ilp32); Arm's bare-metal EABI uses short enums (arm32)."""
    if pointer_bits == 64:
        return "x86_64"
    lowered = core.lower()
    return "ilp32" if "xtensa" in lowered or "risc-v" in lowered or "riscv" in lowered else "arm32"


def _check_text(value: str, key: str, context: str) -> None:
    """Free text: printable (no newline, tab or escape), at most MAX_TEXT_CHARS[key] characters."""
    limit = MAX_TEXT_CHARS[key]
    if not value.isprintable():
        raise BoardProfileError(f"{context} {key} {_shown(value)} holds a control character (newline, tab, escape...)")
    if len(value) > limit:
        raise BoardProfileError(f"{context} {key} is {len(value)} characters long; at most {limit}")


def _check_firmware_value(key: str, value: str, context: str) -> None:
    pattern, what = FIRMWARE_PATTERNS[key]
    if key == "cpu_flags":
        flags = value.split(" ")
        if not 0 < len(flags) <= 16 or not all(_CPU_FLAG.fullmatch(flag) for flag in flags):
            raise BoardProfileError(f"{context} cpu_flags {_shown(value)} must be {what}: -m options "
                                    "separated by single spaces")
        if not any(flag.startswith("-mcpu=") for flag in flags):
            raise BoardProfileError(f"{context} cpu_flags {_shown(value)} must name the CPU with -mcpu=")
        return
    if not pattern.fullmatch(value):
        raise BoardProfileError(f"{context} {key} {_shown(value)} must be {what}")


def _check_table(table: dict, schema: dict, context: str) -> dict:
    unknown = set(table) - set(schema)
    if unknown:
        names = ", ".join(_named(k) for k in sorted(unknown)[:5])
        raise BoardProfileError(f"{context}: unknown key(s) {names}; allowed: {', '.join(schema)}")
    for key, (kind, required) in schema.items():
        if key not in table:
            if required:
                raise BoardProfileError(f"{context}: missing required key {key!r}")
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise BoardProfileError(f"{context}: {key} must be {expected}, got {type(value).__name__} {_shown(value)}")
    return table
