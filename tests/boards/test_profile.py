"""Bundled board profiles load, cite sources and are consistent; bad board files fail clearly."""

from __future__ import annotations

import pytest

from jsqat_embed.boards import list_boards, load_board, load_board_file
from jsqat_embed.errors import BoardProfileError

REQUIRED_BOARDS = {
    "esp32s3-devkitc-n8r8", "esp32s3-devkitc-n16r8", "xiao-esp32s3-sense", "esp32-devkitc", "esp32-wrover",
    "esp32-c3-devkitm", "arduino-nano-33-ble-sense", "rpi-pico", "rpi-pico2", "stm32f746g-disco",
    "nucleo-h743zi2", "arduino-portenta-h7", "arduino-nicla-vision", "teensy-41", "sparkfun-edge", "host",
}


def test_all_required_boards_are_bundled():
    assert REQUIRED_BOARDS <= {b.id for b in list_boards()}


@pytest.mark.parametrize("board", sorted(REQUIRED_BOARDS))
def test_each_board_cites_sources_in_data_and_comments(board):
    profile = load_board(board)
    assert profile.sources and all(s.startswith("https://") for s in profile.sources)
    text = profile.path.read_text()
    assert "Sources:" in text.split("[board]")[0], "the header comment must say where the figures come from"
    assert profile.path.stem == profile.id


def test_external_memory_boards_have_their_regions():
    assert load_board("arduino-portenta-h7").regions_of("sdram")
    assert load_board("arduino-portenta-h7").regions_of("external_flash")
    assert not load_board("esp32-devkitc").regions_of("psram", "sdram")
    assert load_board("esp32-wrover").regions_of("psram")


GOOD = """\
# Sources: https://example.com/datasheet
[board]
id = "my-board"
name = "My board"
mcu = "X"
core = "Cortex-M4F"
pointer_bits = 32
clock_mhz = 64
kernel_library = "cmsis-nn"
build_systems = ["cmake"]
int8_macs_per_cycle = 0.5
sources = ["https://example.com/datasheet"]

[[regions]]
name = "flash"
kind = "flash"
size_bytes = 1048576
reserved_bytes = 0

[[regions]]
name = "ram"
kind = "sram"
size_bytes = 262144
reserved_bytes = 1024
"""


def test_a_user_board_file_loads(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    board = load_board_file(path)
    assert board.id == "my-board" and board.target == "arm32" and board.ram_bytes == 262144


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("clock_mhz = 64", "clock_mhz = 64\nclock_hz = 64000000"), "unknown key(s) clock_hz"),
    (lambda s: s.replace('mcu = "X"\n', ""), "missing required key 'mcu'"),
    (lambda s: s.replace("pointer_bits = 32", 'pointer_bits = "32"'), "pointer_bits must be int"),
    (lambda s: s.replace("pointer_bits = 32", "pointer_bits = 16"), "pointer_bits must be 32 or 64"),
    (lambda s: s.replace('kind = "sram"', 'kind = "dram"'), "kind 'dram' is not one of"),
    (lambda s: s.replace("reserved_bytes = 1024", "reserved_bytes = 999999"), "reserved_bytes 999999 must be between"),
    (lambda s: s.replace('kernel_library = "cmsis-nn"', 'kernel_library = "tvm"'), "kernel_library 'tvm'"),
    (lambda s: s.replace('sources = ["https://example.com/datasheet"]', "sources = []"), "sources must be a non-empty"),
    (lambda s: s.replace('kind = "flash"', 'kind = "sram"'), "no flash region"),
    (lambda s: s.replace("[board]", "[bord]"), "unknown top-level key(s) bord"),
    (lambda s: s.replace("size_bytes = 262144", "size_bytes = 262144 262144"), "not valid TOML"),
    (lambda s: s.replace('name = "ram"', 'name = "flash"'), "region names must be unique"),
    (lambda s: s.replace("int8_macs_per_cycle = 0.5", "int8_macs_per_cycle = 0"), "int8_macs_per_cycle must be positive"),
    (lambda s: s.replace('build_systems = ["cmake"]', 'build_systems = ["bazel"]'), "build_systems bazel not among"),
    (lambda s: s.replace("pointer_bits = 32", 'pointer_bits = 32\nabi = "x86_64"'), "abi 'x86_64' does not fit"),
    (lambda s: s.replace("pointer_bits = 32", 'pointer_bits = 32\nabi = "mips"'), "abi 'mips' does not fit"),
])
def test_bad_board_files_name_the_problem(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(edit(GOOD))
    with pytest.raises(BoardProfileError) as info:
        load_board_file(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("core, abi", [("Cortex-M4F", "arm32"), ("Xtensa LX7", "ilp32"), ("RISC-V RV32IMC", "ilp32")])
def test_struct_abi_follows_the_core_unless_given(tmp_path, core, abi):
    """Arm's bare-metal EABI packs enums short; Xtensa and RISC-V compilers keep them int-sized,
    which changes TFLM's builtin-params structs (tests/memory/test_arena_qemu.py checks arm32)."""
    path = tmp_path / "b.toml"
    path.write_text(GOOD.replace('core = "Cortex-M4F"', f'core = "{core}"'))
    assert load_board_file(path).target == abi
    path.write_text(GOOD.replace('core = "Cortex-M4F"', f'core = "{core}"\nabi = "ilp32"'))
    assert load_board_file(path).target == "ilp32"
    assert load_board("esp32s3").target == "ilp32" and load_board("nano33ble").target == "arm32"
    assert load_board("host").target == "x86_64"


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(BoardProfileError, match="not found"):
        load_board_file(tmp_path / "nope.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BoardProfileError, match="cannot read"):
        load_board_file(binary)


@pytest.mark.parametrize("spelling", ["esp32s3", "ESP32-S3", "esp32-s3", "esp32_s3", "Esp32S3",
                                      "ESP32S3_DEVKITC_N8R8", "esp32s3-devkitc-n8r8"])
def test_names_match_without_case_dashes_or_underscores(spelling):
    assert load_board(spelling).id == "esp32s3-devkitc-n8r8"


def test_a_wrong_name_suggests_the_closest_boards_not_a_wall_of_ids():
    with pytest.raises(BoardProfileError) as info:
        load_board("nano33")
    message = str(info.value)
    assert message.startswith("unknown board 'nano33'. Did you mean nano33ble (arduino-nano-33-ble-sense)?")
    assert "teensy" not in message and "`jsqat-embed boards` lists all" in message
    with pytest.raises(BoardProfileError, match="lists all") as info:
        load_board("quantum-computer")
    assert "Did you mean" not in str(info.value)


def test_aliases_name_a_bundled_board():
    assert load_board("esp32s3").id == "esp32s3-devkitc-n8r8"
    assert load_board("nano33ble").id == "arduino-nano-33-ble-sense"


def test_firmware_table_is_checked_too(tmp_path):
    path = tmp_path / "fw.toml"
    path.write_text(GOOD + '\n[firmware]\nidf_targt = "esp32"\n')
    with pytest.raises(BoardProfileError, match="unknown key.*idf_targt"):
        load_board_file(path)
