"""Flight-log cuts boxes uploaded (``record upload``), put back together from their stored
``recording`` chunks.

The bridge stores each chunk as any message (once per device, boot and sequence); this module
reads one capture's chunks from the store and reassembles the file, checking it against the
count, size and SHA-256 every chunk carries. An incomplete or inconsistent set is described
(which chunks are missing, which disagree) and yields no file.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError

from cloud_bridge.errors import StoreError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

MAX_LISTED = 20
"""Missing chunk numbers named in a description at most (the rest are counted)."""

_SQLITE_CHUNKS = f"""
SELECT payload FROM messages
WHERE device_id = ? AND stream = '{Stream.RECORDING.value}'
    AND json_extract(body_json, '$.recording_chunk.capture_id') = ?
"""
_POSTGRES_CHUNKS = f"""
SELECT payload FROM messages
WHERE device_id = %s AND stream = '{Stream.RECORDING.value}'
    AND body -> 'recording_chunk' ->> 'capture_id' = %s
"""


@dataclass(frozen=True)
class Reassembly:
    """One capture put back together: ``data`` is the file when every chunk is there and the
    whole matches its size and SHA-256; otherwise None, with ``missing`` chunk numbers and
    ``problems`` saying why."""

    capture_id: str
    count: int
    total_bytes: int
    sha256: bytes
    received: int
    missing: tuple[int, ...]
    problems: tuple[str, ...]
    data: bytes | None

    @property
    def complete(self) -> bool:
        return self.data is not None

    def describe(self) -> str:
        """One line for a person: what came, what is missing, what is wrong."""
        if self.count == 0:
            return f"capture {self.capture_id!r}: no chunks stored"
        head = f"capture {self.capture_id}: {self.received} of {self.count} chunks"
        if self.complete:
            return f"{head}, {self.total_bytes} bytes, sha256 {self.sha256.hex()} verified"
        parts = [head]
        if self.missing:
            listed = ", ".join(str(i) for i in self.missing[:MAX_LISTED])
            more = len(self.missing) - MAX_LISTED
            parts.append(
                f"missing {len(self.missing)}: {listed}" + (f" and {more} more" if more > 0 else "")
            )
        parts += self.problems
        return "; ".join(parts)


def reassemble(capture_id: str, chunks: Iterable[pb.RecordingChunk]) -> Reassembly:
    """Put ``chunks`` (of ``capture_id``, any order, duplicates allowed) back together.

    The first chunk's count, size and digest are the capture's; a chunk that disagrees, or a
    second one of a number with other bytes, is reported and left out. Never raises."""
    first: pb.RecordingChunk | None = None
    pieces: dict[int, pb.RecordingChunk] = {}
    problems: list[str] = []
    for chunk in chunks:
        if first is None:
            first = chunk
        if (chunk.count, chunk.total_bytes, chunk.sha256) != (
            first.count,
            first.total_bytes,
            first.sha256,
        ):
            problems.append(f"chunk {chunk.index} disagrees on the count, size or sha256")
            continue
        if chunk.index >= chunk.count:
            problems.append(f"chunk {chunk.index} is past the count {chunk.count}")
            continue
        known = pieces.setdefault(chunk.index, chunk)
        if (known.offset, known.data) != (chunk.offset, chunk.data):
            problems.append(f"chunk {chunk.index} came twice with other bytes")
    if first is None:
        return Reassembly(capture_id, 0, 0, b"", 0, (), ("no chunks stored",), None)
    missing = tuple(i for i in range(first.count) if i not in pieces)
    data = None
    if not missing and not problems:
        data, problem = _join(pieces, first.total_bytes, first.sha256)
        if problem is not None:
            problems.append(problem)
    return Reassembly(
        capture_id,
        first.count,
        first.total_bytes,
        first.sha256,
        len(pieces),
        missing,
        tuple(problems),
        data,
    )


def _join(
    pieces: dict[int, pb.RecordingChunk], total_bytes: int, sha256: bytes
) -> tuple[bytes | None, str | None]:
    parts: list[bytes] = []
    at = 0
    for index in sorted(pieces):
        chunk = pieces[index]
        if chunk.offset != at:
            return None, f"chunk {index} starts at byte {chunk.offset}, not {at}"
        parts.append(chunk.data)
        at += len(chunk.data)
    if at != total_bytes:
        return None, f"the chunks hold {at} bytes, not the {total_bytes} announced"
    data = b"".join(parts)
    if hashlib.sha256(data).digest() != sha256:
        return None, "the bytes do not match the sha256 announced (corrupted)"
    return data, None


def stored_chunks(
    store: Path | str, device_id: str, capture_id: str
) -> tuple[list[pb.RecordingChunk], int]:
    """The chunks of ``device_id``'s capture ``capture_id`` in the bridge's store (a SQLite
    file, or a ``postgresql://`` URL), and how many stored payloads could not be read.

    Raises ``StoreError`` when the store cannot be read."""
    payloads = (
        _postgres_payloads(store, device_id, capture_id)
        if isinstance(store, str)
        else _sqlite_payloads(store, device_id, capture_id)
    )
    chunks: list[pb.RecordingChunk] = []
    unreadable = 0
    for payload in payloads:
        try:
            envelope = pb.Envelope.FromString(payload)
        except DecodeError:
            unreadable += 1
            continue
        if envelope.WhichOneof("body") != "recording_chunk":
            unreadable += 1
            continue
        chunks.append(envelope.recording_chunk)
    return chunks, unreadable


def _sqlite_payloads(path: Path, device_id: str, capture_id: str) -> list[bytes]:
    if not path.is_file():
        raise StoreError(f"no store at {path}")
    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as db:
            rows = db.execute(_SQLITE_CHUNKS, (device_id, capture_id)).fetchall()
    except sqlite3.Error as err:
        raise StoreError(f"cannot read the store {path}: {err}") from err
    return [bytes(row[0]) for row in rows]


def _postgres_payloads(dsn: str, device_id: str, capture_id: str) -> list[bytes]:
    # Imported here: psycopg is needed only by bridges that use PostgreSQL.
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as db:
            rows = db.execute(_POSTGRES_CHUNKS, (device_id, capture_id)).fetchall()
    except psycopg.Error as err:
        raise StoreError(f"cannot read the store: {err}") from err
    return [bytes(row[0]) for row in rows]


def json_view(envelope: pb.Envelope) -> pb.Envelope:
    """``envelope`` as a store's JSON column should show it: a recording chunk without its
    ``data`` (kept once, in the stored payload; base64 in JSON would add a third again of
    it), everything else as it is. Returns ``envelope`` itself unless it is a chunk."""
    if envelope.WhichOneof("body") != "recording_chunk" or not envelope.recording_chunk.data:
        return envelope
    view = pb.Envelope()
    view.CopyFrom(envelope)
    view.recording_chunk.ClearField("data")
    return view
