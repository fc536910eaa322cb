"""The serial frame protocol's host side, and serial-verify against a fake device on a pseudo-terminal.

The fake device behaves like the generated firmware's loop: it prints log lines,
reads framed input tensor lists, answers with framed output tensor lists (computed
by the emulator, or deliberately wrong) or an error frame. The same host code
against the real generated firmware under QEMU is in test_qemu.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import struct
import threading
import tty
import zlib

import numpy as np
import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.emulator import Emulator
from jsqat_embed.firmware import protocol
from jsqat_embed.training.zoo import zoo_model
from tests.firmware.io_models import float_model, multi_io_model


def test_frame_layout_and_round_trip():
    frame = protocol.encode_frame(protocol.FRAME_INPUT, b"\x01" * 8, b"abc", sequence=0x1234)
    assert frame[:4] == b"JSQF" and frame[4] == 4 and frame[5] == 1
    assert frame[6:8] == b"\x34\x12"  # the sequence number, uint16 little endian (docs/protocol.md)
    assert struct.unpack_from("<I", frame, 16)[0] == 3
    assert struct.unpack_from("<I", frame, len(frame) - 4)[0] == zlib.crc32(frame[:-4])
    decoded, used = protocol.decode_frame(b"noise\n" + frame + b"rest")
    assert used == len(b"noise\n") + len(frame)
    assert (decoded.type, decoded.model_hash, decoded.payload, decoded.sequence) == (1, b"\x01" * 8, b"abc", 0x1234)


def test_incomplete_and_corrupt_frames():
    frame = protocol.encode_frame(protocol.FRAME_OUTPUT, bytes(8), b"xyz")
    assert protocol.decode_frame(frame[:-1]) == (None, 0)
    corrupted = bytearray(frame)
    corrupted[21] ^= 1
    with pytest.raises(protocol.ProtocolError, match="CRC"):
        protocol.decode_frame(bytes(corrupted))
    with pytest.raises(protocol.ProtocolError, match="more than"):
        protocol.decode_frame(frame, max_payload=2)


@pytest.mark.parametrize("version", [1, 3])
def test_a_frame_of_an_older_version_names_old_firmware(version):
    old = bytearray(protocol.encode_frame(protocol.FRAME_OUTPUT, bytes(8), b"xyz"))
    old[4] = version
    with pytest.raises(protocol.ProtocolError, match=rf"version {version}, expected 4 \(firmware built by an older"):
        protocol.decode_frame(bytes(old))


def test_tensor_list_layout_and_round_trip():
    tensors = [b"\x01\x02\x03", b"", bytes(range(7))]
    payload = protocol.encode_tensor_list(tensors)
    # count 3, reserved 0, sizes 3 0 7, then the bytes back to back (docs/protocol.md)
    assert payload[:16] == struct.pack("<HH3I", 3, 0, 3, 0, 7)
    assert payload[16:] == b"".join(tensors)
    assert protocol.tensor_list_size([3, 0, 7]) == len(payload) == 26
    assert protocol.decode_tensor_list(payload) == tensors
    with pytest.raises(protocol.ProtocolError, match="declares 10 data bytes, carries 9"):
        protocol.decode_tensor_list(payload[:-1])
    with pytest.raises(protocol.ProtocolError, match="ends inside its size table"):
        protocol.decode_tensor_list(payload[:10])
    with pytest.raises(protocol.ProtocolError, match="no header"):
        protocol.decode_tensor_list(b"\x01")


class FakeDevice(threading.Thread):
    """The firmware's serial loop, in Python, on the master side of a pty: log lines, and
    frame lines (``JSQ:`` + base64) in and out, read the way jsqat_core.cc reads them."""

    def __init__(self, fd: int, model_bytes: bytes, corrupt_sample: int | None = None, corrupt_output: int = 0,
                 wrong_hash: bool = False, drop_last_output: bool = False, chatty: bool = False,
                 binary_version: int | None = None, silent: bool = False, duplicate_answers: bool = False,
                 prefix_logs: bool = False, boot_log: bytes = b""):
        super().__init__(daemon=True)
        self.fd = fd
        self.emulator = Emulator(model_bytes)
        self.hash = hashlib.sha256(model_bytes).digest()[:8]
        if wrong_hash:
            self.hash = bytes(8)
        self.corrupt_sample = corrupt_sample
        self.corrupt_output = corrupt_output
        self.drop_last_output = drop_last_output
        self.chatty = chatty  # log lines before, between and on the same line as its answers
        self.binary_version = binary_version  # answer as firmware from before text lines did
        self.silent = silent  # never answers
        self.duplicate_answers = duplicate_answers  # sends every answer twice (a stale copy for the next request)
        self.prefix_logs = prefix_logs  # log lines holding "JSQ:" that are no frames, before each answer
        self.boot_log = boot_log
        self.received = b""

    def answer(self, payload: bytes, sample: int, sequence: int) -> bytes:
        tensors = protocol.decode_tensor_list(payload)
        if len(tensors) != len(self.emulator.inputs):
            return protocol.encode_frame(protocol.FRAME_ERROR, self.hash, b"wrong input count", sequence)
        inputs = [np.frombuffer(data, tensor.dtype).reshape(tensor.shape)
                  for data, tensor in zip(tensors, self.emulator.inputs)]
        outputs = [bytearray(np.ascontiguousarray(out).tobytes()) for out in self.emulator.run(*inputs)]
        if sample == self.corrupt_sample:
            outputs[self.corrupt_output][0] ^= 0x80
        if self.drop_last_output:
            outputs = outputs[:-1]
        body = struct.pack("<I", 1234 + sample) + protocol.encode_tensor_list([bytes(o) for o in outputs])
        return protocol.encode_frame(protocol.FRAME_OUTPUT, self.hash, body, sequence)

    def send(self, frame: bytes) -> None:
        if self.binary_version is not None:
            frame = bytearray(frame)
            frame[4] = self.binary_version
            os.write(self.fd, bytes(frame))
            return
        line = protocol.encode_frame_line(frame)
        if self.prefix_logs:
            os.write(self.fd, b"I (7) app: JSQ: ready\r\nJSQ:not*a*frame\r\nJSQ:aGVsbG8=\r\n")
        if self.chatty:  # a log write landing just before the frame, on its line
            line = b"I (1234) wifi: still here " + line
        os.write(self.fd, line)
        if self.chatty:
            os.write(self.fd, b"\x1b[0;32mI (1250) main: answered\x1b[0m\r\n")

    def run(self):
        os.write(self.fd, b"ESP-ROM:esp32c3-api1-20210207\r\nrst:0x1 (POWERON)\r\n" if self.chatty else b"")
        os.write(self.fd, self.boot_log + b"jsqat: self-test PASS 8/8 bit-exact\r\n")
        buffer, sample = b"", 0
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.received += chunk
            buffer += chunk
            while True:
                ends = [i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0]
                if not ends:
                    break
                line, buffer = buffer[:min(ends)], buffer[min(ends) + 1:]
                if not line.startswith(protocol.LINE_PREFIX) or self.silent:
                    continue
                frame = protocol.decode_frame_line(line)
                answer = self.answer(frame.payload, sample, frame.sequence)
                self.send(answer)
                if self.duplicate_answers:
                    self.send(answer)
                sample += 1


@pytest.fixture()
def model_path():
    return zoo_model("resnet_style", size=32)


def _pty_device(model_path, **kwargs):
    master, slave = pty.openpty()
    tty.setraw(slave)  # no echo, no line editing: a byte pipe like a USB CDC port
    device = FakeDevice(master, model_path.read_bytes(), **kwargs)  # the device holds the master side
    device.start()
    return master, slave, os.ttyname(slave)  # the host opens the slave, as it would /dev/ttyACM0


def _serial_verify(model_path, *args, console: dict | None = None, **device_options):
    """serial-verify MODEL --port PTY against a fake device; with ``console``, through a
    TranslatingConsole (tests/firmware/console.py) made with those options."""
    from tests.firmware.console import TranslatingConsole

    master, slave, name = _pty_device(model_path, **device_options)
    relay = TranslatingConsole(name, **console) if console is not None else None
    try:
        return CliRunner().invoke(create_app(), ["serial-verify", str(model_path),
                                                 "--port", relay.port if relay else name, *args])
    finally:
        if relay:
            relay.close()
        os.close(slave)


def test_serial_verify_against_an_honest_device(model_path):
    result = _serial_verify(model_path, "--random", "5", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["bit_exact"] == 5 and data["samples"] == 5
    assert data["device_latency_us"]["min"] == 1234
    assert any("self-test PASS" in line for line in data["device_log"])


def test_frame_lines_are_printable_7_bit_text_without_line_endings():
    frame = protocol.encode_frame(protocol.FRAME_OUTPUT, bytes(range(8)), bytes(range(256)) * 3)
    line = protocol.encode_frame_line(frame)
    assert line.startswith(b"JSQ:") and line.endswith(b"\n") and line.count(b"\n") == 1
    assert b"\r" not in line and all(32 < byte < 127 for byte in line[:-1])
    assert protocol.decode_frame_line(line[:-1]).payload == bytes(range(256)) * 3
    damaged = line[:40] + b"*" + line[41:-1]
    with pytest.raises(protocol.ProtocolError, match="not base64"):
        protocol.decode_frame_line(damaged)
    flipped = line[:40] + (b"A" if line[40:41] != b"A" else b"B") + line[41:-1]
    with pytest.raises(protocol.ProtocolError, match="CRC"):
        protocol.decode_frame_line(flipped)


def test_the_console_really_translates(tmp_path):
    """The TranslatingConsole is a real termios translation: LF out becomes CR LF at the
    device, CR in becomes LF at the host, and bytes lose their eighth bit (7-bit)."""
    from tests.firmware.console import TranslatingConsole

    master, slave = pty.openpty()
    tty.setraw(slave)
    relay = TranslatingConsole(os.ttyname(slave), seven_bit=True)
    host = os.open(relay.port, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(host, b"a\nb")
        assert _read_exactly(master, 4) == b"a\r\nb"
        os.write(master, b"c\rd\xe9")
        assert _read_exactly(host, 4) == b"c\nd\x69"
    finally:
        os.close(host)
        relay.close()
        os.close(slave)
        os.close(master)


def _read_exactly(fd: int, size: int, timeout: float = 5.0) -> bytes:
    import select

    data = b""
    while len(data) < size:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"only {data!r} arrived"
        data += os.read(fd, size - len(data))
    return data


@pytest.mark.parametrize("seven_bit", [False, True], ids=["crlf", "crlf-7bit"])
def test_serial_verify_through_a_console_that_translates_line_endings(seven_bit):
    """ONLCR both ways and ICRNL (and ISTRIP): every byte value in the tensors still arrives."""
    path = multi_io_model()
    result = _serial_verify(path, "--random", "6", "--json", console={"seven_bit": seven_bit})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["bit_exact"] == 6 and data["samples"] == 6
    assert "jsqat: self-test PASS 8/8 bit-exact" in data["device_log"]


def test_serial_verify_with_a_chatty_boot_log_and_interleaved_log_lines(model_path):
    result = _serial_verify(model_path, "--random", "3", "--json", console={"seven_bit": True}, chatty=True)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["bit_exact"] == 3
    assert data["device_log"][:3] == ["ESP-ROM:esp32c3-api1-20210207", "rst:0x1 (POWERON)",
                                      "jsqat: self-test PASS 8/8 bit-exact"]
    assert data["device_log"].count("I (1234) wifi: still here") == 3


def test_serial_verify_names_firmware_that_speaks_binary_frames(model_path):
    result = _serial_verify(model_path, "--random", "1", "--timeout", "5", binary_version=2)
    assert result.exit_code == 2
    assert ("error: sample 0 (0 of 1 answered): the device answered with a binary protocol-version-2 frame: "
            "its firmware was built by an older jsqat-embed; rebuild and flash it") in result.output


def test_serial_verify_times_out_cleanly(model_path):
    import time

    started = time.monotonic()
    result = _serial_verify(model_path, "--random", "2", "--timeout", "1", "--baud", "115200", silent=True)
    assert time.monotonic() - started < 15
    assert result.exit_code == 2
    size = Emulator(model_path).inputs[0].nbytes  # request line + answer line, 10 bits a byte
    request = len(protocol.encode_frame_line(protocol.encode_frame(1, bytes(8), protocol.encode_tensor_list([bytes(size)]))))
    answer = 4 * (4 + protocol.tensor_list_size([Emulator(model_path).outputs[0].nbytes]) + 24) // 3 + 8
    wire = 10 * (request + 1 + answer) / 115200
    assert result.output == (f"error: sample 0 (0 of 2 answered): no answer from the device within 1.0 s "
                             f"(+ {wire:.1f} s on the wire at 115200 baud); "
                             "its last line: 'jsqat: self-test PASS 8/8 bit-exact'\n")


def test_serial_verify_still_takes_the_deprecated_model_option(model_path):
    master, slave, name = _pty_device(model_path)
    try:
        result = CliRunner().invoke(create_app(), ["serial-verify", "--port", name, "--model", str(model_path),
                                                   "--random", "2", "--json"])
    finally:
        os.close(slave)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["bit_exact"] == 2


def test_serial_verify_catches_one_wrong_byte(model_path):
    result = _serial_verify(model_path, "--random", "4", corrupt_sample=2)
    assert result.exit_code == 1, result.output
    assert "3/4 samples NOT bit-exact" in result.output
    assert "sample 2: first differing byte 0" in result.output


def test_serial_verify_refuses_a_device_running_another_model(model_path):
    result = _serial_verify(model_path, "--random", "1", "--timeout", "5", wrong_hash=True)
    assert result.exit_code == 2 and "different model" in result.output


def test_serial_verify_names_a_missing_port(model_path, tmp_path):
    result = CliRunner().invoke(create_app(), ["serial-verify", str(model_path), "--port",
                                               str(tmp_path / "ttyNONE")])
    assert result.exit_code == 2 and "cannot open serial port" in result.output


# --- several inputs and outputs ------------------------------------------------------


def test_serial_verify_sends_every_input_and_checks_every_output():
    path = multi_io_model()
    result = _serial_verify(path, "--random", "4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["bit_exact"] == 4 and [o["bytes"] for o in data["outputs"]] == [12, 98]


@pytest.mark.parametrize("output", [0, 1])
def test_serial_verify_names_the_output_that_differs(output):
    path = multi_io_model()
    result = _serial_verify(path, "--random", "3", corrupt_sample=1, corrupt_output=output)
    assert result.exit_code == 1, result.output
    name = Emulator(path).outputs[output].name
    assert "2/3 samples NOT bit-exact with the emulator (= TFLM reference kernels) (all 2 outputs compared)" \
        in result.output
    assert f"sample 1: output {output} '{name}' first differing byte 0" in result.output


def test_serial_verify_refuses_an_answer_missing_an_output():
    result = _serial_verify(multi_io_model(), "--random", "1", "--timeout", "5", drop_last_output=True)
    assert result.exit_code == 2
    assert "output frame carries 1 tensors, the model has 2 outputs" in result.output


def test_serial_verify_images_need_one_image_input(tmp_path):
    result = CliRunner().invoke(create_app(), ["serial-verify", "--port", str(tmp_path / "unused"), "--model",
                                               str(multi_io_model()), "--images", str(tmp_path)])
    assert result.exit_code == 2
    assert "--images: images need a model with exactly one image input; this model has 2 inputs" in result.output


def test_serial_verify_refuses_a_fully_float_model(tmp_path):
    path = float_model()
    result = CliRunner().invoke(create_app(), ["serial-verify", "--port", str(tmp_path / "unused"), "--model",
                                               str(path)])
    assert result.exit_code == 2
    assert result.output == f"error: {path.name}: fully floating-point model; quantize it first (int8)\n"


# --- a hostile or confused device: bounded memory, no terminal escapes, stale answers ---------


class ScriptedPort:
    """A port whose device says what a list of chunks says (a callable makes them on demand,
    so a flood of hundreds of megabytes is never held in memory at once)."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.written = b""
        self.link = None
        self.largest_pending = 0

    def read(self, timeout: float) -> bytes:
        if self.link is not None:
            self.largest_pending = max(self.largest_pending, len(self.link.pending))
        return next(self.chunks, b"")

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        pass


