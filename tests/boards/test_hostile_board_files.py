"""Board files are untrusted input: every injection and overflow of the reliability
campaign (issue 14) is refused by the loader with one line naming the file and the key,
and a property-based fuzz over board files finds nothing but a profile or that error.

The renderer does not rely on these checks alone: tests/firmware/test_escaping.py feeds
the same values to it directly. The long fuzz run: JSQAT_FUZZ_EXAMPLES=50000 (50,000
per fuzz test; see docs/firmware.md)."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from jsqat_embed.boards import load_board_file
from jsqat_embed.boards.profile import MAX_BOARD_FILE_BYTES
from jsqat_embed.cli.main import create_app
from jsqat_embed.errors import BoardProfileError, JsqatError
from tests.boards.test_profile import GOOD

FIRMWARE = GOOD + '\n[firmware]\ncpu_flags = "-mcpu=cortex-m4 -mthumb"\n'
GOOD_DOCUMENT = tomllib.loads(GOOD)
FUZZ_EXAMPLES = int(os.environ.get("JSQAT_FUZZ_EXAMPLES", "200"))


def _load(tmp_path: Path, text: str):
    path = tmp_path / "board.toml"
    path.write_text(text)
    return load_board_file(path)


def _refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(BoardProfileError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert str(tmp_path / "board.toml") in message
    return message


def _firmware(key: str, value: str) -> str:
    return GOOD + f"\n[firmware]\n{key} = {json.dumps(value)}\n"


# --- the campaign's reproductions -----------------------------------------------------------

CMAKE_INJECTION = '-mcpu=cortex-m4")\nexecute_process(COMMAND touch X)\nset(Y "'


@pytest.mark.parametrize("text, key", [
    (_firmware("cpu_flags", CMAKE_INJECTION), "cpu_flags"),
    (_firmware("pico_board", "pico\nexecute_process(COMMAND touch X)"), "pico_board"),
    (GOOD.replace('name = "My board"', 'name = "x\\n#error injected"'), "name"),
    (GOOD.replace('name = "ram"', 'name = "ram */ INJECTED (rwx) : ORIGIN = 0, LENGTH = 1 /* "'), "region"),
    (GOOD.replace('name = "ram"', 'name = "ram) INJECTED ("'), "region"),
    (_firmware("idf_target", 'esp32s3"\nCONFIG_INJECTED=y\n#'), "idf_target"),
    (_firmware("platformio_board", "nano33ble\nextra_scripts = pre:evil.py"), "platformio_board"),
    (_firmware("arduino_header", "Chirale.h>\n#include <evil.h"), "arduino_header"),
    (_firmware("arduino_library", "Chirale\nvoid injected() {}"), "arduino_library"),
    (_firmware("zephyr_board", "nrf52840dk; rm -rf ~"), "zephyr_board"),
    (GOOD.replace("size_bytes = 1048576", f"size_bytes = {2 ** 63 - 1}"), "size_bytes"),
    (GOOD.replace("clock_mhz = 64", "clock_mhz = inf"), "clock_mhz"),
    (GOOD.replace("clock_mhz = 64", "clock_mhz = nan"), "clock_mhz"),
    (GOOD.replace("clock_mhz = 64", "clock_mhz = 0.001"), "clock_mhz"),
    (GOOD.replace("int8_macs_per_cycle = 0.5", "int8_macs_per_cycle = inf"), "int8_macs_per_cycle"),
    (_firmware("cpu_flags", "-mthumb"), "cpu_flags"),
    (_firmware("cpu_flags", "-mcpu=cortex-m4 -DEVIL=1"), "cpu_flags"),
    (GOOD.replace('id = "my-board"', 'id = "my board\\u001b[2J"'), "id"),
    (GOOD.replace('id = "my-board"', 'id = "my-board"\naliases = ["ok", "bad alias"]'), "aliases"),
    (GOOD.replace('name = "ram"', 'name = "Flash"'), "region names must differ"),
    (GOOD.replace("size_bytes = 262144", f"size_bytes = {2 ** 32 + 1}"), "32-bit address space"),
    (GOOD.replace("reserved_bytes = 0", 'reserved_bytes = 0\nnote = "tab\\there"', 1), "note"),
])
def test_each_campaign_injection_is_refused_naming_the_key(tmp_path, text, key):
    assert key in _refused(tmp_path, text)


def test_hostile_bytes_and_shapes_of_file_are_refused(tmp_path):
    assert "not valid TOML (nested too deeply)" in _refused(tmp_path, "a = " + "[" * 100_000)
    big = tmp_path / "board.toml"
    big.write_bytes(b"#" * (MAX_BOARD_FILE_BYTES + 1))
    with pytest.raises(BoardProfileError, match="a board file has at most"):
        load_board_file(big)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(BoardProfileError, match="not a regular file"):
        load_board_file(fifo)  # would block forever if it were opened
    with pytest.raises(BoardProfileError, match="not a regular file"):
        load_board_file("/dev/zero")  # would never end
    long_value = _firmware("pico_board", "x" * 100_000)
    assert len(_refused(tmp_path, long_value)) < 400


def test_a_first_flag_without_equals_and_odd_flash_sizes_build(tmp_path):
    """cpu_flags whose first flag is not -mcpu= (was an IndexError); a 3 MB flash gets
    ESP-IDF's 2MB option (was CONFIG_ESPTOOLPY_FLASHSIZE_3MB, which does not exist)."""
    from jsqat_embed.firmware.project import cmake_arch, esp_flash_size_mb

    board = _load(tmp_path, _firmware("cpu_flags", "-mthumb -mfloat-abi=hard -mcpu=cortex-m55"))
    assert cmake_arch(board.firmware["cpu_flags"]) == "cortex-m55"
    board = _load(tmp_path, GOOD.replace("size_bytes = 1048576", f"size_bytes = {3 << 20}"))
    assert esp_flash_size_mb(board) == 2


