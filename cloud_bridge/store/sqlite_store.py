"""A message store on SQLite (stdlib ``sqlite3``, WAL mode): messages, dead letters, status."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor

from cloud_bridge.errors import StoreError
from cloud_bridge.validation import Accepted
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    device_id TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    stream TEXT NOT NULL,
    region TEXT NOT NULL,
    topic TEXT NOT NULL,
    capture_time_ns INTEGER NOT NULL,
    publish_time_ns INTEGER NOT NULL,
    received_time_ns INTEGER NOT NULL,
    historical INTEGER NOT NULL,
    payload BLOB NOT NULL,
    body_json TEXT NOT NULL,
    PRIMARY KEY (device_id, boot_id, sequence)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    received_time_ns INTEGER NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS device_status (
    device_id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    liveness TEXT NOT NULL,
    role TEXT NOT NULL,
    software_version TEXT NOT NULL,
    updated_time_ns INTEGER NOT NULL,
    boot_id TEXT NOT NULL
);
"""

_INSERT_MESSAGE = """
INSERT INTO messages (device_id, boot_id, sequence, stream, region, topic, capture_time_ns,
    publish_time_ns, received_time_ns, historical, payload, body_json)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, boot_id, sequence) DO NOTHING
"""

# Status messages can arrive out of order (retained birth replayed, backlog after an outage), so
# a row is only replaced by a status captured at the same time or later.
_UPSERT_STATUS = """
INSERT INTO device_status (device_id, region, liveness, role, software_version, updated_time_ns,
    boot_id)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id) DO UPDATE SET
    region = excluded.region, liveness = excluded.liveness, role = excluded.role,
    software_version = excluded.software_version, updated_time_ns = excluded.updated_time_ns,
    boot_id = excluded.boot_id
WHERE excluded.updated_time_ns >= device_status.updated_time_ns
"""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One row of ``messages``."""

    device_id: str
    boot_id: str
    sequence: int
    stream: str
    region: str
    topic: str
    capture_time_ns: int
    publish_time_ns: int
    received_time_ns: int
    historical: bool
    payload: bytes
    body_json: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One row of ``dead_letters``."""

    id: int
    received_time_ns: int
    topic: str
    reason: str
    detail: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class DeviceStatusRecord:
    """One row of ``device_status``: the latest status a device published."""

    device_id: str
    region: str
    liveness: str
    role: str
    software_version: str
    updated_time_ns: int
    boot_id: str