def _link(chunks) -> tuple[protocol.SerialLink, ScriptedPort]:
    port = ScriptedPort(chunks)
    link = protocol.SerialLink(port)
    port.link = link
    return link, port


def _answer_line(sequence: int, payload: bytes = b"\x00\x00\x00\x00" + protocol.encode_tensor_list([b"\x07"]),
                 frame_type: int = protocol.FRAME_OUTPUT) -> bytes:
    return protocol.encode_frame_line(protocol.encode_frame(frame_type, bytes(8), payload, sequence))


def test_a_flood_without_line_ends_stays_bounded_and_the_answer_still_arrives():
    """The issue's reproduction: a device printing text without newlines grew the host's
    buffer to 1.9 GB in 10 s. 200 MiB of it now costs a bounded line buffer, and the answer
    that follows is still read."""
    import tracemalloc

    flood = b"A" * 65536
    link, port = _link([*(flood for _ in range(3200)), b"\r\n", _answer_line(1)])
    tracemalloc.start()
    try:
        frame = link.read_frame(30, max_payload=4096, sequence=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frame.sequence == 1 and frame.payload.endswith(b"\x07")
    bound = protocol.SerialLink.line_bound(4096)
    assert bound < 16384 and port.largest_pending <= bound + len(flood)
    assert peak < 4 << 20, f"{peak:,} bytes at the peak"
    assert link.bytes_received == 3200 * 65536 + 2 + len(_answer_line(1))
    assert len(link.log) == 1 and link.log[0].startswith("A" * 500) and link.log[0].endswith(" bytes)")
    assert link.notes[0] == f"a device line ran past {bound:,} bytes without a line end; its rest was skipped"


def test_a_flood_of_lines_keeps_only_the_last_lines():
    lines = b"".join(b"line %d\r\n" % i for i in range(20000))
    link, _ = _link([lines, _answer_line(1)])
    link.read_frame(30, sequence=1)
    assert len(link.log) == protocol.LOG_LINES == 200
    assert link.log[0] == "line 19800" and link.log[-1] == "line 19999"


def test_a_flood_that_never_ends_times_out_in_time_with_bounded_memory():
    import itertools
    import time

    link, port = _link(itertools.repeat(b"\x1b[2J" * 16384))
    started = time.monotonic()
    with pytest.raises(protocol.ProtocolError) as caught:
        link.read_frame(0.5, max_payload=4096)
    assert time.monotonic() - started < 3
    assert str(caught.value) == ("no answer from the device within 0.5 s; it was sending a line longer than any "
                                 "answer, without a line end")
    assert port.largest_pending <= protocol.SerialLink.line_bound(4096) + 4 * 16384
    assert len(link.log) == 1 and "\x1b" not in link.log[0] and link.log[0].startswith("\\x1b[2J\\x1b[2J")


def test_device_text_cannot_reach_the_terminal_as_control_sequences():
    text = ("title \x1b]0;owned\x07 clear \x1b[2J back\x08\x08 cr\r bidi \u202egnp.exe \x9b31m "
            "caf\u00e9 \x1b[0;32mgreen\x1b[0m").encode() + b" bad \xff"
    shown = protocol.neutralise(text)
    assert shown == ("title \\x1b]0;owned\\x07 clear \\x1b[2J back\\x08\\x08 cr\\x0d bidi \\u202egnp.exe \\x9b31m "
                     "caf\u00e9 green bad \\xff")
    assert all(ch.isprintable() for ch in shown)
    assert protocol.neutralise(b"x" * 10_000, limit=20) == "x" * 20 + "... (10,000 bytes)"


def test_an_error_frame_with_escapes_is_shown_neutralised():
    error = b"bad \x1b[2J\x1b]0;owned\x07 input" + b"!" * 3000
    link, _ = _link([_answer_line(1, error, protocol.FRAME_ERROR)])
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.infer_on_device(link, bytes(8), [b"\x01"], [1], timeout=5)
    message = str(caught.value)
    assert message.startswith("device error: bad \\x1b[2J\\x1b]0;owned\\x07 input!!!")
    assert message.endswith("... (3,024 bytes)") and len(message) < 260 and "\x1b" not in message


def test_a_stale_answer_is_skipped_not_attributed_to_the_next_request():
    """An answer to request 1 that arrives again while request 2 waits (a device that
    repeated itself, or an answer that came after its request timed out)."""
    first = b"\x00\x00\x00\x00" + protocol.encode_tensor_list([b"\x01"])
    second = b"\x00\x00\x00\x00" + protocol.encode_tensor_list([b"\x02"])
    link, port = _link([_answer_line(1, first), _answer_line(1, first), _answer_line(2, second)])
    assert protocol.infer_on_device(link, bytes(8), [b"\x00"], [1], timeout=5).outputs == [b"\x01"]
    assert protocol.infer_on_device(link, bytes(8), [b"\x00"], [1], timeout=5).outputs == [b"\x02"]
    assert list(link.notes) == ["skipped a stale answer (sequence 1) while waiting for the answer to request 2"]
    sent = [protocol.decode_frame_line(line) for line in port.written.split(b"\n") if line]
    assert [frame.sequence for frame in sent] == [1, 2]


def test_only_stale_answers_time_out_and_say_so():
    import itertools

    link, _ = _link(itertools.repeat(_answer_line(7)))
    with pytest.raises(protocol.ProtocolError, match=r"within 0\.3 s; .*skipped, the last: skipped a stale answer "
                                                     r"\(sequence 7\) while waiting for the answer to request 1"):
        protocol.infer_on_device(link, bytes(8), [b"\x00"], [1], timeout=0.3)


def test_sequence_numbers_wrap_past_65535_and_never_use_0():
    link, _ = _link([])
    link._sequence = 65534
    assert [link.next_sequence() for _ in range(3)] == [65535, 1, 2]


def test_an_error_about_an_unreadable_line_answers_the_waiting_request():
    link, _ = _link([_answer_line(0, b"frame line is not base64", protocol.FRAME_ERROR)])
    with pytest.raises(protocol.ProtocolError, match="^device error: frame line is not base64$"):
        protocol.infer_on_device(link, bytes(8), [b"\x00"], [1], timeout=5)


def test_log_lines_holding_the_frame_prefix_do_not_abort_a_run():
    """The issue's reproduction: a log line containing the frame prefix aborted the run."""
    link, _ = _link([b"I (7) app: JSQ: ready\r\nJSQ:not*a*frame\nJSQ:aGVsbG8=\n", _answer_line(1)])
    assert link.read_frame(5, sequence=1).sequence == 1
    assert list(link.log) == ["I (7) app: JSQ: ready", "JSQ:not*a*frame", "JSQ:aGVsbG8="]
    assert len(link.notes) == 3 and "does not hold a frame" in link.notes[2]


def test_a_damaged_real_frame_still_fails_at_once():
    line = bytearray(_answer_line(1))
    line[30] = ord("A") if line[30] != ord("A") else ord("B")
    link, _ = _link([bytes(line)])
    with pytest.raises(protocol.ProtocolError, match="CRC"):
        link.read_frame(5, sequence=1)


def test_a_version_3_answer_names_old_firmware():
    old = bytearray(protocol.encode_frame(protocol.FRAME_OUTPUT, bytes(8), b"xyz"))
    old[4] = 3
    old[-4:] = zlib.crc32(bytes(old[:-4])).to_bytes(4, "little")
    link, _ = _link([protocol.encode_frame_line(bytes(old))])
    with pytest.raises(protocol.ProtocolError, match=r"frame version 3, expected 4 \(firmware built by an older "
                                                     r"jsqat-embed: rebuild and flash it\)"):
        link.read_frame(5, sequence=1)


def test_serial_verify_skips_duplicate_answers_and_log_lines_with_the_prefix(model_path):
    result = _serial_verify(model_path, "--random", "4", "--json", duplicate_answers=True, prefix_logs=True)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["bit_exact"] == 4 and data["samples"] == 4
    assert sum("stale answer" in note for note in data["notes"]) == 3
    assert data["device_log"].count("I (7) app: JSQ: ready") >= 4  # and as many before the duplicates read


def test_serial_verify_prints_device_log_lines_without_their_escapes(model_path):
    result = _serial_verify(model_path, "--random", "1",
                            boot_log=b"\x1b[0;32mI (5) boot: ok\x1b[0m\r\nevil \x1b]2;owned\x07\x1b[2J\x08 done\r\n")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output and "\x08" not in result.output
    assert result.output.startswith("device: I (5) boot: ok\ndevice: evil \\x1b]2;owned\\x07\\x1b[2J\\x08 done\n"
                                    "device: jsqat: self-test PASS 8/8 bit-exact\n1/1 samples bit-exact")