def test_build_with_a_hostile_board_file_is_one_line_exit_2_and_writes_nothing(tmp_path):
    from jsqat_embed.training.zoo import zoo_model

    board = tmp_path / "evil.toml"
    board.write_text(_firmware("cpu_flags", CMAKE_INJECTION))
    out = tmp_path / "fw"
    for command in (["build", str(zoo_model("resnet_style", size=32)), "-b", "x", "--board-file", str(board),
                     "-o", str(out)],
                    ["fit-check", str(zoo_model("resnet_style", size=32)), "--board-file", str(board)],
                    ["optimize-memory", str(zoo_model("resnet_style", size=32)), "--board-file", str(board),
                     "-o", str(tmp_path / "o.tflite")]):
        result = CliRunner().invoke(create_app(), command)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and result.output.startswith(f"error: {board}: [firmware] cpu_flags")
    assert not out.exists() and not (tmp_path / "o.tflite").exists()


def test_printed_commands_quote_paths_and_board_values(tmp_path):
    from jsqat_embed.boards import load_board
    from jsqat_embed.firmware.project import _next_steps

    out = tmp_path / "my fw; rm -rf ~"
    for board_id, system in (("esp32s3", "esp-idf"), ("nano33ble", "zephyr"), ("pico", "pico-sdk"),
                             ("nano33ble", "arduino")):
        steps = _next_steps(system, load_board(board_id), out, "model", Path("m $(x).tflite"))
        words = [shlex.split(step) for step in steps]
        assert not any(w in ("rm", "-rf", "~", "$(x).tflite") for line in words for w in line), steps
        assert any(str(out) in line or str(out / "model") in line for line in words), steps
        assert any("m $(x).tflite" in line for line in words), steps


# --- property-based fuzz --------------------------------------------------------------------

