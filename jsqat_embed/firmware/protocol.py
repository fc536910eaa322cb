"""Host side of the serial frame protocol (docs/protocol.md; the device side is
firmware_templates/common/jsqat_core.cc).

Frame: magic ``JSQF`` | version 2 | type | 2 reserved bytes | first 8 bytes of the
model's SHA-256 | payload length (uint32 LE) | payload | CRC-32 (zlib's, LE) of
everything before it. Types: 1 input (host -> device: a tensor list of every model
input), 2 output (device -> host: uint32 LE microseconds, then a tensor list of
every model output), 3 error (ASCII text). A tensor list is uint16 count, uint16
reserved, count x uint32 byte sizes, then the tensors' bytes back to back in the
model's order. Version 1 (one tensor, bare bytes) is refused by name.
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
VERSION = 2
FRAME_INPUT, FRAME_OUTPUT, FRAME_ERROR = 1, 2, 3
HEADER = struct.Struct("<4sBBH8sI")
TRAILER_BYTES = 4
TENSOR_LIST_HEADER = struct.Struct("<HH")
MICROSECONDS = struct.Struct("<I")


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
        older = " (firmware built by an older jsqat-embed: rebuild and flash it)" if version < VERSION else ""
        raise ProtocolError(f"frame version {version}, expected {VERSION}{older}")
    if size > max_payload:
        raise ProtocolError(f"frame declares {size} payload bytes, more than {max_payload}")
    end = start + HEADER.size + size + TRAILER_BYTES
    if len(buffer) < end:
        return None, start
    (crc,) = struct.unpack_from("<I", buffer, end - TRAILER_BYTES)
    if zlib.crc32(buffer[start : end - TRAILER_BYTES]) != crc:
        raise ProtocolError("frame CRC-32 mismatch")
    return Frame(frame_type, model_hash, buffer[start + HEADER.size : end - TRAILER_BYTES]), end


def tensor_list_size(sizes: list[int]) -> int:
    return TENSOR_LIST_HEADER.size + 4 * len(sizes) + sum(sizes)


def encode_tensor_list(tensors: list[bytes]) -> bytes:
    """Tensors' bytes as a tensor list payload (count, sizes, data)."""
    if len(tensors) > 0xFFFF:
        raise ValueError(f"{len(tensors)} tensors; a tensor list holds at most 65535")
    table = struct.pack(f"<{len(tensors)}I", *(len(t) for t in tensors))
    return TENSOR_LIST_HEADER.pack(len(tensors), 0) + table + b"".join(bytes(t) for t in tensors)


def decode_tensor_list(payload: bytes) -> list[bytes]:
    """The tensors of a tensor list payload; ProtocolError if it is not one, exactly."""
    if len(payload) < TENSOR_LIST_HEADER.size:
        raise ProtocolError(f"tensor list of {len(payload)} bytes has no header")
    count, _ = TENSOR_LIST_HEADER.unpack_from(payload)
    table_end = TENSOR_LIST_HEADER.size + 4 * count
    if len(payload) < table_end:
        raise ProtocolError(f"tensor list declares {count} tensors but ends inside its size table")
    sizes = struct.unpack_from(f"<{count}I", payload, TENSOR_LIST_HEADER.size)
    if table_end + sum(sizes) != len(payload):
        raise ProtocolError(f"tensor list declares {sum(sizes)} data bytes, carries {len(payload) - table_end}")
    tensors, offset = [], table_end
    for size in sizes:
        tensors.append(bytes(payload[offset : offset + size]))
        offset += size
    return tensors


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
            # Without a magic yet, only whole lines are taken (a line may still be arriving;
            # a magic may be split across reads).
            start = self.buffer.find(MAGIC)
            text_end = start if start >= 0 else self.buffer.rfind(b"\n") + 1
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
    outputs: list[bytes]  # one per model output, in the model's order
    microseconds: int


def infer_on_device(link: SerialLink, model_hash: bytes, inputs: list[bytes], output_sizes: list[int],
                    timeout: float = 10.0) -> DeviceAnswer:
    """Send every input tensor in one frame; the device's answer, every output tensor checked for size."""
    link.write(encode_frame(FRAME_INPUT, model_hash, encode_tensor_list(inputs)))
    frame = link.read_frame(timeout, max_payload=MICROSECONDS.size + max(tensor_list_size(output_sizes), 4096))
    if frame.type == FRAME_ERROR:
        raise ProtocolError(f"device error: {frame.payload.decode('ascii', 'replace')}")
    if frame.type != FRAME_OUTPUT:
        raise ProtocolError(f"unexpected frame type {frame.type}")
    if frame.model_hash != model_hash:
        raise ProtocolError("the device runs a different model (model hash differs)")
    if len(frame.payload) < MICROSECONDS.size:
        raise ProtocolError(f"output frame of {len(frame.payload)} bytes has no inference time")
    (microseconds,) = MICROSECONDS.unpack_from(frame.payload)
    outputs = decode_tensor_list(frame.payload[MICROSECONDS.size :])
    if len(outputs) != len(output_sizes):
        raise ProtocolError(f"output frame carries {len(outputs)} tensors, the model has {len(output_sizes)} outputs")
    for index, (output, size) in enumerate(zip(outputs, output_sizes)):
        if len(output) != size:
            raise ProtocolError(f"output {index} carries {len(output)} bytes, the model's has {size}")
    return DeviceAnswer(outputs, microseconds)
