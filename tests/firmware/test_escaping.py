"""Escaping by construction: hostile board values and model names never become code.

The board loader refuses these values (tests/boards/test_hostile_board_files.py); here
the loader is bypassed (profiles built directly) so the renderer alone must hold: every
generated file is parsed in its own language and its structure compared with the
benign project's (C code with comments and strings removed, CMake commands and
unquoted arguments, ini sections and keys, sdkconfig keys, linker script, printed
shell words); the C is compiled with -Werror, CMake files are run (`cmake -P`,
configure) and the linker script linked, where those tools exist. A value either
renders as inert text or is refused with a one-line project error.
"""

from __future__ import annotations

import configparser
import dataclasses
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from jsqat_embed.boards import load_board
from jsqat_embed.errors import JsqatError
from jsqat_embed.firmware import render
from jsqat_embed.firmware.project import MANIFEST, _next_steps, golden_vectors, render_project
from jsqat_embed.memory.fit import fit_board
from jsqat_embed.tflite import codec, read_model

MARK = "PWNED"
TOUCHED = "/tmp/jsqat-escaping-touched"  # a cmake payload tries to create it
PAYLOADS = {
    "cmake-call": f'x")\nexecute_process(COMMAND touch {TOUCHED})\nset(Y "{MARK}',
    "c-statement": f"x\n#error {MARK}\nint {MARK};",
    "comment-end": f"x */ int {MARK}; /* ",
    "paren": f"x) {MARK} : ORIGIN = 0, LENGTH = 1 (",
    "ini": f"x\nextra_scripts = pre:{MARK}.py\n[env:{MARK}]",
    "variables": f"${{{MARK}}} $ENV{{{MARK}}} @{MARK}@ $({MARK}) %({MARK})s",
    "continuation": f"x\\\nint {MARK};",
    "quotes": f"x\"; int {MARK}; \"'",
    "terminal": f"\x1b]0;{MARK}\x07\x1b[2J",
    "line-separators": f"x\u2028\u0085{MARK}\r\nint {MARK};",
    "nul-and-trigraph": f"x\x00??/\n{MARK}",
}
TARGETS = [("esp32s3", "esp-idf"), ("esp32s3", "platformio"), ("nano33ble", "arduino"), ("nano33ble", "platformio"),
           ("nano33ble", "zephyr"), ("stm32f746g-disco", "cmake"), ("pico", "pico-sdk")]
#: board fields that name things for another tool, and a build system that uses each
NAMED_FIELDS = {
    "idf_target": ("esp32s3", "esp-idf"), "platformio_platform": ("nano33ble", "platformio"),
    "platformio_board": ("esp32s3", "platformio"), "platformio_framework": ("nano33ble", "platformio"),
    "arduino_library": ("nano33ble", "arduino"), "arduino_header": ("nano33ble", "arduino"),
    "pico_board": ("pico", "pico-sdk"), "zephyr_board": ("nano33ble", "zephyr"),
    "cpu_flags": ("stm32f746g-disco", "cmake"), "region_name": ("stm32f746g-disco", "cmake"),
    "id": ("nano33ble", "platformio"),
}


@pytest.fixture(scope="module")
def corpus():
    """The model, golden vectors (computed once) and each benign project."""
    from tests.firmware.io_models import multi_io_model

    data = multi_io_model().read_bytes()
    inputs, outputs, source = golden_vectors(data, 1, None, 0)
    model = read_model(data)
    state = {"data": data, "model": model, "golden": (inputs, outputs, source)}
    state["benign"] = {target: _render(state, load_board(target[0]), target[1]) for target in TARGETS}
    return state


def _render(state, board, system, *, data=None, name="model", source=None):
    inputs, outputs, golden_source = state["golden"]
    data = data or state["data"]
    fit = fit_board(read_model(data), board)
    return render_project(data, board, system, fit, inputs, outputs, source or golden_source, name, "dense")