class SqliteStore:
    """Messages, dead letters and device status in one SQLite file.

    A context manager; ``close()`` is idempotent. Writes outside :meth:`transaction` commit one
    by one; wrap a batch in ``with store.transaction():`` (or use :meth:`store_many`) to commit
    it at once. Not thread-safe: use it from the thread that opened it.
    """

    def __init__(self, path: Path | str) -> None:
        """Open (creating if needed) the store at ``path``. Raises ``StoreError``."""
        self.path = Path(path)
        self._in_transaction = False
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so batching is explicit.
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None
            )
            # WAL lets readers (dashboard, demo) query while the bridge writes; NORMAL sync is
            # durable against a crash of the process, and only the last commits may be lost on
            # power loss, which the broker's QoS 1 redelivery does not cover either way.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open store {self.path}: {err}") from err

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._db is None

    def close(self) -> None:
        """Close the database; harmless when already closed."""
        if self._db is not None:
            db, self._db = self._db, None
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one transaction: commit on exit, roll back on an exception.

        Nested use joins the outer transaction. Raises ``StoreError`` if the commit fails.
        """
        db = self._conn()
        if self._in_transaction:
            yield
            return
        try:
            db.execute("BEGIN")
        except sqlite3.Error as err:
            raise StoreError(f"cannot begin a transaction on {self.path}: {err}") from err
        self._in_transaction = True
        try:
            yield
        except BaseException:
            db.rollback()
            raise
        else:
            try:
                db.commit()
            except sqlite3.Error as err:
                db.rollback()
                raise StoreError(f"cannot commit to {self.path}: {err}") from err
        finally:
            self._in_transaction = False

    def store(self, accepted: Accepted, received_time_ns: int) -> bool:
        """Store one accepted message; status messages also update ``device_status``.

        Returns False (and changes nothing) for a duplicate of (device, boot, sequence).
        Raises ``StoreError``.
        """
        env = accepted.envelope
        topic = accepted.topic
        row = (
            env.device_id,
            env.boot_id,
            env.sequence,
            topic.stream.value,
            topic.region,
            str(topic),
            env.capture_time_ns,
            env.publish_time_ns,
            received_time_ns,
            int(env.historical),
            accepted.payload,
            json_format.MessageToJson(env, preserving_proto_field_name=True, indent=None),
        )
        with self.transaction():
            db = self._conn()
            try:
                inserted = db.execute(_INSERT_MESSAGE, row).rowcount == 1
                if inserted and topic.stream is Stream.STATUS:
                    db.execute(_UPSERT_STATUS, _status_row(accepted))
            except sqlite3.Error as err:
                raise StoreError(f"cannot store a message in {self.path}: {err}") from err
        return inserted

    def store_many(self, items: Iterable[tuple[Accepted, int]]) -> list[bool]:
        """Store ``(accepted, received_time_ns)`` pairs in one transaction.

        Returns one bool per item as :meth:`store` does. Raises ``StoreError``.
        """
        with self.transaction():
            return [self.store(accepted, received) for accepted, received in items]

    def dead_letter(
        self, topic: str, payload: bytes, reason: str, detail: str, received_time_ns: int
    ) -> None:
        """Record a rejected message with its reason. Raises ``StoreError``."""
        # Topics come from outside: never let an unencodable character fail the write.
        safe_topic = topic.encode("utf-8", "backslashreplace").decode("utf-8")
        safe_detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")
        with self.transaction():
            try:
                self._conn().execute(
                    "INSERT INTO dead_letters (received_time_ns, topic, reason, detail, payload) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (received_time_ns, safe_topic, reason, safe_detail, bytes(payload)),
                )
            except sqlite3.Error as err:
                raise StoreError(f"cannot store a dead letter in {self.path}: {err}") from err

    def count_messages(self, stream: str | None = None, device_id: str | None = None) -> int:
        """Number of stored messages, optionally of one stream and/or device."""
        where, args = _filters(stream=stream, device_id=device_id)
        return int(self._query(f"SELECT COUNT(*) FROM messages{where}", args)[0][0])

    def messages(self, device_id: str | None = None) -> list[StoredMessage]:
        """Stored messages, optionally of one device, ordered by device, boot, sequence."""
        where, args = _filters(device_id=device_id)
        rows = self._query(
            "SELECT device_id, boot_id, sequence, stream, region, topic, capture_time_ns, "
            "publish_time_ns, received_time_ns, historical, payload, body_json "
            f"FROM messages{where} ORDER BY device_id, boot_id, sequence",
            args,
        )
        return [_message_from_row(row) for row in rows]

    def dead_letters(self) -> list[DeadLetter]:
        """All dead letters in the order they were recorded."""
        rows = self._query(
            "SELECT id, received_time_ns, topic, reason, detail, payload FROM dead_letters "
            "ORDER BY id",
            (),
        )
        return [DeadLetter(*row) for row in rows]

    def dead_letter_reasons(self) -> dict[str, int]:
        """Number of dead letters per reason."""
        rows = self._query("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason", ())
        return {str(reason): int(count) for reason, count in rows}

    def device_statuses(self) -> list[DeviceStatusRecord]:
        """The latest status of every device that published one, ordered by device id."""
        rows = self._query(
            "SELECT device_id, region, liveness, role, software_version, updated_time_ns, "
            "boot_id FROM device_status ORDER BY device_id",
            (),
        )
        return [DeviceStatusRecord(*row) for row in rows]

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"store {self.path} is closed")
        return self._db

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn().execute(sql, args).fetchall())
        except sqlite3.Error as err:
            raise StoreError(f"cannot query {self.path}: {err}") from err


def _filters(**columns: str | None) -> tuple[str, tuple[object, ...]]:
    """A WHERE clause for the given non-None column values (names are ours, never input)."""
    used = {name: value for name, value in columns.items() if value is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{name} = ?" for name in used), tuple(used.values())


def _message_from_row(row: tuple[Any, ...]) -> StoredMessage:
    (device_id, boot_id, sequence, stream, region, topic, capture, publish, received) = row[:9]
    historical, payload, body_json = row[9:]
    return StoredMessage(
        device_id=device_id,
        boot_id=boot_id,
        sequence=sequence,
        stream=stream,
        region=region,
        topic=topic,
        capture_time_ns=capture,
        publish_time_ns=publish,
        received_time_ns=received,
        historical=bool(historical),
        payload=payload,
        body_json=body_json,
    )


def _status_row(accepted: Accepted) -> tuple[object, ...]:
    env = accepted.envelope
    return (
        env.device_id,
        accepted.topic.region,
        _enum_name(pb.Liveness.DESCRIPTOR, env.status.liveness),
        _enum_name(pb.DeviceRole.DESCRIPTOR, env.status.role),
        env.status.software_version,
        env.capture_time_ns,
        env.boot_id,
    )


def _enum_name(enum: EnumDescriptor, value: int) -> str:
    """The name of ``value``, or its number: proto3 enums are open, devices may send new values."""
    known = enum.values_by_number.get(value)
    return known.name if known is not None else str(value)
