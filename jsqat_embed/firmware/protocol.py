"""Host side of the serial frame protocol (docs/protocol.md; the device side is
firmware_templates/common/jsqat_core.cc).

Frame: magic ``JSQF`` | version 1 | type | 2 reserved bytes | first 8 bytes of the
model's SHA-256 | payload length (uint32 LE) | payload | CRC-32 (zlib's, LE) of
everything before it. Types: 1 input (host -> device), 2 output (device -> host:
uint32 LE microseconds, then the output tensor's bytes), 3 error (ASCII text).
"""

from __future__ import annotations

import os
import select
import struct
import time
import zlib
from dataclasses import dataclass

from jsqat_embed.errors import InputDataError, JsqatError

MAGIC = b"JSQF"
VERSION = 1
FRAME_INPUT, FRAME_OUTPUT, FRAME_ERROR = 1, 2, 3
HEADER = struct.Struct("<4sBBH8sI")
TRAILER_BYTES = 4


class ProtocolError(JsqatError):
    """A device answered with something that is not a valid frame, or not in time."""


@dataclass
class Frame:
    type: int
    model_hash: bytes
    payload: bytes


def encode_frame(frame_type: int, model_hash: bytes, payload: bytes) -> bytes:
    if len(model_hash) != 8:
        raise ValueError("model_hash must be the first 8 bytes of the model's SHA-256")
    head = HEADER.pack(MAGIC, VERSION, frame_type, 0, model_hash, len(payload)) + payload
    return head + struct.pack("<I", zlib.crc32(head))


def decode_frame(buffer: bytes, max_payload: int = 1 << 24) -> tuple[Frame | None, int]:
    """(frame, bytes consumed) from the start of ``buffer``; (None, 0) if incomplete.

    Bytes before a magic are skipped (consumed) so a stream can resynchronise;
    a bad version, length or CRC raises ProtocolError.
    """
    start = buffer.find(MAGIC)
    if start < 0:
        return None, max(0, len(buffer) - len(MAGIC) + 1)
    if len(buffer) - start < HEADER.size:
        return None, start
    magic, version, frame_type, _, model_hash, size = HEADER.unpack_from(buffer, start)
    if version != VERSION:
        raise ProtocolError(f"frame version {version}, expected {VERSION}")
    if size > max_payload:
        raise ProtocolError(f"frame declares {size} payload bytes, more than {max_payload}")
    end = start + HEADER.size + size + TRAILER_BYTES
    if len(buffer) < end:
        return None, start
    (crc,) = struct.unpack_from("<I", buffer, end - TRAILER_BYTES)
    if zlib.crc32(buffer[start : end - TRAILER_BYTES]) != crc:
        raise ProtocolError("frame CRC-32 mismatch")
    return Frame(frame_type, model_hash, buffer[start + HEADER.size : end - TRAILER_BYTES]), end


class SerialLink:
    """A raw serial port (POSIX termios; no third-party dependency) or any file descriptor."""

    def __init__(self, fd: int, owns: bool = True):
        self.fd = fd
        self.owns = owns
        self.buffer = b""
        self.log: list[str] = []  # text lines the device printed between frames

    @classmethod
    def open(cls, port: str, baud: int = 115200) -> "SerialLink":
        import termios
        import tty

        try:
            fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
        except OSError as exc:
            raise InputDataError(f"cannot open serial port {port}: {exc.strerror or exc}") from exc
        try:
            tty.setraw(fd, termios.TCSANOW)  # keep what the device already sent (its boot log)
            attributes = termios.tcgetattr(fd)
            speed = getattr(termios, f"B{baud}", None)
            if speed is None:
                raise InputDataError(f"unsupported baud rate {baud}")
            attributes[4] = attributes[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
        except termios.error:
            pass  # a pseudo-terminal or pipe: no line settings to make
        return cls(fd)

    def close(self) -> None:
        if self.owns:
            os.close(self.fd)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def read_frame(self, timeout: float, max_payload: int = 1 << 24) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            # Text before a frame is the device's log (self-test verdict, errors): keep it.
            start = self.buffer.find(MAGIC)
            text_end = start if start >= 0 else max(0, len(self.buffer) - len(MAGIC) + 1)
            if text_end:
                text, self.buffer = self.buffer[:text_end], self.buffer[text_end:]
                self.log.extend(line.strip() for line in text.decode("ascii", "replace").splitlines() if line.strip())
            frame, consumed = decode_frame(self.buffer, max_payload)
            if frame is not None:
                self.buffer = self.buffer[consumed:]
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProtocolError(f"no complete frame from the device within {timeout:.1f} s")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise ProtocolError("the device closed the link")
                self.buffer += chunk


@dataclass
class DeviceAnswer:
    output: bytes
    microseconds: int


def infer_on_device(link: SerialLink, model_hash: bytes, input_bytes: bytes, output_size: int,
                    timeout: float = 10.0) -> DeviceAnswer:
    link.write(encode_frame(FRAME_INPUT, model_hash, input_bytes))
    frame = link.read_frame(timeout, max_payload=4 + max(output_size, 4096))
    if frame.type == FRAME_ERROR:
        raise ProtocolError(f"device error: {frame.payload.decode('ascii', 'replace')}")
    if frame.type != FRAME_OUTPUT:
        raise ProtocolError(f"unexpected frame type {frame.type}")
    if frame.model_hash != model_hash:
        raise ProtocolError("the device runs a different model (model hash differs)")
    if len(frame.payload) != 4 + output_size:
        raise ProtocolError(f"output frame carries {len(frame.payload) - 4} bytes, the model outputs {output_size}")
    (microseconds,) = struct.unpack_from("<I", frame.payload)
    return DeviceAnswer(frame.payload[4:], microseconds)
