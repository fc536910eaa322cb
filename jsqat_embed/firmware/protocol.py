"""Host side of the serial frame protocol (docs/protocol.md; the device side is
firmware_templates/common/jsqat_core.cc).

Frame: magic ``JSQF`` | version 4 | type | sequence number (uint16 LE) | first 8
bytes of the model's SHA-256 | payload length (uint32 LE) | payload | CRC-32 (zlib's,
LE) of everything before it. The host numbers its requests 1..65535 (then 1 again);
the device echoes the number in its answer (0 in an error frame about a line it could
not read), so a stale answer is never taken for the next sample's. Types: 1 input (host -> device: a tensor list of every model
input), 2 output (device -> host: uint32 LE microseconds, then a tensor list of
every model output), 3 error (ASCII text). A tensor list is uint16 count, uint16
reserved, count x uint32 byte sizes, then the tensors' bytes back to back in the
model's order.

On the wire each frame is one text line, ``JSQ:`` + base64 of the frame + newline:
7-bit printable ASCII without CR or LF, so a console that translates line endings,
strips the eighth bit or interleaves its own log lines cannot change a frame
undetected. Versions 1 and 2 (binary frames on the wire) and 3 (no sequence numbers)
are recognised and refused by name.

Everything the device sends is untrusted: the host keeps at most ``LOG_LINES`` log
lines of at most ``LOG_LINE_CHARS`` characters, holds at most one answer's frame
line (plus ``LINE_SLACK_BYTES`` of log text in front of it) of a line that has not
ended, and shows device text only after ``neutralise`` (no terminal escapes).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import select
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass

from jsqat_embed.errors import InputDataError, JsqatError

MAGIC = b"JSQF"
VERSION = 4
LINE_PREFIX = b"JSQ:"
FRAME_INPUT, FRAME_OUTPUT, FRAME_ERROR = 1, 2, 3
HEADER = struct.Struct("<4sBBH8sI")
TRAILER_BYTES = 4
TENSOR_LIST_HEADER = struct.Struct("<HH")
MICROSECONDS = struct.Struct("<I")
#: device log lines kept (the oldest are dropped), and the characters kept of each
LOG_LINES = 200
LOG_LINE_CHARS = 500
#: log text a console may write in front of a frame on the frame's own line
LINE_SLACK_BYTES = 4096
#: device text shown in an error message (an error frame's text)
DEVICE_TEXT_CHARS = 200


class ProtocolError(JsqatError):
    """A device answered with something that is not a valid frame, or not in time."""


class NotAFrameLine(ProtocolError):
    """A line holds the frame-line prefix but no frame at all (not base64, or no frame
    magic inside): a log line that happens to contain ``JSQ:``, or a frame line the
    link damaged beyond recognition."""


@dataclass
class Frame:
    type: int
    model_hash: bytes
    payload: bytes
    sequence: int = 0


def encode_frame(frame_type: int, model_hash: bytes, payload: bytes, sequence: int = 0) -> bytes:
    if len(model_hash) != 8:
        raise ValueError("model_hash must be the first 8 bytes of the model's SHA-256")
    if not 0 <= sequence <= 0xFFFF:
        raise ValueError(f"sequence number {sequence} does not fit 16 bits")
    head = HEADER.pack(MAGIC, VERSION, frame_type, sequence, model_hash, len(payload)) + payload
    return head + struct.pack("<I", zlib.crc32(head))


_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def neutralise(text: bytes, limit: int = LOG_LINE_CHARS) -> str:
    """Device text made safe to show on a terminal, cut to ``limit`` characters.

    UTF-8 is kept where it is printable; ANSI colour sequences (ESP-IDF colours its
    log) are dropped; every other control, format or invalid character (escape
    sequences, bidirectional overrides, backspace, bare CR) is shown as an escape
    such as ``\\x1b``, so a device cannot move the cursor, retitle or clear the user's
    terminal, or hide text.
    """
    raw = bytes(text[: 4 * limit + 16])  # enough for limit characters: never decode a flood whole
    decoded = _COLOUR.sub("", raw.decode("utf-8", "backslashreplace"))
    shown = "".join(ch if ch.isprintable() else _escape(ch) for ch in decoded)
    if len(shown) > limit or len(text) > len(raw):
        return f"{shown[:limit]}... ({len(text):,} bytes)"
    return shown


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


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
    magic, version, frame_type, sequence, model_hash, size = HEADER.unpack_from(buffer, start)
    if version != VERSION:
        which = ("(firmware built by an older jsqat-embed: rebuild and flash it)" if version < VERSION else
                 "(firmware built by a newer jsqat-embed: use that version, or rebuild the firmware with this one)")
        raise ProtocolError(f"frame version {version}, expected {VERSION} {which}")
    if size > max_payload:
        raise ProtocolError(f"frame declares {size} payload bytes, more than {max_payload}")
    end = start + HEADER.size + size + TRAILER_BYTES
    if len(buffer) < end:
        return None, start
    (crc,) = struct.unpack_from("<I", buffer, end - TRAILER_BYTES)
    if zlib.crc32(buffer[start : end - TRAILER_BYTES]) != crc:
        raise ProtocolError("frame CRC-32 mismatch")
    return Frame(frame_type, model_hash, buffer[start + HEADER.size : end - TRAILER_BYTES], sequence), end


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


def encode_frame_line(frame: bytes) -> bytes:
    """A frame as it travels: one line of text (``JSQ:`` + base64 + newline)."""
    return LINE_PREFIX + base64.b64encode(frame) + b"\n"


def decode_frame_line(line: bytes, max_payload: int = 1 << 24) -> Frame:
    """The frame in one received frame line (prefix included, line ending excluded)."""
    if not line.startswith(LINE_PREFIX):
        raise ValueError("not a frame line")
    try:
        frame = base64.b64decode(line[len(LINE_PREFIX):], validate=True)
    except binascii.Error as exc:
        raise NotAFrameLine(f"a frame line from the device is not base64 ({exc}): the link dropped or "
                            "changed characters") from exc
    if not frame.startswith(MAGIC):
        raise NotAFrameLine("a frame line from the device does not hold a frame")
    decoded, consumed = decode_frame(frame, max_payload)
    if decoded is None or consumed != len(frame):
        raise ProtocolError(f"a frame line from the device holds {len(frame)} bytes, not one whole frame")
    return decoded


#: the start of a binary (version 1 or 2) answer: magic, version, type output or error;
#: firmware built before frames were text lines
_BINARY_ANSWER = re.compile(re.escape(MAGIC) + rb"([\x01\x02])[\x02\x03]")
_LINE_END = re.compile(rb"[\r\n]")


class _FdPort:
    """A file descriptor as a port (a pty or pipe in tests): no line settings at all."""

    def __init__(self, fd: int, owns: bool):
        self.fd, self.owns = fd, owns

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            chunk = os.read(self.fd, 65536)
        except OSError as exc:  # EIO: the other side of a pty closed
            raise ProtocolError(f"the device closed the link ({exc.strerror or exc})") from exc
        if not chunk:
            raise ProtocolError("the device closed the link")
        return chunk

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def close(self) -> None:
        if self.owns:
            os.close(self.fd)


class _PySerialPort:
    """A serial port through pyserial (POSIX ttys, Windows COM ports, macOS /dev/cu.*)."""

    def __init__(self, serial_port):
        self.serial = serial_port

    def read(self, timeout: float) -> bytes:
        import serial

        self.serial.timeout = max(0.0, timeout)
        try:
            first = self.serial.read(1)  # waits up to timeout
            if not first:
                return b""
            waiting = self.serial.in_waiting
            return first + (self.serial.read(waiting) if waiting else b"")
        except serial.SerialException as exc:
            raise ProtocolError(f"the serial port failed: {exc}") from exc

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.serial.write(data)
            self.serial.flush()
        except serial.SerialException as exc:
            raise ProtocolError(f"the serial port failed: {exc}") from exc

    def close(self) -> None:
        self.serial.close()


class SerialLink:
    """A serial link to the device: frames as text lines out, frame lines and log lines in.

    ``SerialLink.open`` opens a port with pyserial (raw, 8N1, no flow control, DTR/RTS
    left as the OS set them so auto-reset circuits do not fire); ``SerialLink(fd)`` wraps
    any file descriptor.
    """

    def __init__(self, fd_or_port, owns: bool = True, baud: int | None = None):
        self.port = _FdPort(fd_or_port, owns) if isinstance(fd_or_port, int) else fd_or_port
        self.baud = baud  # for wire-time allowances in timeouts; None: as fast as it goes
        self.pending = bytearray()  # the line being received (bounded: see _take_lines)
        self._scanned = 0  # bytes of ``pending`` already searched for a line end
        self._skipping = False  # a line ran past the bound: its rest is dropped up to its end
        self.log: deque[str] = deque(maxlen=LOG_LINES)  # text lines the device printed between frames
        self.notes: deque[str] = deque(maxlen=LOG_LINES)  # what the host skipped, and why
        self.bytes_sent = self.bytes_received = 0
        self._sequence = 0

    @classmethod
    def open(cls, port: str, baud: int = 115200) -> "SerialLink":
        try:
            import serial
        except ImportError as exc:  # pragma: no cover - pyserial is a core dependency
            raise InputDataError("serial-verify needs pyserial: pip install pyserial") from exc
        device = serial.Serial()
        device.port, device.baudrate, device.timeout = port, baud, 0
        device.bytesize, device.parity, device.stopbits = serial.EIGHTBITS, serial.PARITY_NONE, serial.STOPBITS_ONE
        device.xonxoff = device.rtscts = device.dsrdtr = False
        # pyserial empties the input buffer on open (POSIX); keep what the device already
        # sent (its boot log with the self-test verdict, held by a USB CDC port or a pty).
        device._reset_input_buffer = lambda: None
        try:
            device.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InputDataError(f"cannot open serial port {port}: {reason}"
                                 + (" (is another program, such as idf.py monitor or a serial monitor, using it?)"
                                    if "busy" in str(reason).lower() or "access" in str(reason).lower() else "")) from exc
        return cls(_PySerialPort(device), baud=baud)

    def close(self) -> None:
        self.port.close()

    def write(self, data: bytes) -> None:
        """Raw bytes to the device (a frame must go through write_frame)."""
        self.port.write(data)
        self.bytes_sent += len(data)

    def write_frame(self, frame: bytes) -> None:
        """One frame as a text line; the leading newline ends any partial line the device holds."""
        self.write(b"\n" + encode_frame_line(frame))

    def wire_seconds(self, size: int) -> float:
        """Time ``size`` bytes take on the wire (10 bits a byte), 0 when the speed is unknown."""
        return 10 * size / self.baud if self.baud else 0.0

    def next_sequence(self) -> int:
        """The sequence number of the next request: 1..65535, then 1 again (0 is "unknown")."""
        self._sequence = self._sequence % 0xFFFF + 1
        return self._sequence

    @staticmethod
    def line_bound(max_payload: int) -> int:
        """The longest line that can still hold an answer of ``max_payload`` bytes: its frame
        line, after up to LINE_SLACK_BYTES of log text a console wrote in front of it."""
        frame = HEADER.size + max_payload + TRAILER_BYTES
        return LINE_SLACK_BYTES + len(LINE_PREFIX) + 4 * ((frame + 2) // 3)

    def _take_lines(self, max_payload: int) -> Frame | None:
        """Consume whole lines received so far: log lines are kept, a frame line is returned."""
        while True:
            found = _LINE_END.search(self.pending, self._scanned)
            if found is None:
                self._scanned = len(self.pending)
                if self._skipping:
                    self.pending.clear()
                    self._scanned = 0
                    return None
                self._refuse_binary_frames(self.pending)
                bound = self.line_bound(max_payload)
                if len(self.pending) > bound:  # a flood without line ends: keep its start, drop the rest
                    self._keep_log(self.pending)
                    self.notes.append(f"a device line ran past {bound:,} bytes without a line end; "
                                      "its rest was skipped")
                    self._skipping = True
                    self.pending.clear()
                    self._scanned = 0
                return None
            line = bytes(self.pending[: found.start()])
            del self.pending[: found.end()]
            self._scanned = 0
            if self._skipping:  # the end of a line already cut
                self._skipping = False
                continue
            frame = self._take_line(line, max_payload)
            if frame is not None:
                return frame

    def _take_line(self, line: bytes, max_payload: int) -> Frame | None:
        start = line.find(LINE_PREFIX)
        if start < 0:
            self._refuse_binary_frames(line)
            self._keep_log(line)
            return None
        try:
            frame = decode_frame_line(line[start:], max_payload)
        except NotAFrameLine as exc:  # a log line that contains the prefix; a real answer may follow
            self._keep_log(line)
            self.notes.append(f"a device line holding {LINE_PREFIX.decode()} was kept as a log line: {exc}")
            return None
        if start:  # a log write the console interleaved before the frame on the same line
            self._keep_log(line[:start])
        return frame

    def _keep_log(self, text: bytes) -> None:
        line = neutralise(text).strip()
        if line:
            self.log.append(line)

    @staticmethod
    def _refuse_binary_frames(data: bytes) -> None:
        found = _BINARY_ANSWER.search(data)
        if found:
            raise ProtocolError(f"the device answered with a binary protocol-version-{found.group(1)[0]} frame: its "
                                f"firmware was built by an older jsqat-embed; rebuild and flash it")

    def read_frame(self, timeout: float, max_payload: int = 1 << 24, wire: float = 0.0,
                   sequence: int | None = None) -> Frame:
        """The next frame; log lines before it are kept. ``wire``: seconds added to
        ``timeout`` for the bytes still to cross the link (named apart in the error).
        With ``sequence``, only the answer to that request (or an error frame about a
        line the device could not read, sequence 0) is returned; answers to earlier
        requests are skipped and noted in ``notes``."""
        deadline = time.monotonic() + timeout + wire
        while True:
            frame = self._take_lines(max_payload)
            if frame is not None:
                if sequence is None or frame.sequence == sequence or (frame.sequence == 0
                                                                      and frame.type == FRAME_ERROR):
                    return frame
                self.notes.append(f"skipped a stale answer (sequence {frame.sequence}) while waiting for the "
                                  f"answer to request {sequence}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(timeout, wire)
            if frame is None:
                chunk = self.port.read(remaining)
                self.bytes_received += len(chunk)
                self.pending += chunk

    def _timeout(self, timeout: float, wire: float) -> ProtocolError:
        detail = []
        if LINE_PREFIX in self.pending:
            detail.append(f"a frame line was arriving ({len(self.pending):,} characters so far): "
                          "give a longer --timeout or a higher --baud")
        elif self._skipping:
            detail.append("it was sending a line longer than any answer, without a line end")
        elif self.log:
            detail.append(f"its last line: '{self.log[-1][:120]}'")
        elif not self.bytes_received:
            detail.append("nothing was received: is the firmware flashed and running, the port and --baud right, "
                          "and no other program (idf.py monitor, a serial monitor) holding the port?")
        skipped = [note for note in self.notes if note.startswith(("a device line holding", "skipped a stale"))]
        if skipped:
            detail.append(f"{len(skipped)} line(s) skipped, the last: {skipped[-1]}")
        if not detail:
            detail.append(f"only {self.bytes_received:,} bytes of empty lines were received")
        allowance = f" (+ {wire:.1f} s on the wire at {self.baud} baud)" if wire >= 0.05 else ""
        return ProtocolError(f"no answer from the device within {timeout:.1f} s{allowance}; " + "; ".join(detail))


@dataclass
class DeviceAnswer:
    outputs: list[bytes]  # one per model output, in the model's order
    microseconds: int


def infer_on_device(link: SerialLink, model_hash: bytes, inputs: list[bytes], output_sizes: list[int],
                    timeout: float = 10.0) -> DeviceAnswer:
    """Send every input tensor in one frame; the device's answer, every output tensor checked for size.

    ``timeout`` is the device's allowance (inference and latency); the time the request
    and the answer take on the wire at the link's baud rate is added to it.
    """
    sequence = link.next_sequence()
    request = encode_frame(FRAME_INPUT, model_hash, encode_tensor_list(inputs), sequence)
    answer_payload = MICROSECONDS.size + tensor_list_size(output_sizes)
    link.write_frame(request)
    wire = link.wire_seconds(len(encode_frame_line(request)) + 1 + 4 * (answer_payload + 24) // 3 + 8)
    frame = link.read_frame(timeout, max_payload=max(answer_payload, 4096), wire=wire, sequence=sequence)
    if frame.type == FRAME_ERROR:
        raise ProtocolError(f"device error: {neutralise(frame.payload, DEVICE_TEXT_CHARS)}")
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
