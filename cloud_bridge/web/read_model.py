"""What the API reads from the bridge's store, through a read-only connection of its own.

``ReadModel`` is the interface the API needs; ``SqliteReadModel`` implements it over the SQLite
store's file (``mode=ro``: it can never write, and WAL lets it read while the bridge commits).
``PostgresReadModel`` (``postgres_read_model.py``) implements it over the PostgreSQL store.

Each call opens its own connection, so calls may run on any thread (the API runs them on its
thread pool: a scan must never stall the bridge's event loop). Every method raises
``StoreError`` when the database cannot be read.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cloud_bridge.errors import StoreError
from cloud_bridge.store.records import BootSequences, LossRecord, loss_records
from protocols.topics import BODY_OF_STREAM, Stream

_COLUMNS = (
    "device_id, boot_id, sequence, stream, region, capture_time_ns, received_time_ns, "
    "historical, clock_suspect, body_json"
)
# How many of a device's newest lists are looked through for one of the kind asked for (a
# roadside unit interleaves its radars' own lists with the fused one).
KIND_SCAN = 64


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One stored message as the API returns it: its key, times and decoded body."""

    device_id: str
    boot_id: str
    sequence: int
    stream: str
    region: str
    capture_time_ns: int
    received_time_ns: int
    historical: bool
    clock_suspect: bool
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device's latest status, when it was last heard and its latest health report."""

    device_id: str
    region: str
    role: str
    liveness: str
    software_version: str
    status_time_ns: int
    last_seen_ns: int | None
    health: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of history ended: the sort key of its last row."""

    capture_time_ns: int
    device_id: str
    boot_id: str
    sequence: int

    def encode(self) -> str:
        raw = json.dumps(
            [self.capture_time_ns, self.device_id, self.boot_id, self.sequence],
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Raises ``ValueError`` for anything :meth:`encode` did not write."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            capture, device, boot, sequence = json.loads(raw)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as err:
            raise ValueError("not a cursor this API returned") from err
        ints_ok = all(
            isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63
            for v in (capture, sequence)
        )
        if not ints_ok or not isinstance(device, str) or not isinstance(boot, str):
            raise ValueError("not a cursor this API returned")
        if "\x00" in device or "\x00" in boot:  # no stored id has one; PostgreSQL refuses it
            raise ValueError("not a cursor this API returned")
        return cls(capture, device, boot, sequence)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Messages of one stream in a region, by capture time, optionally of one device/type."""

    region: str
    stream: Stream
    from_ns: int
    to_ns: int
    limit: int
    device_id: str | None = None
    event_type: str | None = None
    after: Cursor | None = None


class ReadModel(Protocol):
    """The queries behind the API; each is limited to one region.

    "Newest" is by capture time among messages whose capture time the bridge found plausible
    (not ``clock_suspect``): one dated 2100 by a clock glitch must not stay newest for ever,
    and capture time is what the PostgreSQL store indexes per device.
    """

    def devices(self, region: str, after: str | None, limit: int) -> list[DeviceRow]:
        """Devices with a status in ``region``, by id, those after ``after``."""

    def loss(self, region: str, device_id: str) -> list[LossRecord]:
        """Loss accounting per boot of one device of ``region``."""

    def latest(
        self, region: str, stream: Stream, device_id: str | None = None, kind: str | None = None
    ) -> list[MessageRow]:
        """The newest message of ``stream`` of each device of ``region`` (or of one device);
        for object lists only one of ``kind`` (an ``ObjectListKind`` name)."""

    def history(self, query: HistoryQuery) -> list[MessageRow]:
        """Up to ``query.limit`` messages in (capture time, device, boot, sequence) order."""


