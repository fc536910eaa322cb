"""The firmware on an emulated Cortex-M4 (QEMU mps2-an386).

- The firmware's own C++ with newlib semihosting: the same unit tests as on the host
  (CRC, framing, tensor lists, self-test PASS/FAIL on the real golden vectors of one-
  and several-input/output models), cross-compiled and run on the target instruction set.
- The whole generated application linked with TFLM (opt-in: TFLM's sources): its boot
  self-test, and its serial console: the generated cmake project's sources, with UART
  platform hooks for the board (qemu/platform_mps2_uart.cc), run under QEMU with UART0 on
  a pseudo-terminal, and ``jsqat-embed serial-verify`` talks to it over that port.
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


@pytest.mark.parametrize("encoding", ["dense", "pruned"])
def test_generated_application_self_test_passes_on_cortex_m4_with_tflm(tmp_path, encoding):
    """The whole generated application (model arrays, resolver, arena sized by the estimator,
    golden vectors, self-test) linked with TFLM built for Cortex-M4, run under QEMU. Opt-in:
    needs TFLM's sources (tests/tflm_targets.py)."""
    from jsqat_embed.training.zoo import pruned_zoo_model
    from tests.tflm_targets import CORTEX_M4, link_for_qemu, run_qemu, tflm_library_or_skip

    tflm, library = tflm_library_or_skip(CORTEX_M4)
    model = pruned_zoo_model("mobilenetv2", size=96, alpha=0.35, sparsity=0.7)
    out = tmp_path / "fw"
    result = build_project(model, load_board("rpi-pico"), out, build_system="cmake", encoding=encoding, golden=3)
    assert result.encoding.startswith(encoding)
    src = out / "src"
    sources = [p for p in sorted(src.glob("*.cc")) if p.name != "main.cc"] + [HERE / "qemu" / "app_main.cc"]
    elf = link_for_qemu(CORTEX_M4, tflm, library, sources, tmp_path / "app.elf", include=[src])
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


@pytest.mark.parametrize("make_model", _multi_io_models())
def test_multi_io_application_self_test_passes_on_cortex_m4_with_tflm(tmp_path, make_model):
    """Every input tensor copied in, every output tensor compared, one CRC per output:
    the generated application with TFLM for Cortex-M4, under QEMU. Opt-in (TFLM's sources)."""
    from tests.tflm_targets import CORTEX_M4, link_for_qemu, run_qemu, tflm_library_or_skip

    tflm, library = tflm_library_or_skip(CORTEX_M4)
    out = tmp_path / "fw"
    result = _build_or_skip(make_model(), out, golden=3)
    src = out / "src"
    sources = [p for p in sorted(src.glob("*.cc")) if p.name != "main.cc"] + [HERE / "qemu" / "app_main.cc"]
    elf = link_for_qemu(CORTEX_M4, tflm, library, sources, tmp_path / "app.elf", include=[src])
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


@pytest.fixture(scope="module")
def uart_board(tmp_path_factory):
    """The two-input/two-output model's generated cmake project (its main.cc and platform
    file included) with UART hooks, linked with TFLM for Cortex-M4 and booted under QEMU."""
    from tests.tflm_targets import CORTEX_M4, link_for_qemu, tflm_library_or_skip

    tflm, library = tflm_library_or_skip(CORTEX_M4)
    tmp = tmp_path_factory.mktemp("uart")
    model = _keras_multi_io()
    result = build_project(model, load_board("rpi-pico"), tmp / "fw", build_system="cmake", golden=3)
    src = tmp / "fw" / "src"
    sources = sorted(src.glob("*.cc")) + [HERE / "qemu" / "platform_mps2_uart.cc"]
    assert {p.name for p in sources} >= {"main.cc", "jsqat_platform_cortex_m.cc", "jsqat_app.cc"}
    elf = link_for_qemu(CORTEX_M4, tflm, library, sources, tmp / "app.elf", include=[src])
    board = QemuBoard(elf)
    yield board, model, result
    board.close()


def test_serial_verify_against_the_generated_firmware_under_qemu(uart_board):
    """The real console: serial-verify sends every input tensor over the emulated board's
    UART and compares every output tensor the firmware's TFLM computes with the emulator's."""
    import json

    from typer.testing import CliRunner

    from jsqat_embed.cli.main import create_app

    board, model, result = uart_board
    run = CliRunner().invoke(create_app(), ["serial-verify", "--port", board.port, "--model", str(model),
                                            "--random", "6", "--seed", "4", "--timeout", "120", "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)
    assert data["samples"] == 6 and data["bit_exact"] == 6
    assert [o["bytes"] for o in data["outputs"]] == [t["bytes"] for t in result.outputs]
    verdict = next(line for line in data["device_log"] if "self-test" in line)
    assert "self-test PASS 3/3 bit-exact" in verdict and f"outputs crc32 {result.crc_text}," in verdict, verdict
    assert any(f"arena used {result.fit.arena.total} of" in line for line in data["device_log"])
    assert data["device_latency_us"]["min"] > 0


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
        link.write(bytes(old))
        frame = link.read_frame(60)
        assert frame.type == protocol.FRAME_ERROR
        assert frame.payload == b"protocol version 1 is not supported (this firmware speaks 2)"
        # and it still answers a good request afterwards
        answer = protocol.infer_on_device(link, model_hash, [bytes(n) for n in sizes],
                                          [t["bytes"] for t in result.outputs], timeout=60)
        assert [len(o) for o in answer.outputs] == [t["bytes"] for t in result.outputs]
    finally:
        link.close()
