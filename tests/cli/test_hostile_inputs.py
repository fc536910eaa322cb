"""Every bad input to every command: one line naming the problem, exit 2, never a
traceback, in bounded time and memory (issue 14).

Model files that are not files (a FIFO, /dev/zero, a folder), empty, random or
truncated; usage errors; numbers out of range (NaN, infinities, negative seeds, sizes
that would exhaust memory); outputs that are files, links or the input itself; images
that are FIFOs or decompression bombs. Hostile board files: tests/boards/
test_hostile_board_files.py; --force and output directories: tests/firmware/
test_output_safety.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.training.zoo import zoo_model

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "models" / "demo_mobilenetv2_a035_96.tflite"
runner = CliRunner()


@contextmanager
def deadline(seconds: int = 30):
    """Fail (instead of hanging the suite) if a FIFO is ever opened again."""
    def expired(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s: a blocking open or an endless read")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_line_exit_2(arguments: list[str], contains: str = "") -> str:
    with deadline():
        result = runner.invoke(create_app(), [str(a) for a in arguments])
    output = result.output
    assert result.exit_code == 2, (arguments, result.exit_code, output, result.exception)
    assert output.startswith("error: ") and output.count("\n") == 1, output
    assert "Traceback" not in output and contains in output, output
    return output


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    data = DEMO.read_bytes()
    files = {"empty": b"", "random": bytes(range(256)) * 4, "truncated": data[:1000], "text": b"hello\n",
             "half": data[: len(data) // 2], "no-identifier": data[:4] + b"XXXX" + data[8:]}
    paths = {}
    for name, content in files.items():
        paths[name] = root / f"{name}.tflite"
        paths[name].write_bytes(content)
    paths["missing"] = root / "missing.tflite"
    paths["folder"] = root / "folder.tflite"
    paths["folder"].mkdir()
    paths["fifo"] = root / "fifo.tflite"
    os.mkfifo(paths["fifo"])
    return paths


def _commands(model: Path, out: Path) -> dict[str, list]:
    return {
        "inspect": ["inspect", model],
        "verify": ["verify", model, "--random", "1", "--no-litert"],
        "fit-check": ["fit-check", model, "-b", "pico"],
        "compress": ["compress", model, "-o", out / "c.tflite"],
        "optimize-memory": ["optimize-memory", model, "-o", out / "o.tflite", "--time-limit", "1"],
        "build": ["build", model, "-b", "pico", "-o", out / "fw"],
        "serial-verify": ["serial-verify", "-p", "/dev/null", "-m", model, "--timeout", "0.2", "--random", "1"],
    }


COMMANDS = list(_commands(Path("m"), Path("o")))
BAD = ["empty", "random", "truncated", "text", "half", "no-identifier", "missing", "folder", "fifo"]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_every_bad_model_file_in_one_line(tmp_path, bad_models, command, bad):
    output = one_line_exit_2(_commands(bad_models[bad], tmp_path)[command])
    if command not in ("compress", "build", "serial-verify"):  # those name the file only when it cannot be read
        assert bad_models[bad].name in output, output
    assert not any(tmp_path.iterdir()), "nothing is written for a bad input"


@pytest.mark.parametrize("command", ["inspect", "compress", "build", "serial-verify"])
def test_dev_zero_is_refused_not_read_without_end(tmp_path, command):
    """In a child process with 2 GiB of address space, so a regression fails instead of
    exhausting the machine's memory."""
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
            "from jsqat_embed.cli.main import main\n"
            f"sys.argv = ['jsqat-embed', *{[str(a) for a in _commands(Path('/dev/zero'), tmp_path)[command]]!r}]\n"
            "main()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == "error: /dev/zero: not a regular file (a FIFO, device or socket is not read as a model)\n"


