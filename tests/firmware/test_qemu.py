"""The firmware on an emulated Cortex-M4 (QEMU mps2-an386).

- The firmware's own C++ with newlib semihosting: the same unit tests as on the host
  (CRC, framing, tensor lists, self-test PASS/FAIL on the real golden vectors of one-
  and several-input/output models), cross-compiled and run on the target instruction set.
- The whole generated application linked with TFLM (tests/tflm_targets.py: the pinned
  sources beside the project): its boot self-test, and its serial console: the generated
  cmake project's sources, with UART platform hooks for the board
  (qemu/platform_mps2_uart.cc), run under QEMU with UART0 on a pseudo-terminal, and
  ``jsqat-embed serial-verify`` talks to it over that port.
- The generated CMake project itself, configured and built by cmake with
  ``-Wall -Wextra -Werror`` on its sources, linked with TFLM's reference kernels and with
  CMSIS-NN, booted under QEMU: its self-test passes, and the linked image's flash use
  (text + data) is within 10 % of fit-check's estimate (runtime code + model) plus the
  golden vectors, for models of different op mixes.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
import tty
import zlib
from pathlib import Path

import pytest

from jsqat_embed.boards import load_board
from jsqat_embed.firmware.project import build_project
from jsqat_embed.training.zoo import zoo_model

HERE = Path(__file__).resolve().parent
FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O1"]


def _keras_multi_io():
    from tests.firmware.io_models import multi_io_model

    return multi_io_model()


@pytest.mark.parametrize("make_model", [lambda: zoo_model("resnet_style", size=32), _keras_multi_io],
                         ids=["resnet-1in-1out", "keras-2in-2out"])
def test_core_unit_tests_pass_on_cortex_m4_under_qemu(tmp_path, make_model):
    missing = [tool for tool in ("arm-none-eabi-g++", "arm-none-eabi-gcc", "qemu-system-arm") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make toolchains installs them where apt-get is available)")
    out = tmp_path / "fw"
    build_project(make_model(), load_board("nano33ble"), out, build_system="cmake", golden=4)
    src = out / "src"
    startup = tmp_path / "startup.o"
    subprocess.run(["arm-none-eabi-gcc", *FLAGS, "-c", str(HERE / "qemu" / "startup.c"), "-o", str(startup)],
                   check=True, capture_output=True, text=True)
    elf = tmp_path / "core_test.elf"
    compiled = subprocess.run(
        ["arm-none-eabi-g++", *FLAGS, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fno-exceptions", "-fno-rtti",
         "--specs=rdimon.specs", f"-L{HERE / 'qemu'}", "-T", str(HERE / "qemu" / "mps2_an386.ld"), f"-I{src}",
         str(startup),
         str(HERE / "core_test.cc"), str(src / "jsqat_core.cc"), str(src / "jsqat_selftest.cc"),
         str(src / "golden_data.cc"), "-o", str(elf)], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    run = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
                          "enable=on,target=native", "-kernel", str(elf)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "PASS: 0 failure(s)" in run.stdout, run.stdout + run.stderr


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["dense", "pruned"])
def test_generated_application_self_test_passes_on_cortex_m4_with_tflm(tmp_path, encoding):
    """The whole generated application (model arrays, resolver, arena sized by the estimator,
    golden vectors, self-test) linked with TFLM built for Cortex-M4, run under QEMU. Opt-in:
    needs TFLM's sources (tests/tflm_targets.py)."""
    from jsqat_embed.training.zoo import pruned_zoo_model
    from tests.tflm_targets import CORTEX_M4, link_for_qemu, run_qemu, tflm_build_or_skip

    build = tflm_build_or_skip(CORTEX_M4)
    model = pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.7)
    out = tmp_path / "fw"
    result = build_project(model, load_board("rpi-pico"), out, build_system="cmake", encoding=encoding, golden=3)
    assert result.encoding.startswith(encoding)
    src = out / "src"
    sources = [p for p in sorted(src.glob("*.cc")) if p.name != "main.cc"] + [HERE / "qemu" / "app_main.cc"]
    elf = link_for_qemu(build, sources, tmp_path / "app.elf", include=[src])
    run = run_qemu(CORTEX_M4, elf, tmp_path, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0 and "self-test PASS 3/3 bit-exact" in log, log[-3000:]
    assert f"outputs crc32 {result.crc_text}," in log
    # The arena TFLM really used is the estimate the firmware's arena was sized from (+ margin).
    used = int(re.search(r"arena used (\d+) of", log).group(1))
    assert used == result.fit.arena.total and result.fit.arena.target == "arm32"


def _multi_io_models() -> list:
    params = [pytest.param(_keras_multi_io, id="keras-2in-2out")]
    try:
        from tests.corpus_models import corpus_params
    except ImportError:
        return params
    for param in corpus_params(tflm="runs", tag="multi-io"):
        model = param.values[0]
        params.append(pytest.param(lambda model=model: model.path, id=model.file, marks=param.marks))
    return params


def _build_or_skip(path: Path, out: Path, **options):
    from jsqat_embed.errors import UnsupportedModelError

    try:
        return build_project(path, load_board("rpi-pico"), out, build_system="cmake", **options)
    except UnsupportedModelError as exc:
        pytest.skip(f"the emulator cannot compute golden vectors for {path.name}: {exc}"[:300])


@pytest.mark.slow
@pytest.mark.parametrize("make_model", _multi_io_models())
def test_multi_io_application_self_test_passes_on_cortex_m4_with_tflm(tmp_path, make_model):
    """Every input tensor copied in, every output tensor compared, one CRC per output:
    the generated application with TFLM for Cortex-M4, under QEMU. Opt-in (TFLM's sources)."""
    from tests.tflm_targets import CORTEX_M4, link_for_qemu, run_qemu, tflm_build_or_skip

    build = tflm_build_or_skip(CORTEX_M4)
    out = tmp_path / "fw"
    result = _build_or_skip(make_model(), out, golden=3)
    src = out / "src"
    sources = [p for p in sorted(src.glob("*.cc")) if p.name != "main.cc"] + [HERE / "qemu" / "app_main.cc"]
    elf = link_for_qemu(build, sources, tmp_path / "app.elf", include=[src])
    run = run_qemu(CORTEX_M4, elf, tmp_path, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0 and "self-test PASS 3/3 bit-exact" in log, log[-3000:]
    assert f"outputs crc32 {result.crc_text}," in log
    assert len(result.output_crcs) == len(result.outputs) and len(result.inputs) + len(result.outputs) > 2
    used = int(re.search(r"arena used (\d+) of", log).group(1))
    assert used == result.fit.arena.total


class QemuBoard:
    """The generated firmware under QEMU, UART0 on a pseudo-terminal: a board on a serial port.

    QEMU starts paused; the port is opened (raw) before the CPU runs, so the boot log is
    kept in the terminal until serial-verify reads it, as on a USB CDC port.
    """

    def __init__(self, elf: Path):
        self.process = subprocess.Popen(
            ["qemu-system-arm", "-M", "mps2-an386", "-display", "none", "-S", "-monitor", "stdio", "-serial", "pty",
             "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.port = self._wait_for_port()
        self.holder = os.open(self.port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.holder)  # never read: it only keeps the terminal open and raw
        self._monitor("cont")

    def _wait_for_port(self, timeout: float = 30.0) -> str:
        text, deadline = b"", time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    break
                text += chunk
                found = re.search(rb"char device redirected to (/dev/pts/\d+)", text)
                if found:
                    return found.group(1).decode()
        self.close()
        raise AssertionError(f"QEMU gave no serial pseudo-terminal: {text.decode(errors='replace')}")

    def pause(self) -> None:
        """Stop the emulated CPU: idle, the firmware's serial loop would keep a host core busy."""
        self._monitor("stop")

    def resume(self) -> None:
        self._monitor("cont")

    def _monitor(self, command: str) -> None:
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._monitor("quit")
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        if getattr(self, "holder", None) is not None:
            os.close(self.holder)
            self.holder = None


@pytest.fixture
def uart_board(uart_firmware):
    """uart_firmware, running for one test (paused between tests)."""
    board = uart_firmware[0]
    board.resume()
    yield uart_firmware
    board.pause()


@pytest.fixture(scope="module")
def uart_firmware(tmp_path_factory):
    """The two-input/two-output model's generated cmake project (its main.cc and platform
    file included) with UART hooks, linked with TFLM for Cortex-M4 and booted under QEMU."""
    from tests.tflm_targets import CORTEX_M4, link_for_qemu, tflm_build_or_skip

    build = tflm_build_or_skip(CORTEX_M4)
    tmp = tmp_path_factory.mktemp("uart")
    model = _keras_multi_io()
    result = build_project(model, load_board("rpi-pico"), tmp / "fw", build_system="cmake", golden=3)
    src = tmp / "fw" / "src"
    sources = sorted(src.glob("*.cc")) + [HERE / "qemu" / "platform_mps2_uart.cc"]
    assert {p.name for p in sources} >= {"main.cc", "jsqat_platform_cortex_m.cc", "jsqat_app.cc"}
    elf = link_for_qemu(build, sources, tmp / "app.elf", include=[src])
    board = QemuBoard(elf)
    board.pause()
    yield board, model, result
    board.close()


@pytest.mark.slow
def test_serial_verify_against_the_generated_firmware_under_qemu(uart_board):
    """The real console: serial-verify sends every input tensor over the emulated board's
    UART and compares every output tensor the firmware's TFLM computes with the emulator's."""
    import json

    from typer.testing import CliRunner

    from jsqat_embed.cli.main import create_app

    board, model, result = uart_board
    run = CliRunner().invoke(create_app(), ["serial-verify", str(model), "--port", board.port,
                                            "--random", "6", "--seed", "4", "--timeout", "120", "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)
    assert data["samples"] == 6 and data["bit_exact"] == 6
    assert [o["bytes"] for o in data["outputs"]] == [t["bytes"] for t in result.outputs]
    verdict = next(line for line in data["device_log"] if "self-test" in line)
    assert "self-test PASS 3/3 bit-exact" in verdict and f"outputs crc32 {result.crc_text}," in verdict, verdict
    assert any(f"arena used {result.fit.arena.total} of" in line for line in data["device_log"])
    assert data["device_latency_us"]["min"] > 0


@pytest.mark.slow
def test_the_generated_firmware_names_what_is_wrong_with_a_request(uart_board):
    """Error frames from the real firmware: wrong model, wrong tensor count or size, protocol version 1."""
    import hashlib

    from jsqat_embed.firmware import protocol

    board, model, result = uart_board
    model_hash = hashlib.sha256(model.read_bytes()).digest()[:8]
    sizes = [t["bytes"] for t in result.inputs]
    link = protocol.SerialLink.open(board.port)
    try:
        def error_for(inputs, model_hash=model_hash) -> str:
            with pytest.raises(protocol.ProtocolError) as caught:
                protocol.infer_on_device(link, model_hash, inputs, [t["bytes"] for t in result.outputs], timeout=60)
            return str(caught.value)

        assert error_for([bytes(n) for n in sizes], bytes(8)) == "device error: frame is not an input for this model"
        assert error_for([bytes(sizes[0])]) == f"device error: the model takes {len(sizes)} input tensors"
        assert error_for([bytes(sizes[0]), bytes(sizes[1] - 4)]) == \
            f"device error: input 1 has {sizes[1] - 4} bytes, the model takes {sizes[1]}"
        old = bytearray(protocol.encode_frame(protocol.FRAME_INPUT, model_hash, bytes(sum(sizes))))
        old[4] = 1
        old[-4:] = zlib.crc32(bytes(old[:-4])).to_bytes(4, "little")
        link.write_frame(bytes(old))
        frame = link.read_frame(60)
        assert frame.type == protocol.FRAME_ERROR
        assert frame.payload == b"protocol version 1 is not supported (this firmware speaks 4)"
        # a binary (version 2) frame is not a frame line: skipped, as any line not starting "JSQ:"
        link.write(b"\n" + protocol.encode_frame(protocol.FRAME_INPUT, model_hash, bytes(4)) + b"\n")
        link.write(b"JSQ:not*base64\n")
        assert link.read_frame(60).payload == b"frame line is not base64"
        # and it still answers a good request afterwards
        answer = protocol.infer_on_device(link, model_hash, [bytes(n) for n in sizes],
                                          [t["bytes"] for t in result.outputs], timeout=60)
        assert [len(o) for o in answer.outputs] == [t["bytes"] for t in result.outputs]
        # answers echo the request's sequence number, errors about a request too
        link.write_frame(protocol.encode_frame(protocol.FRAME_INPUT, bytes(8), protocol.encode_tensor_list([]), 777))
        frame = link.read_frame(60)
        assert (frame.type, frame.sequence) == (protocol.FRAME_ERROR, 777)
        # an answer to an earlier request is skipped, not taken for the next one's
        stale = link.next_sequence()
        link.write_frame(protocol.encode_frame(protocol.FRAME_INPUT, model_hash,
                                               protocol.encode_tensor_list([bytes(n) for n in sizes]), stale))
        protocol.infer_on_device(link, model_hash, [bytes(n) for n in sizes], [t["bytes"] for t in result.outputs],
                                 timeout=60)
        assert any(f"stale answer (sequence {stale})" in note for note in link.notes), list(link.notes)
    finally:
        link.close()


@pytest.mark.slow
@pytest.mark.parametrize("seven_bit", [False, True], ids=["crlf", "crlf-7bit"])
def test_serial_verify_through_a_console_that_translates_line_endings_under_qemu(uart_board, seven_bit):
    """The same firmware behind a terminal that turns LF into CR LF towards the device and
    CR into LF towards the host (ONLCR, ICRNL; ISTRIP too: 7 bits), as ESP-IDF's and
    pico-sdk's consoles do: every answer still bit-exact."""
    import json

    from typer.testing import CliRunner

    from jsqat_embed.cli.main import create_app
    from tests.firmware.console import TranslatingConsole

    board, model, result = uart_board
    console = TranslatingConsole(board.port, seven_bit=seven_bit)
    try:
        run = CliRunner().invoke(create_app(), ["serial-verify", str(model), "--port", console.port,
                                                "--random", "8", "--seed", "11", "--timeout", "120", "--json"])
    finally:
        console.close()
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)
    assert data["samples"] == 8 and data["bit_exact"] == 8


@pytest.fixture
def image_board(image_firmware):
    """image_firmware, running for one test (paused between tests)."""
    board = image_firmware[0]
    board.resume()
    yield image_firmware
    board.pause()


@pytest.fixture(scope="module")
def image_firmware(tmp_path_factory):
    """A one-image-input classifier with a 96x96x3 int8 input (27,648 bytes a frame, the
    size whose binary frames a translating console corrupted), linked and booted as uart_board."""
    from tests.tflm_targets import CORTEX_M4, link_for_qemu, tflm_build_or_skip

    build = tflm_build_or_skip(CORTEX_M4)
    tmp = tmp_path_factory.mktemp("uart-image")
    model = zoo_model("resnet_style", size=96)
    build_project(model, load_board("rpi-pico"), tmp / "fw", build_system="cmake", golden=2, ignore_fit=True)
    src = tmp / "fw" / "src"
    sources = sorted(src.glob("*.cc")) + [HERE / "qemu" / "platform_mps2_uart.cc"]
    elf = link_for_qemu(build, sources, tmp / "app.elf", include=[src])
    board = QemuBoard(elf)
    board.pause()
    yield board, model
    board.close()


@pytest.mark.slow
@pytest.mark.parametrize("translating", [False, True], ids=["raw", "crlf-7bit"])
def test_serial_verify_sends_images_to_the_generated_firmware_under_qemu(image_board, translating, tmp_path):
    """The repository's real H&E tiles (3 of samples/: ~7 s each under QEMU), preprocessed
    as verify --images, through the emulated board's UART, plain and behind a translating
    7-bit console."""
    import json

    from typer.testing import CliRunner

    from jsqat_embed.cli.main import create_app
    from tests.firmware.console import TranslatingConsole

    board, model = image_board
    tiles = sorted((Path(__file__).resolve().parents[2] / "samples").glob("*.png"))
    chosen = tiles[:3] if not translating else tiles[-3:]
    samples = tmp_path / "tiles"
    samples.mkdir()
    for tile in chosen:
        shutil.copyfile(tile, samples / tile.name)
    console = TranslatingConsole(board.port, seven_bit=True) if translating else None
    try:
        run = CliRunner().invoke(create_app(), ["serial-verify", str(model), "--port",
                                                console.port if console else board.port,
                                                "--images", str(samples), "--timeout", "120", "--json"])
    finally:
        if console:
            console.close()
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)
    assert len(chosen) == 3 and data["samples"] == 3 and data["bit_exact"] == 3


# -- the generated CMake project, built by cmake, under QEMU -----------------------------------

#: corpus models of different op mixes (and sizes, from 2.7 KB to 300 KB of model)
CMAKE_MODELS = ("hello_world_int8", "micro_speech_quantized", "kws_ref_model", "person_detect",
                "pretrainedResnet_quant", "keyword_scrambled", "trained_lstm_int8")
FLASH_TOLERANCE = 0.10
FLASH_RESULTS = Path(__file__).resolve().parents[2] / ".cache" / "tflm" / "flash-results.jsonl"


def build_cmake_project(project: Path, build_dir: Path, tflm_build) -> Path:
    """The generated CMake project configured as its next steps say (toolchain file, TFLM_TREE),
    against the already compiled TFLM of the same tree and options, with its sources under
    -Werror, QEMU's startup code as the board's sources and mps2-an386's linker script; returns
    the linked executable."""
    from tests.tflm_targets import QEMU_DIR, configure_cmake

    configure_cmake(project, build_dir, tflm_build.tree, f"-DTFLM_LIBRARY={tflm_build.library}",
                    "-DJSQAT_WARNINGS_AS_ERRORS=ON", f"-DJSQAT_BOARD_SOURCES={QEMU_DIR / 'startup.c'}",
                    f"-DJSQAT_LINKER_SCRIPT={QEMU_DIR / 'mps2_an386.ld'}",
                    f"-DCMAKE_EXE_LINKER_FLAGS=--specs=rdimon.specs -L{QEMU_DIR} -Wl,-Map={build_dir / 'app.map'}")
    built = subprocess.run(["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 2)],
                           capture_output=True, text=True)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    name = re.search(r"project\((\w+)", (project / "CMakeLists.txt").read_text()).group(1)
    return build_dir / name


def boot_until(elf: Path, pattern: str, timeout: float = 300) -> str:
    """Boot ``elf`` on QEMU's mps2-an386 (semihosting log on stdout) until a line matching
    ``pattern`` appears; the firmware then serves its serial loop forever, so QEMU is stopped."""
    process = subprocess.Popen(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
                                "enable=on,target=native", "-kernel", str(elf)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                text += chunk
                if re.search(pattern.encode(), text):
                    break
    finally:
        process.kill()
        process.wait()
    return text.decode(errors="replace")


def linked_flash(elf: Path) -> int:
    """text + data of the linked image (the mps2 script keeps rodata in .text)."""
    sizes = subprocess.run(["arm-none-eabi-size", "-B", str(elf)], capture_output=True, text=True, check=True)
    text, data, _ = (int(v) for v in sizes.stdout.splitlines()[1].split()[:3])
    return text + data


@pytest.mark.slow
@pytest.mark.parametrize("library", ["reference", "cmsis-nn"])
@pytest.mark.parametrize("name", CMAKE_MODELS)
def test_generated_cmake_project_builds_with_werror_boots_passes_and_fits_its_flash_estimate(tmp_path, library, name):
    import json

    from tests.corpus_models import CORPUS
    from tests.tflm_targets import CORTEX_M4, cmake_board, tflm_build_or_skip

    tflm_build = tflm_build_or_skip(CORTEX_M4, library)
    board = cmake_board(library)
    golden = 2
    result = build_project(CORPUS / f"{name}.tflite", board, tmp_path / "fw", build_system="cmake", golden=golden,
                           force=True)
    elf = build_cmake_project(tmp_path / "fw", tmp_path / "build", tflm_build)
    log = boot_until(elf, r"self-test (PASS|FAIL)[^\n]*\n")
    assert f"self-test PASS {golden}/{golden} bit-exact" in log and f"outputs crc32 {result.crc_text}," in log, log[-3000:]

    linked = linked_flash(elf)
    golden_bytes = golden * (sum(t["bytes"] for t in result.inputs) + sum(t["bytes"] for t in result.outputs))
    estimate = result.fit.runtime.total + result.fit.model_bytes + golden_bytes
    FLASH_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(FLASH_RESULTS, "a") as results:
        results.write(json.dumps({"library": library, "model": name, "linked": linked, "estimate": estimate,
                                  "runtime": result.fit.runtime.total, "model_bytes": result.fit.model_bytes,
                                  "golden_bytes": golden_bytes, "ops": result.fit.runtime.ops}) + "\n")
    assert abs(estimate - linked) <= FLASH_TOLERANCE * linked, (
        f"{library} {name}: linked {linked:,} B, estimated {estimate:,} B (runtime {result.fit.runtime.total:,} + "
        f"model {result.fit.model_bytes:,} + golden {golden_bytes:,})")


def test_esp_idf_projects_pin_esp_nn_to_its_bit_exact_requantization(tmp_path):
    """The esp-nn build checked under QEMU (tests/tflm_targets.py) has no CONFIG_NN_SKIP_NUDGE;
    the generated ESP-IDF project pins it off, so a board runs what was checked."""
    model = Path(__file__).resolve().parents[1] / "corpus" / "hello_world_int8.tflite"
    build_project(model, load_board("esp32c3"), tmp_path / "fw", build_system="esp-idf", golden=1)
    lines = (tmp_path / "fw" / "sdkconfig.defaults").read_text().splitlines()
    assert "# CONFIG_NN_SKIP_NUDGE is not set" in lines and "CONFIG_NN_OPTIMIZED=y" in lines
    assert not any(line.startswith("CONFIG_NN_SKIP_NUDGE=") for line in lines)