class SqliteReadModel:
    """:class:`ReadModel` over the SQLite store at ``path``, read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._uri = path.resolve().as_uri() + "?mode=ro"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self._uri, uri=True, timeout=5.0)) as db:
                yield db
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the store {self.path}: {err}") from err

    def devices(self, region: str, after: str | None, limit: int) -> list[DeviceRow]:
        with self._connect() as db:
            statuses = db.execute(
                "SELECT device_id, region, role, liveness, software_version, updated_time_ns "
                "FROM device_status WHERE region = ? AND device_id > ? ORDER BY device_id LIMIT ?",
                (region, after or "", limit),
            ).fetchall()
            rows = []
            for device_id, dev_region, role, liveness, version, updated in statuses:
                (last_seen,) = db.execute(
                    "SELECT MAX(received_time_ns) FROM messages WHERE device_id = ?",
                    (device_id,),
                ).fetchone()
                health = self._newest(db, region, Stream.HEALTH, device_id, None)
                rows.append(
                    DeviceRow(
                        device_id,
                        dev_region,
                        role,
                        liveness,
                        version,
                        updated,
                        last_seen,
                        None if health is None else health.body,
                    )
                )
            return rows

    def loss(self, region: str, device_id: str) -> list[LossRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT m.device_id, m.boot_id, MIN(m.sequence), MAX(m.sequence), COUNT(*), "
                "COALESCE(MAX(d.duplicates), 0) FROM messages AS m "
                "LEFT JOIN boot_duplicates AS d USING (device_id, boot_id) "
                # Statuses are numbered apart, from 2**62 up within each boot (the box's
                # uplink publisher): counted here they would make every boot look lossy.
                "WHERE m.device_id = ? AND m.region = ? AND m.stream != 'status' "
                "GROUP BY m.device_id, m.boot_id",
                (device_id, region),
            ).fetchall()
        return loss_records(BootSequences(*row) for row in rows)

    def latest(
        self, region: str, stream: Stream, device_id: str | None = None, kind: str | None = None
    ) -> list[MessageRow]:
        with self._connect() as db:
            if device_id is None:
                devices = [
                    d
                    for (d,) in db.execute(
                        "SELECT device_id FROM device_status WHERE region = ? ORDER BY device_id",
                        (region,),
                    )
                ]
            else:
                devices = [device_id]
            found = (self._newest(db, region, stream, d, kind) for d in devices)
            return [row for row in found if row is not None]

    def _newest(
        self,
        db: sqlite3.Connection,
        region: str,
        stream: Stream,
        device_id: str,
        kind: str | None,
    ) -> MessageRow | None:
        cursor = db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE device_id = ? AND region = ? AND stream = ? "
            "AND NOT clock_suspect ORDER BY capture_time_ns DESC, sequence DESC LIMIT ?",
            (device_id, region, stream.value, KIND_SCAN if kind else 1),
        )
        for raw in cursor:
            row = message_row(raw)
            if kind is None or row.body.get("kind", "OBJECT_LIST_KIND_UNSPECIFIED") == kind:
                return row
        return None

    def history(self, query: HistoryQuery) -> list[MessageRow]:
        where = ["region = ?", "stream = ?", "capture_time_ns BETWEEN ? AND ?"]
        args: list[object] = [query.region, query.stream.value, query.from_ns, query.to_ns]
        if query.device_id is not None:
            where.append("device_id = ?")
            args.append(query.device_id)
        if query.event_type is not None:
            if query.event_type == "EVENT_TYPE_UNSPECIFIED":  # a default is not in the JSON
                where.append("json_extract(body_json, '$.event.type') IS NULL")
            else:
                where.append("json_extract(body_json, '$.event.type') = ?")
                args.append(query.event_type)
        if query.after is not None:
            after = query.after
            where.append("(capture_time_ns, device_id, boot_id, sequence) > (?, ?, ?, ?)")
            args += [after.capture_time_ns, after.device_id, after.boot_id, after.sequence]
        sql = (
            f"SELECT {_COLUMNS} FROM messages WHERE {' AND '.join(where)} "
            "ORDER BY capture_time_ns, device_id, boot_id, sequence LIMIT ?"
        )
        with self._connect() as db:
            return [message_row(raw) for raw in db.execute(sql, (*args, query.limit))]


def message_row(raw: tuple[Any, ...]) -> MessageRow:
    """A row of (key, stream, region, times, flags, envelope JSON text or decoded dict)."""
    device_id, boot_id, sequence, stream, region, capture, received = raw[:7]
    historical, clock_suspect, body_json = raw[7:]
    body_name = BODY_OF_STREAM[Stream(stream)]  # the store holds validated streams only
    envelope = json.loads(body_json) if isinstance(body_json, str) else body_json
    return MessageRow(
        device_id,
        boot_id,
        sequence,
        stream,
        region,
        capture,
        received,
        bool(historical),
        bool(clock_suspect),
        envelope.get(body_name, {}),
    )


def cursor_of(row: MessageRow) -> Cursor:
    """The cursor that continues after ``row``."""
    return Cursor(row.capture_time_ns, row.device_id, row.boot_id, row.sequence)