def _hostile(board_id: str, field: str, payload: str):
    board = load_board(board_id)
    firmware = dict(board.firmware or {})
    if field in ("name", "mcu", "core", "id"):
        return dataclasses.replace(board, **{field: payload})
    if field == "text":  # every free-text field at once
        regions = tuple(dataclasses.replace(r, note=payload) for r in board.regions)
        return dataclasses.replace(board, name=payload, mcu=payload, core=payload, regions=regions,
                                   sources=(payload,))
    if field == "region_name":
        regions = tuple(dataclasses.replace(r, name=payload + r.name) for r in board.regions)
        return dataclasses.replace(board, regions=regions)
    firmware[field] = ("-mcpu=cortex-m7 " + payload) if field == "cpu_flags" else payload
    return dataclasses.replace(board, firmware=firmware)


# --- a small parser per language: the project's structure without its values ----------

_C_TOKENS = re.compile(r"""//(?:\\\n|[^\n])*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""", re.S)


def c_code(text: str) -> str:
    """C/C++ with comments removed and every string or character literal replaced by "";
    fails on an unterminated comment or literal."""
    code = _C_TOKENS.sub(lambda m: " " if m.group(0)[0] == "/" else '""', text)
    leftover = code.replace('""', "")
    assert '"' not in leftover and "'" not in leftover and "/*" not in code and "*/" not in code, \
        "unterminated comment or literal"
    return re.sub(r"\s+", " ", code).strip()


def cmake_commands(text: str) -> list[tuple]:
    """[(command, (arguments...))] with quoted and bracket arguments as "<q>"; fails on
    anything that is not CMake's grammar (an unbalanced quote or parenthesis)."""
    commands, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text[i] == "#":
            bracket = re.match(r"#\[(=*)\[", text[i:])
            if bracket:
                end = text.find("]" + bracket.group(1) + "]", i)
                assert end != -1, "unterminated bracket comment"
                i = end + len(bracket.group(1)) + 2
            else:
                j = text.find("\n", i)
                i = n if j == -1 else j
        else:
            match = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(").match(text, i)
            assert match, f"not a command at {text[i:i + 40]!r}"
            name, i, depth, args = match.group(1).lower(), match.end(), 0, []
            while True:
                assert i < n, "unterminated command"
                char = text[i]
                if char.isspace():
                    i += 1
                elif char == "#":
                    j = text.find("\n", i)
                    i = n if j == -1 else j
                elif char == '"':
                    j = i + 1
                    while text[j] != '"':
                        j += 2 if text[j] == "\\" else 1
                    args.append("<q>")
                    i = j + 1
                elif char == "(":
                    depth, i = depth + 1, i + 1
                    args.append("(")
                elif char == ")":
                    i += 1
                    if depth == 0:
                        break
                    depth -= 1
                    args.append(")")
                else:
                    j = i
                    while j < n and not text[j].isspace() and text[j] not in '()"#':
                        j += 2 if text[j] == "\\" else 1
                    args.append(text[i:j])
                    i = j
            commands.append((name, tuple(args)))
    return commands


KCONFIG_LINE = re.compile(r'(CONFIG_[A-Z0-9_]+)=(y|n|-?[0-9]+|0x[0-9A-Fa-f]+|"(?:[^"\\\n]|\\.)*")')


def kconfig_keys(text: str) -> list[str]:
    keys = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = KCONFIG_LINE.fullmatch(line)
        assert match, f"not a Kconfig assignment: {line!r}"
        keys.append(match.group(1))
    return keys


def ini_structure(text: str) -> dict:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {section: sorted(parser[section]) for section in parser.sections()}


def structure(name: str, text: str):
    language = render.language_of(name)
    if language in ("c", "ld"):
        return c_code(text)
    if language == "cmake":
        return cmake_commands(text)
    if language == "kconfig":
        return kconfig_keys(text)
    if language == "ini":
        return ini_structure(text)
    if name.endswith(".json"):
        import json

        return sorted(json.loads(text))
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


def assert_inert(files: dict[str, str], benign: dict[str, str]) -> None:
    assert set(files) == set(benign)
    for name, text in files.items():
        assert "\x00" not in text and "\x1b" not in text and "\r" not in text, name
        assert all(c == "\n" or c.isprintable() for c in text), f"{name}: a control or line-separator character"
        assert structure(name, text) == structure(name, benign[name]), f"{name}: the hostile value changed its code"
        if render.language_of(name) == "c":
            assert MARK not in c_code(text), name


# --- the tests -----------------------------------------------------------------------------

@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t[0]}-{t[1]}" if isinstance(t, tuple) else t)
def test_hostile_free_text_renders_as_inert_text(corpus, target, payload):
    board = _hostile(target[0], "text", PAYLOADS[payload])
    files = _render(corpus, board, target[1])
    assert_inert(files, corpus["benign"][target])


