"""The journal and snapshot file formats of `--state-dir`: framed, checksummed, checked on read.

A journal segment is a header (magic, format version) followed by records. Each record is framed
as ``length (8 bytes) | CRC-32 of the payload (4) | CRC-32 of those 12 bytes (4) | payload``, the
payload being a pickle of ``(sequence, entry)``. The frame's own checksum tells a length field
that was damaged from one that was written whole: a whole frame whose payload runs past the end of
the file is a write cut short by a kill (never acknowledged, dropped silently), while a frame that
fails its checksum, a payload that fails its CRC or does not unpickle, or a cut-short record that
is followed by another segment is damage, refused with the offset and what to do. A length is
never trusted before it is checked against the bytes actually left in the file, so a wild length
cannot allocate memory.

Payloads are read with a restricted unpickler: plain data (dict, list, str, bytes, numbers) and
the ``datetime`` types, nothing that can name and run other code.

A snapshot file is a header (magic, version, payload length, payload CRC-32) followed by the
pickle; it is written to a temporary name, fsynced and renamed in place, so a reader sees the
previous snapshot or the new one, whole.
"""

from __future__ import annotations

import datetime
import io
import os
import pickle
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

FORMAT_VERSION = 2
JOURNAL_MAGIC = b"LAWSJRNL"
SNAPSHOT_MAGIC = b"LAWSSNAP"
_FILE_HEADER = struct.Struct(">8sI")  # magic, format version
_SNAPSHOT_HEADER = struct.Struct(">8sIQI")  # magic, format version, payload length, payload CRC
_FRAME = struct.Struct(">QI")  # payload length, payload CRC
_FRAME_CHECK = struct.Struct(">I")  # CRC of the packed _FRAME
FRAME_SIZE = _FRAME.size + _FRAME_CHECK.size


class StateFileError(Exception):
    """A state file that cannot be used as it is; the message names the file and what to do."""


def journal_header() -> bytes:
    return _FILE_HEADER.pack(JOURNAL_MAGIC, FORMAT_VERSION)


def frame(sequence: int, entry: dict[str, Any]) -> bytes:
    """One journal record, ready to append."""
    payload = pickle.dumps((sequence, entry), protocol=pickle.HIGHEST_PROTOCOL)
    head = _FRAME.pack(len(payload), zlib.crc32(payload))
    return head + _FRAME_CHECK.pack(zlib.crc32(head)) + payload