def _toml_string(text: str) -> str:
    """A TOML basic string holding exactly ``text`` (control characters as \\u escapes)."""
    escaped = "".join("\\" + c if c in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c
                      for c in text)
    return f'"{escaped}"'


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml(document: dict) -> str:
    lines = []
    for table, body in document.items():
        if isinstance(body, list):
            for entry in body:
                lines.append(f"[[{table}]]")
                lines += [f"{_toml_string(k)} = {_toml_value(v)}" for k, v in entry.items()]
        else:
            lines.append(f"[{table}]")
            lines += [f"{_toml_string(k)} = {_toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


_TEXT = st.characters(exclude_categories=("Cs",))  # TOML cannot hold a lone surrogate
_SCALARS = st.one_of(
    st.text(_TEXT, max_size=40), st.sampled_from(["", "\n", "*/", '")', "${X}", "\x1b[2J", "a" * 300, "-mcpu=x", "esp32",
                                           "Flash", "ram", "cmake", "arduino", "cmsis-nn", "sram", "flash"]),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.sampled_from([0, 1, 32, 64, 2 ** 32, 2 ** 63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=4),
                    st.dictionaries(st.text(_TEXT, max_size=8), _SCALARS, max_size=3))
_FIRMWARE_KEYS = ["idf_target", "platformio_platform", "platformio_board", "platformio_framework", "arduino_library",
                  "arduino_header", "pico_board", "cpu_flags", "zephyr_board"]


_HOSTILE_CHARS = st.one_of(_TEXT, st.sampled_from(list('\n\r"\\*/()$;#[]{}<>@%=\x00\x1b \t\u2028')))


def _near(value, mode: str):
    """A value close to ``value`` (``insert``: one character inserted; ``plausible``: a
    name-like string or a number from 0 past every cap) or, for ``any``, anything."""
    if mode == "insert" and isinstance(value, str):
        return st.builds(lambda at, char: value[:at] + char + value[at:], st.integers(0, len(value)), _HOSTILE_CHARS)
    if mode != "any" and isinstance(value, str):
        return st.text(alphabet="abcxyz019-_./ =", min_size=1, max_size=20)
    if mode != "any" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return st.one_of(st.integers(0, 2 ** 42), st.floats(0, 1e5), st.floats())
    return _VALUES


@st.composite
def board_documents(draw):
    """The GOOD board (with a [firmware] table) with one to three keys set to values near
    their own or to anything (some keys new)."""
    document = tomllib.loads(FIRMWARE)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["board", "regions", "firmware"]))
        table = draw(st.sampled_from(document["regions"])) if where == "regions" else document[where]
        keys = sorted(table) + (_FIRMWARE_KEYS if where == "firmware" else []) + ["unknown_key"]
        key = draw(st.sampled_from(keys))
        mode = draw(st.sampled_from(["insert"] * 5 + ["plausible"] * 2 + ["any"]))
        table[key] = draw(_near(table.get(key, ""), mode))
    return document


def _check_outcome(path: Path, render) -> None:
    try:
        board = load_board_file(path)
    except BoardProfileError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1000, str(exc)[:2000]
        return
    render(board)


@pytest.fixture(scope="module")
def render_for_fuzz():
    """Renders every firmware build system of a board the loader accepted: a project or a
    one-line JsqatError, nothing else."""
    from jsqat_embed.firmware.project import SOURCE_LAYOUT, golden_vectors, render_project
    from jsqat_embed.memory.fit import fit_board
    from jsqat_embed.tflite import read_model
    from tests.firmware.io_models import multi_io_model

    data = multi_io_model().read_bytes()
    model = read_model(data)
    inputs, outputs, source = golden_vectors(data, 1, None, 0)

    def render(board):
        for system in (s for s in board.build_systems if s in SOURCE_LAYOUT):
            try:
                files = render_project(data, board, system, fit_board(model, board), inputs, outputs, source, "m",
                                       "dense")
            except JsqatError as exc:
                assert "\n" not in str(exc), str(exc)
                continue
            for name, text in files.items():
                assert all(c == "\n" or c.isprintable() for c in text), name
                assert re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text) is None, name
    return render


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(document=board_documents())
@example(document={"board": {"id": "x"}, "regions": []})
@example(document={"board": {**GOOD_DOCUMENT["board"], "build_systems": ["\n"]}, "regions": GOOD_DOCUMENT["regions"]})
def test_fuzz_structured_board_files(tmp_path, render_for_fuzz, document):
    path = tmp_path / "fuzz.toml"
    path.write_text(_toml(document))
    _check_outcome(path, render_for_fuzz)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, len(FIRMWARE)), st.integers(0, 8), st.binary(max_size=8)),
                      min_size=1, max_size=6))
@example(edits=[(0, 0, b"\xff\xfe")])
@example(edits=[(FIRMWARE.index("64"), 2, b"1e999")])
def test_fuzz_mutated_board_bytes(tmp_path, render_for_fuzz, edits):
    data = bytearray(FIRMWARE.encode())
    for offset, length, replacement in edits:
        data[offset : offset + length] = replacement
    path = tmp_path / "fuzz.toml"
    path.write_bytes(bytes(data))
    _check_outcome(path, render_for_fuzz)
