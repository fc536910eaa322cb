"""A small, bounds-checked FlatBuffers table reader.

The generated ``flatbuffers`` accessors trust the file: a bad offset gives a
``struct.error`` deep inside a getter, or a numpy view of garbage length. Here
every read is checked against the buffer first, so a truncated, bit-flipped or
hostile .tflite raises :class:`ModelFormatError` with the path of the field
being read, never a crash, a hang or a huge allocation.

Reads also draw on a budget proportional to the file size: a well-formed file
stores each table and vector once, so a file whose offsets make the same bytes
be decoded over and over (shared or looping references) runs out of budget
and is refused instead of taking unbounded time and memory.

Only the wire format lives here; which field means what is in the generated
``schema_tables.py``, applied by ``codec.py``.
"""

from __future__ import annotations

import struct

import numpy as np

from jsqat_embed.errors import ModelFormatError

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_SCALARS = {
    "bool": struct.Struct("<?"),
    "int8": struct.Struct("<b"),
    "uint8": _U8,
    "int16": struct.Struct("<h"),
    "uint16": _U16,
    "int32": _I32,
    "uint32": _U32,
    "int64": struct.Struct("<q"),
    "uint64": struct.Struct("<Q"),
    "float32": struct.Struct("<f"),
}


#: bytes of tables and vectors one file may make us decode, per byte of file
BUDGET_PER_BYTE = 4
BUDGET_SLACK = 1 << 16


class Buffer:
    """The raw bytes of a flatbuffer, with checked little-endian reads."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.size = len(data)
        self.remaining = BUDGET_PER_BYTE * self.size + BUDGET_SLACK

    def charge(self, length: int, what: str) -> None:
        """Count ``length`` decoded bytes against the budget."""
        self.remaining -= length
        if self.remaining < 0:
            raise ModelFormatError(
                f"{what}: the file's offsets make it decode far more data than the file holds "
                f"(shared or looping references)"
            )

    def check(self, offset: int, length: int, what: str) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ModelFormatError(
                f"{what}: bytes {offset}..{offset + length} lie outside the "
                f"{self.size}-byte file (truncated or corrupt)"
            )

    def scalar(self, kind: str, offset: int, what: str):
        fmt = _SCALARS[kind]
        self.check(offset, fmt.size, what)
        return fmt.unpack_from(self.data, offset)[0]

    def root(self) -> "Table":
        if self.size < 8:
            raise ModelFormatError(f"file is {self.size} bytes, too small to be a .tflite flatbuffer")
        return Table(self, self.scalar("uint32", 0, "root offset"), "Model")


class Table:
    """One flatbuffer table: fields are read by their schema slot number."""

    __slots__ = ("buf", "pos", "path", "_vtable", "_vtable_size")

    def __init__(self, buf: Buffer, pos: int, path: str) -> None:
        self.buf = buf
        self.pos = pos
        self.path = path
        soffset = buf.scalar("int32", pos, f"{path}: table header")
        vtable = pos - soffset
        vtable_size = buf.scalar("uint16", vtable, f"{path}: vtable size")
        if vtable_size < 4 or vtable_size % 2:
            raise ModelFormatError(f"{path}: vtable size {vtable_size} is invalid")
        buf.check(vtable, vtable_size, f"{path}: vtable")
        table_size = buf.scalar("uint16", vtable + 2, f"{path}: table size")
        buf.check(pos, max(table_size, 4), f"{path}: table body")
        buf.charge(max(table_size, 4), path)
        self._vtable = vtable
        self._vtable_size = vtable_size

    def _field(self, slot: int) -> int:
        entry = 4 + 2 * slot
        if entry >= self._vtable_size:
            return 0
        return self.buf.scalar("uint16", self._vtable + entry, f"{self.path}: vtable entry {slot}")

    def has(self, slot: int) -> bool:
        return self._field(slot) != 0

    def scalar(self, slot: int, kind: str, default=0):
        off = self._field(slot)
        if not off:
            return default
        return self.buf.scalar(kind, self.pos + off, f"{self.path}: field {slot}")

    def _indirect(self, slot: int, what: str) -> int | None:
        off = self._field(slot)
        if not off:
            return None
        at = self.pos + off
        target = at + self.buf.scalar("uint32", at, f"{self.path}.{what}: offset")
        self.buf.check(target, 4, f"{self.path}.{what}")
        return target

    def table(self, slot: int, what: str) -> "Table | None":
        target = self._indirect(slot, what)
        return None if target is None else Table(self.buf, target, f"{self.path}.{what}")

    def vector(self, slot: int, element_size: int, what: str) -> tuple[int, int] | None:
        """(start, count) of a vector field, checked against the file; None when absent."""
        target = self._indirect(slot, what)
        if target is None:
            return None
        count = self.buf.scalar("uint32", target, f"{self.path}.{what}: length")
        # The length is checked against the file before anything is allocated.
        self.buf.check(target + 4, count * element_size, f"{self.path}.{what} ({count} elements)")
        self.buf.charge(4 + count * element_size, f"{self.path}.{what}")
        return target + 4, count

    def string(self, slot: int, what: str) -> str | None:
        found = self.vector(slot, 1, what)
        if found is None:
            return None
        start, count = found
        return bytes(self.buf.data[start : start + count]).decode("utf-8", errors="replace")

    def bytes(self, slot: int, what: str) -> memoryview | None:
        found = self.vector(slot, 1, what)
        if found is None:
            return None
        start, count = found
        return self.buf.data[start : start + count]

    def array(self, slot: int, dtype: str, what: str) -> np.ndarray | None:
        """A vector of scalars as a (copied, little-endian) numpy array."""
        dt = np.dtype(dtype).newbyteorder("<")
        found = self.vector(slot, dt.itemsize, what)
        if found is None:
            return None
        start, count = found
        return np.frombuffer(self.buf.data, dtype=dt, count=count, offset=start).astype(dtype)

    def strings(self, slot: int, what: str, limit: int) -> list[str]:
        """A vector of strings."""
        found = self.vector(slot, 4, what)
        if found is None:
            return []
        start, count = found
        if count > limit:
            raise ModelFormatError(f"{self.path}.{what}: {count} entries exceed the limit of {limit}")
        out = []
        for i in range(count):
            at = start + 4 * i
            target = at + self.buf.scalar("uint32", at, f"{self.path}.{what}[{i}]")
            length = self.buf.scalar("uint32", target, f"{self.path}.{what}[{i}]: length")
            self.buf.check(target + 4, length, f"{self.path}.{what}[{i}]")
            self.buf.charge(4 + length, f"{self.path}.{what}[{i}]")
            out.append(bytes(self.buf.data[target + 4 : target + 4 + length]).decode("utf-8", errors="replace"))
        return out

    def tables(self, slot: int, what: str, limit: int) -> list["Table"]:
        found = self.vector(slot, 4, what)
        if found is None:
            return []
        start, count = found
        if count > limit:
            raise ModelFormatError(f"{self.path}.{what}: {count} entries exceed the limit of {limit}")
        out = []
        for i in range(count):
            at = start + 4 * i
            target = at + self.buf.scalar("uint32", at, f"{self.path}.{what}[{i}]")
            out.append(Table(self.buf, target, f"{self.path}.{what}[{i}]"))
        return out