class _DataOnlyUnpickler(pickle.Unpickler):
    """Refuses every global but the datetime types: a journal payload is data, never code."""

    _ALLOWED = {("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return getattr(datetime, name)
        raise pickle.UnpicklingError(f"a journal record may not refer to {module}.{name}")


def _load_payload(payload: bytes) -> Any:
    return _DataOnlyUnpickler(io.BytesIO(payload)).load()


@dataclass
class Damage:
    """Where a journal segment stops being readable, and why."""

    path: str
    offset: int
    reason: str
    size: int  # the file's size: bytes from offset to size are what --recover drops

    @property
    def dropped_bytes(self) -> int:
        return self.size - self.offset


@dataclass
class Segment:
    """What a read of one journal segment found."""

    path: str
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    damage: Damage | None = None
    cut_tail_bytes: int = 0  # a last record cut short by a kill: never acknowledged


def read_segment(path: str, is_last: bool) -> Segment:
    """Every record of one segment, checked; stops at the first damage (see `Segment.damage`).

    A record cut short at the end of the file is a tail dropped silently only when ``is_last``:
    in an earlier segment, nothing was written after it, so it is damage.
    """
    segment = Segment(path)
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(_FILE_HEADER.size)
        if len(head) < _FILE_HEADER.size:
            # Created but its header not yet written whole: a kill right after a rotation.
            if journal_header().startswith(head) and is_last:
                segment.cut_tail_bytes = len(head)
            elif head:
                segment.damage = Damage(path, 0, "it is too short to be a journal", size)
            return segment
        magic, version = _FILE_HEADER.unpack(head)
        if magic != JOURNAL_MAGIC:
            segment.damage = Damage(path, 0, "it does not start like a local_aws journal", size)
            return segment
        if version != FORMAT_VERSION:
            segment.damage = Damage(
                path,
                0,
                f"it was written by another version of local_aws (format {version}, "
                f"expected {FORMAT_VERSION})",
                size,
            )
            return segment
        for offset, record, problem in _frames(handle, size):
            if problem == "cut":
                if is_last:
                    segment.cut_tail_bytes = size - offset
                else:
                    segment.damage = Damage(
                        path, offset, "a record is cut short before the next segment", size
                    )
                return segment
            if problem:
                segment.damage = Damage(path, offset, problem, size)
                return segment
            sequence = record[0]
            if segment.records and sequence <= segment.records[-1][0]:
                segment.damage = Damage(path, offset, f"record {sequence} is out of order", size)
                return segment
            segment.records.append(record)
    return segment


def _frames(handle: BinaryIO, size: int) -> Iterator[tuple[int, Any, str]]:
    """(offset, (sequence, entry), problem) per record; problem is "", "cut" or a reason."""
    offset = handle.tell()
    while offset < size:
        left = size - offset
        if left < FRAME_SIZE:
            yield offset, None, "cut"
            return
        head = handle.read(_FRAME.size)
        (check,) = _FRAME_CHECK.unpack(handle.read(_FRAME_CHECK.size))
        if zlib.crc32(head) != check:
            yield offset, None, "a record's length field fails its checksum"
            return
        length, crc = _FRAME.unpack(head)
        if length > left - FRAME_SIZE:  # checked before any read: a length never allocates
            yield offset, None, "cut"
            return
        payload = handle.read(length)
        if zlib.crc32(payload) != crc:
            yield offset, None, "a record fails its CRC"
            return
        try:
            record = _load_payload(payload)
        except Exception as error:
            yield offset, None, f"a record does not unpickle ({error})"
            return
        if not (
            isinstance(record, tuple)
            and len(record) == 2
            and isinstance(record[0], int)
            and isinstance(record[1], dict)
        ):
            yield offset, None, "a record is not a (sequence, entry) pair"
            return
        yield offset, record, ""
        offset += FRAME_SIZE + length


# -- snapshots -----------------------------------------------------------------------------------
class _ChecksummingWriter:
    """A file wrapper that counts and checksums what passes through it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.crc = 0
        self.length = 0

    def write(self, data: bytes) -> int:
        self.crc = zlib.crc32(data, self.crc)
        self.length += len(data)
        return self.handle.write(data)


def write_snapshot(path: str, value: Any, dispatch_table: dict[Any, Any]) -> None:
    """Pickle ``value`` straight into ``path`` (0600), with its header, fsynced."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb", buffering=1 << 20) as handle:
        handle.write(b"\0" * _SNAPSHOT_HEADER.size)  # filled in once length and CRC are known
        writer = _ChecksummingWriter(handle)
        pickler = pickle.Pickler(writer, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[arg-type]
        pickler.dispatch_table = dispatch_table
        pickler.dump(value)
        handle.seek(0)
        handle.write(_SNAPSHOT_HEADER.pack(SNAPSHOT_MAGIC, FORMAT_VERSION, writer.length, writer.crc))
        handle.flush()
        os.fsync(handle.fileno())


def read_snapshot(path: str) -> Any:
    """The snapshot's value; StateFileError (naming the file and why) if it is not whole."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(_SNAPSHOT_HEADER.size)
        if head[:1] == b"\x80":  # a bare pickle: how local_aws wrote snapshots before format 2
            raise StateFileError(
                f"{path} was written by another version of local_aws (format 1, expected "
                f"{FORMAT_VERSION}); start that version on this state dir, or move the dir aside"
            )
        if len(head) < _SNAPSHOT_HEADER.size or head[:8] != SNAPSHOT_MAGIC:
            raise StateFileError(f"{path} is damaged: it does not start like a local_aws snapshot")
        _, version, length, crc = _SNAPSHOT_HEADER.unpack(head)
        if version != FORMAT_VERSION:
            raise StateFileError(
                f"{path} was written by another version of local_aws (format {version}, expected "
                f"{FORMAT_VERSION}); start that version on this state dir, or move the dir aside"
            )
        if length != size - _SNAPSHOT_HEADER.size:
            raise StateFileError(
                f"{path} is damaged: its header says {length} bytes, the file holds "
                f"{size - _SNAPSHOT_HEADER.size}"
            )
        payload = handle.read(length)
    if zlib.crc32(payload) != crc:
        raise StateFileError(f"{path} is damaged: its content fails its CRC")
    try:
        return pickle.loads(payload)
    except Exception as error:
        raise StateFileError(f"{path} is damaged: it does not unpickle ({error})") from None
