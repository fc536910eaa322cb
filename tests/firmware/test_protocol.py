"""The serial frame protocol's host side, and serial-verify against a fake device on a pseudo-terminal.

The fake device behaves like the generated firmware's loop: it prints log lines,
reads framed inputs, answers with framed outputs (computed by the emulator, or
deliberately wrong) or an error frame.
"""

from __future__ import annotations

import hashlib
import os
import pty
import struct
import threading
import zlib

import numpy as np
import pytest
from typer.testing import CliRunner

from jsqat_embed.cli.main import create_app
from jsqat_embed.emulator import Emulator
from jsqat_embed.firmware import protocol
from jsqat_embed.training.zoo import zoo_model


def test_frame_layout_and_round_trip():
    frame = protocol.encode_frame(protocol.FRAME_INPUT, b"\x01" * 8, b"abc")
    assert frame[:4] == b"JSQF" and frame[4] == 1 and frame[5] == 1
    assert struct.unpack_from("<I", frame, 16)[0] == 3
    assert struct.unpack_from("<I", frame, len(frame) - 4)[0] == zlib.crc32(frame[:-4])
    decoded, used = protocol.decode_frame(b"noise\n" + frame + b"rest")
    assert used == len(b"noise\n") + len(frame)
    assert (decoded.type, decoded.model_hash, decoded.payload) == (1, b"\x01" * 8, b"abc")


def test_incomplete_and_corrupt_frames():
    frame = protocol.encode_frame(protocol.FRAME_OUTPUT, bytes(8), b"xyz")
    assert protocol.decode_frame(frame[:-1]) == (None, 0)
    corrupted = bytearray(frame)
    corrupted[21] ^= 1
    with pytest.raises(protocol.ProtocolError, match="CRC"):
        protocol.decode_frame(bytes(corrupted))
    with pytest.raises(protocol.ProtocolError, match="more than"):
        protocol.decode_frame(frame, max_payload=2)


class FakeDevice(threading.Thread):
    """The firmware's serial loop, in Python, on the slave side of a pty."""

    def __init__(self, fd: int, model_bytes: bytes, corrupt_sample: int | None = None, wrong_hash: bool = False):
        super().__init__(daemon=True)
        self.fd = fd
        self.emulator = Emulator(model_bytes)
        self.hash = hashlib.sha256(model_bytes).digest()[:8]
        if wrong_hash:
            self.hash = bytes(8)
        self.corrupt_sample = corrupt_sample
        self.input_shape = (1, *self.emulator.inputs[0].shape[1:])

    def run(self):
        os.write(self.fd, b"jsqat: self-test PASS 8/8 bit-exact\r\n")
        buffer, sample = b"", 0
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                frame, used = protocol.decode_frame(buffer)
                buffer = buffer[used:]
                if frame is None:
                    break
                x = np.frombuffer(frame.payload, np.int8).reshape(self.input_shape)
                (out,) = self.emulator.run(x)
                data = bytearray(np.ascontiguousarray(out).tobytes())
                if sample == self.corrupt_sample:
                    data[0] ^= 0x80
                reply = protocol.encode_frame(protocol.FRAME_OUTPUT, self.hash, struct.pack("<I", 1234 + sample) + data)
                os.write(self.fd, reply)
                sample += 1


@pytest.fixture()
def model_path():
    return zoo_model("resnet_style", size=32)


def _pty_device(model_path, **kwargs):
    master, slave = pty.openpty()
    import tty

    tty.setraw(slave)  # no echo, no line editing: a byte pipe like a USB CDC port
    device = FakeDevice(master, model_path.read_bytes(), **kwargs)  # the device holds the master side
    device.start()
    return master, slave, os.ttyname(slave)  # the host opens the slave, as it would /dev/ttyACM0


def test_serial_verify_against_an_honest_device(model_path):
    master, slave, name = _pty_device(model_path)
    try:
        result = CliRunner().invoke(create_app(), ["serial-verify", "--port", name, "--model", str(model_path),
                                                   "--random", "5", "--json"])
    finally:
        os.close(slave)
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.output)
    assert data["bit_exact"] == 5 and data["samples"] == 5
    assert data["device_latency_us"]["min"] == 1234
    assert any("self-test PASS" in line for line in data["device_log"])


def test_serial_verify_catches_one_wrong_byte(model_path):
    master, slave, name = _pty_device(model_path, corrupt_sample=2)
    try:
        result = CliRunner().invoke(create_app(), ["serial-verify", "--port", name, "--model", str(model_path),
                                                   "--random", "4"])
    finally:
        os.close(slave)
    assert result.exit_code == 1, result.output
    assert "3/4 outputs NOT bit-exact" in result.output
    assert "sample 2: first differing byte 0" in result.output


def test_serial_verify_refuses_a_device_running_another_model(model_path):
    master, slave, name = _pty_device(model_path, wrong_hash=True)
    try:
        result = CliRunner().invoke(create_app(), ["serial-verify", "--port", name, "--model", str(model_path),
                                                   "--random", "1", "--timeout", "5"])
    finally:
        os.close(slave)
    assert result.exit_code == 2 and "different model" in result.output


def test_serial_verify_names_a_missing_port(model_path, tmp_path):
    result = CliRunner().invoke(create_app(), ["serial-verify", "--port", str(tmp_path / "ttyNONE"), "--model",
                                               str(model_path)])
    assert result.exit_code == 2 and "cannot open serial port" in result.output
