"""BoardProfile and its strict loader.

A board file is TOML with one ``[board]`` table and one ``[[regions]]`` entry per
memory region. Unknown keys are rejected (a typo must not silently become a
default), every value is type-checked, units are in key names, and each file
must cite its sources. Errors name the file and the key.
"""

from __future__ import annotations

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
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise BoardProfileError(f"{path}: board file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardProfileError(f"{path}: cannot read board file ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardProfileError(f"{path}: not valid TOML ({exc})") from exc
    return _parse(data, path)


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
        region = _check_table(raw, _REGION_KEYS, f"{where} [[regions]] {raw.get('name', i + 1)!s}")
        context = f"{where}: region {region['name']!r}"
        if region["kind"] not in REGION_KINDS:
            raise BoardProfileError(f"{context}: kind {region['kind']!r} is not one of {', '.join(REGION_KINDS)}")
        if region["size_bytes"] <= 0:
            raise BoardProfileError(f"{context}: size_bytes must be positive, got {region['size_bytes']}")
        if not 0 <= region["reserved_bytes"] <= region["size_bytes"]:
            raise BoardProfileError(
                f"{context}: reserved_bytes {region['reserved_bytes']} must be between 0 and size_bytes {region['size_bytes']}")
        if "origin" in region and not 0 <= region["origin"] < 1 << 64:
            raise BoardProfileError(f"{context}: origin {region['origin']} is not an address")
        regions.append(MemoryRegion(region["name"], region["kind"], region["size_bytes"], region["reserved_bytes"],
                                    region.get("note", ""), region.get("origin")))
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise BoardProfileError(f"{where}: region names must be unique, got {', '.join(names)}")
    if not any(r.is_flash for r in regions):
        raise BoardProfileError(f"{where}: no flash region (kind flash or external_flash)")
    if not any(r.kind in RAM_KINDS for r in regions):
        raise BoardProfileError(f"{where}: no RAM region (kind sram, psram or sdram)")
    if board["pointer_bits"] not in (32, 64):
        raise BoardProfileError(f"{where}: pointer_bits must be 32 or 64, got {board['pointer_bits']}")
    abi = board.get("abi") or default_abi(board["pointer_bits"], board["core"])
    if ABIS.get(abi) != board["pointer_bits"]:
        allowed = ", ".join(name for name, bits in ABIS.items() if bits == board["pointer_bits"])
        raise BoardProfileError(f"{where}: abi {abi!r} does not fit pointer_bits {board['pointer_bits']}; use {allowed}")
    if board["kernel_library"] not in KERNEL_LIBRARIES:
        raise BoardProfileError(
            f"{where}: kernel_library {board['kernel_library']!r} is not one of {', '.join(KERNEL_LIBRARIES)}")
    runtime = board.get("tflm_runtime", "firmware")
    if runtime not in RUNTIMES:
        raise BoardProfileError(f"{where}: tflm_runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    for key in ("clock_mhz", "int8_macs_per_cycle"):
        if not board[key] > 0:
            raise BoardProfileError(f"{where}: {key} must be positive, got {board[key]}")
    for key in ("build_systems", "sources"):
        if not board[key] or not all(isinstance(item, str) and item for item in board[key]):
            raise BoardProfileError(f"{where}: {key} must be a non-empty list of strings")
    unknown_systems = [b for b in board["build_systems"] if b not in BUILD_SYSTEMS]
    if unknown_systems:
        raise BoardProfileError(
            f"{where}: build_systems {', '.join(unknown_systems)} not among {', '.join(BUILD_SYSTEMS)}")
    aliases = board.get("aliases", [])
    if not all(isinstance(a, str) and a for a in aliases):
        raise BoardProfileError(f"{where}: aliases must be a list of names")
    if not board["id"].replace("-", "").replace("_", "").isalnum():
        raise BoardProfileError(f"{where}: id {board['id']!r} may only hold letters, digits, '-' and '_'")
    return BoardProfile(
        id=board["id"], name=board["name"], mcu=board["mcu"], core=board["core"],
        pointer_bits=board["pointer_bits"], clock_mhz=float(board["clock_mhz"]),
        kernel_library=board["kernel_library"], build_systems=tuple(board["build_systems"]),
        int8_macs_per_cycle=float(board["int8_macs_per_cycle"]), sources=tuple(board["sources"]),
        regions=tuple(regions), tflm_runtime=runtime, path=path, aliases=tuple(aliases), firmware=dict(firmware),
        abi=abi,
    )


def default_abi(pointer_bits: int, core: str) -> str:
    """64-bit: the host wheel's layout; Xtensa and RISC-V compilers use int-sized
    enums (ilp32); Arm's bare-metal EABI uses short enums (arm32)."""
    if pointer_bits == 64:
        return "x86_64"
    lowered = core.lower()
    return "ilp32" if "xtensa" in lowered or "risc-v" in lowered or "riscv" in lowered else "arm32"


def _check_table(table: dict, schema: dict, context: str) -> dict:
    unknown = set(table) - set(schema)
    if unknown:
        raise BoardProfileError(f"{context}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(schema)}")
    for key, (kind, required) in schema.items():
        if key not in table:
            if required:
                raise BoardProfileError(f"{context}: missing required key {key!r}")
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise BoardProfileError(f"{context}: {key} must be {expected}, got {type(value).__name__} {value!r}")
    return table