@pytest.mark.parametrize("arguments, message", [
    (["boards", "--bogus"], "No such option: --bogus (see jsqat-embed boards --help)"),
    (["inspect"], "Missing argument 'model'. (see jsqat-embed inspect --help)"),
    (["no-such-command"], "No such command 'no-such-command'."),
    (["verify", DEMO, "--random", "abc"], "Invalid value for '--random'"),
    (["verify", DEMO, "--random", "0"], "0 is not in the range x>=1"),
    (["verify", DEMO, "--seed", "-1", "--random", "1", "--no-litert"], "--seed -1: a seed is 0 or more"),
    (["verify", DEMO, "--random", str(10 ** 9), "--no-litert"], "more than 1 GiB; use fewer"),
    (["verify", DEMO, "--preprocess", "bogus"], "--preprocess 'bogus': choose symmetric"),
    (["build", DEMO, "-b", "pico", "-o", "{tmp}/fw", "--seed", "-1"], "--seed -1: choose 0 to"),
    (["build", DEMO, "-b", "pico", "-o", "{tmp}/fw", "--golden", "0"], "--golden 0: choose 1 to 10,000"),
    (["build", DEMO, "-b", "pico", "-o", "{tmp}/fw", "--golden", str(10 ** 12)], "--golden"),
    (["build", DEMO, "-b", "no-such-board", "-o", "{tmp}/fw"], "unknown board 'no-such-board'"),
    (["build", DEMO, "-b", "pico", "-o", "{tmp}/fw", "--build-system", "bazel"], "unknown build system 'bazel'"),
    (["build", DEMO, "-b", "pico", "-o", "{tmp}/fw", "--encoding", "zip"], "--encoding 'zip'"),
    (["optimize-memory", DEMO, "-o", "{tmp}/o.tflite", "--time-limit", "nan"], "--time-limit nan"),
    (["optimize-memory", DEMO, "-o", "{tmp}/o.tflite", "--time-limit", "inf"], "--time-limit inf"),
    (["optimize-memory", DEMO, "-o", "{tmp}/o.tflite", "--time-limit", "0"], "--time-limit 0.0"),
    (["optimize-memory", DEMO, "-o", DEMO, "--force"], "is the input model"),
    (["serial-verify", "-p", "/dev/null", "-m", DEMO, "--timeout", "nan"], "--timeout nan"),
    (["serial-verify", "-p", "/dev/null", "-m", DEMO, "--timeout", "inf"], "--timeout inf"),
    (["serial-verify", "-p", "/dev/null", "-m", DEMO, "--timeout", "-1"], "--timeout -1.0"),
    (["serial-verify", "-p", "/dev/null", "-m", DEMO, "--baud", "0"], "--baud 0"),
    (["serial-verify", "-p", "/no/such/port", "-m", DEMO, "--random", "1"], "cannot open serial port"),
    (["compress", DEMO, "-o", "{tmp}/c.tflite", "--min-bytes", "-1"], "--min-bytes must be >= 0"),
    (["compress", DEMO, "-o", "{tmp}/c.tflite", "--method", "zip"], "--method 'zip'"),
    (["compress", DEMO, "-o", DEMO, "--force"], "is the input model"),
    (["fit-check", DEMO, "-b", "no-such-board"], "unknown board"),
    (["fit-check", DEMO, "-b", "a" * 5000], "unknown board 'aaaa"),
    (["fit-check", DEMO, "-b", "nano\n\x1b[2J"], "unknown board 'nano\\n\\x1b[2J'"),
    (["fit-check", DEMO, "-b", "pico", "--plot", "{tmp}/x.bogus"], "--plot"),
])
def test_usage_and_value_errors_are_one_line(tmp_path, arguments, message):
    one_line_exit_2([str(a).replace("{tmp}", str(tmp_path)) for a in arguments], message)
    assert not (tmp_path / "fw").exists() and not (tmp_path / "o.tflite").exists()


def test_outputs_that_are_not_ours_are_never_replaced(tmp_path):
    folder, regular, link = tmp_path / "folder", tmp_path / "file", tmp_path / "link"
    folder.mkdir()
    (folder / "mine").write_text("mine")
    regular.write_text("mine")
    link.symlink_to(regular)
    one_line_exit_2(["compress", DEMO, "-o", folder, "--force"], "is not a regular file")
    one_line_exit_2(["compress", DEMO, "-o", link, "--force"], "is a symbolic link")
    one_line_exit_2(["compress", DEMO, "-o", tmp_path / "c.tflite", "--c-array", regular], "cannot")
    one_line_exit_2(["optimize-memory", DEMO, "-o", folder, "--force", "--time-limit", "1"], "not a regular file")
    one_line_exit_2(["build", DEMO, "-b", "pico", "-o", regular, "--force"], "never replaced")
    one_line_exit_2(["build", DEMO, "-b", "pico", "-o", link, "--force"], "symbolic link")
    one_line_exit_2(["build", DEMO, "-b", "pico", "-o", folder, "--force"], "not a project jsqat-embed built")
    assert regular.read_text() == "mine" and (folder / "mine").read_text() == "mine" and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder", "link"]