@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("field", list(NAMED_FIELDS))
def test_hostile_names_are_refused_or_inert(corpus, field, payload):
    board_id, system = NAMED_FIELDS[field]
    board = _hostile(board_id, field, PAYLOADS[payload])
    try:
        files = _render(corpus, board, system)
    except JsqatError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300, str(exc)
        return
    reference = _hostile(board_id, field, "safe")  # the same field, harmless: same template branches
    assert_inert(files, _render(corpus, reference, system))
    steps = _next_steps(system, board, Path("fw dir"), "model", Path("m.tflite"))
    benign_steps = _next_steps(system, reference, Path("fw dir"), "model", Path("m.tflite"))
    assert [len(shlex.split(step)) for step in steps] == [len(shlex.split(step)) for step in benign_steps]


def _hostile_model(data: bytes, name: str) -> bytes:
    """The model with every tensor named ``name`` + its index (through our own writer)."""
    tree = codec.decode(data)
    for index, tensor in enumerate(tree["subgraphs"][0]["tensors"]):
        tensor["name"] = f"{name}{index}"
    return codec.encode(tree)


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_hostile_model_file_and_tensor_names_render_as_inert_text(corpus, payload):
    """Tensor names (model_config.h), the model's file name (the array's identifier, its
    comment) and the golden-image folder's name (golden_data.h) stay comments."""
    text = PAYLOADS[payload].replace("\x00", "0")
    board = load_board("nano33ble")
    files = _render(corpus, board, "cmake", data=_hostile_model(corpus["data"], text), name=text, source=text)
    benign = _render(corpus, board, "cmake", data=_hostile_model(corpus["data"], "t"), name="m", source="images")

    def numbers(code: str) -> str:  # the model's bytes and hash differ with its tensor names
        return re.sub(r"(N, )+", "N, ", re.sub(r"\b(0x[0-9a-f]+|[0-9]+)u?\b", "N", code))

    def normal(code: str, symbol: str) -> str:  # the file name's identifier, made valid C, is the one use in code
        return numbers(code.replace(symbol.upper() + "_H_", "GUARD").replace(symbol, "SYMBOL"))

    symbol = _symbol(files)
    assert re.fullmatch(r"[a-z][a-z0-9_]*", symbol)
    for name in files:
        if render.language_of(name) == "c":
            code = normal(c_code(files[name]), symbol)
            assert MARK not in code, name
            assert code == normal(c_code(benign[name]), "m_model_data"), name


def _symbol(files: dict[str, str]) -> str:
    symbols = set(re.findall(r"unsigned char (\w+)\[\]", files["src/model_data.h"]))
    assert len(symbols) == 1
    return symbols.pop()


# --- the real tools -------------------------------------------------------------------------

def _write(files: dict[str, str], root: Path) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_hostile_project_c_compiles_with_werror(corpus, tmp_path, payload):
    board = _hostile("stm32f746g-disco", "text", PAYLOADS[payload])
    text = PAYLOADS[payload].replace("\x00", "0")
    files = _render(corpus, board, "cmake", data=_hostile_model(corpus["data"], text), name=text, source=text)
    src = _write(files, tmp_path) / "src"
    sources = ["model_data.cc", "golden_data.cc", "jsqat_core.cc", "jsqat_selftest.cc"]
    result = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", *sources,
                             "-include", "model_config.h"], cwd=src, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