def test_compress_writes_the_model_and_its_c_array_as_one_group(tmp_path, monkeypatch):
    """Killed while writing: neither the .tflite nor the C array appears (was: the .tflite
    without its array)."""
    from jsqat_embed.firmware import render

    model = zoo_model("resnet_style", size=32)
    real_replace, calls = os.replace, []

    def dying(source, target):
        calls.append(target)
        raise KeyboardInterrupt  # the first rename: every temporary is complete, nothing is in place

    monkeypatch.setattr(render.os, "replace", dying)
    with pytest.raises(KeyboardInterrupt):
        from jsqat_embed.firmware.render import write_group

        write_group({tmp_path / "c.tflite": b"x", tmp_path / "arrays" / "model_data.cc": "y"})
    monkeypatch.setattr(render.os, "replace", real_replace)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [], "temporaries removed, nothing half-written"
    result = runner.invoke(create_app(), ["compress", str(model), "-o", str(tmp_path / "c.tflite"),
                                          "--c-array", str(tmp_path / "arrays")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["c.tflite", "model_data.cc", "model_data.h"]
    again = runner.invoke(create_app(), ["compress", str(model), "-o", str(tmp_path / "d.tflite"),
                                         "--c-array", str(tmp_path / "arrays")])
    assert again.exit_code == 2 and "pass --force to overwrite" in again.output
    assert not (tmp_path / "d.tflite").exists(), "refused as a group: not the model alone"


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width, height", [(40_000, 40_000), (2 ** 31 - 1, 1), (7_000, 7_000)])
def test_image_bombs_are_refused_before_decoding(tmp_path, width, height):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(_png_header(width, height))
    output = one_line_exit_2(["verify", DEMO, "--images", folder, "--no-litert"], "bomb.png")
    assert "refused" in output


def test_a_fifo_among_images_is_refused_not_opened(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    os.mkfifo(folder / "x.png")
    one_line_exit_2(["verify", DEMO, "--images", folder, "--no-litert"], "not a regular file")
    one_line_exit_2(["build", DEMO, "-b", "esp32s3", "-o", tmp_path / "fw", "--golden-images", folder],
                    "not a regular file")
    assert not (tmp_path / "fw").exists()


def test_a_large_jpeg_is_decoded_reduced_not_whole(tmp_path):
    """A JPEG over the pixel limit is decoded at a reduced scale (Pillow's draft), so it
    still works, within the limit."""
    from PIL import Image, ImageFile

    from jsqat_embed.verify import images

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("L", (7_000, 6_000), 128).save(folder / "big.jpg", quality=50)
    opened = []
    real_load = ImageFile.ImageFile.load

    def spy(image):
        opened.append(image.size)
        return real_load(image)

    ImageFile.ImageFile.load = spy
    try:
        from jsqat_embed.tflite import read_model

        batch, paths = images.load_images(folder, read_model(DEMO).inputs[0])
    finally:
        ImageFile.ImageFile.load = real_load
    assert batch.shape == (1, 96, 96, 3) and len(paths) == 1
    assert opened and all(w * h <= images.MAX_IMAGE_PIXELS for w, h in opened), opened


@pytest.mark.skipif(shutil.which("mkfifo") is None and not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_board_file_is_refused(tmp_path):
    fifo = tmp_path / "b.toml"
    os.mkfifo(fifo)
    one_line_exit_2(["fit-check", DEMO, "--board-file", fifo], "not a regular file")


def test_an_unexpected_exception_is_one_line_naming_a_bug(monkeypatch):
    """A bug (not a bad input) is still one line, exit 70, with where it happened;
    JSQAT_DEBUG=1 lets the traceback through."""
    import jsqat_embed.boards as boards

    def broken():
        raise TypeError("unsupported operand")

    monkeypatch.setattr(boards, "list_boards", broken)
    monkeypatch.delenv("JSQAT_DEBUG", raising=False)
    result = runner.invoke(create_app(), ["boards"])
    assert result.exit_code == 70 and result.output.count("\n") == 1
    assert result.output.startswith("error: internal error at test_hostile_inputs.py:")
    assert "(TypeError: unsupported operand); this is a bug in jsqat-embed" in result.output
    monkeypatch.setenv("JSQAT_DEBUG", "1")
    result = runner.invoke(create_app(), ["boards"])
    assert isinstance(result.exception, TypeError)