@pytest.mark.parametrize("payload", ["cmake-call", "variables", "quotes", "continuation"])
def test_hostile_cpu_flags_run_as_a_cmake_script_do_nothing(corpus, tmp_path, payload):
    """The toolchain file (what `cmake -DCMAKE_TOOLCHAIN_FILE=...` runs) with a hostile cpu_flags:
    cmake runs it, no command is injected, and CPU_FLAGS is one value holding the text."""
    Path(TOUCHED).unlink(missing_ok=True)
    board = _hostile("stm32f746g-disco", "cpu_flags", PAYLOADS[payload])
    try:
        files = _render(corpus, board, "cmake")
    except JsqatError:
        return
    root = _write(files, tmp_path)
    probe = root / "probe.cmake"
    probe.write_text('include("${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi.cmake")\nmessage("CPU_FLAGS=[${CPU_FLAGS}]")\n')
    result = subprocess.run(["cmake", "-P", str(probe)], capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stderr
    assert not Path(TOUCHED).exists(), "cmake ran an injected command"
    flags = re.search(r"CPU_FLAGS=\[(.*)\]", result.stderr, re.S).group(1)
    assert flags.startswith("-mcpu=cortex-m7 ") and "\n" not in flags


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="cmake and arm-none-eabi-gcc are needed to configure the project")
def test_hostile_board_cmake_project_configures_without_running_injected_code(corpus, tmp_path):
    Path(TOUCHED).unlink(missing_ok=True)
    board = _hostile("stm32f746g-disco", "text", PAYLOADS["cmake-call"])
    board = dataclasses.replace(board, firmware={**board.firmware, "cpu_flags": "-mcpu=cortex-m7 -mthumb "
                                                 + PAYLOADS["cmake-call"]})
    root = _write(_render(corpus, board, "cmake", name=PAYLOADS["cmake-call"]), tmp_path / "fw")
    (tmp_path / "tflm").mkdir()
    result = subprocess.run(["cmake", "-S", str(root), "-B", str(tmp_path / "build"),
                             "-DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake", f"-DTFLM_TREE={tmp_path / 'tflm'}"],
                            capture_output=True, text=True, cwd=root, timeout=300)
    assert not Path(TOUCHED).exists(), "cmake ran an injected command"
    # the compiler refuses the hostile flag text itself when it checks the compiler; either way
    # the configure step saw one CPU_FLAGS value and ran no injected command
    assert "execute_process" not in result.stdout


@pytest.mark.skipif(shutil.which("arm-none-eabi-ld") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="arm-none-eabi binutils are not installed")
@pytest.mark.parametrize("payload", ["comment-end", "paren", "c-statement"])
def test_hostile_board_name_linker_script_links(corpus, tmp_path, payload):
    board = _hostile("stm32f746g-disco", "text", PAYLOADS[payload])
    files = _render(corpus, board, "cmake")
    script = tmp_path / "memory.ld"
    script.write_text(files["memory.ld"] + "SECTIONS { .text : { *(.text*) } > FLASH }\n")
    (tmp_path / "empty.c").write_text("int jsqat_probe;\n")
    subprocess.run(["arm-none-eabi-gcc", "-c", "empty.c", "-o", "empty.o"], cwd=tmp_path, check=True)
    result = subprocess.run(["arm-none-eabi-ld", "-T", "memory.ld", "empty.o", "-o", "probe.elf"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    regions = re.findall(r"^\s+(\w+) \((\w+)\) : ORIGIN", files["memory.ld"], re.M)
    assert [name for name, _ in regions] == ["FLASH", "QSPI_FLASH", "RAM", "SDRAM"]


def test_every_template_value_goes_through_the_language_environment():
    """No template bypasses finalize (autoescape stays off, so ``|safe`` means nothing) and
    every generated file's name maps to a language."""
    root = render.template_directory()
    for template in root.rglob("*.j2"):
        text = template.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape" not in text, template
        if "sketch.ino" not in template.name:
            assert render.language_of(template.name) != "text", template
    assert MANIFEST.endswith(".json")
