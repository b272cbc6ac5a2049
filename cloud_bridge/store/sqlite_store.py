"""A message store on SQLite (stdlib ``sqlite3``, WAL mode): messages, dead letters, status,
and loss accounting per device and boot: delivered and gaps from the stored keys, duplicates
counted in ``boot_duplicates`` (the write path pays only for a duplicate).

Bounded by construction where input decides the size: dead letters are capped in rows and bytes
(the oldest dropped first, counted in ``dead_letters_dropped``); messages are bounded upstream
(payload size limit, per-device flood limit). Device status follows the order of a device's
messages, never their timestamps (see :meth:`SqliteStore.store`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from google.protobuf.descriptor import EnumDescriptor

from cloud_bridge.body_json import body_json
from cloud_bridge.errors import StoreError
from cloud_bridge.recordings import json_view
from cloud_bridge.store.blocking_writer import BlockingBatchWriter
from cloud_bridge.store.records import (
    BootSequences,
    DeadLetter,
    DeviceStatusRecord,
    LossRecord,
    LossTotals,
    StoredMessage,
    loss_records,
    loss_totals,
)
from cloud_bridge.validation import Accepted
from hal.sqlite_wal import WalCheckpointer
from protocols.envelope import STATUS_SEQUENCE_BASE
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024
"""What the write-ahead log is truncated to after a checkpoint (a batch may grow it further)."""

CHECKPOINT_EVERY_COMMITS = 64
"""Batches between two background checkpoints (``hal.sqlite_wal``)."""

CHECKPOINT_EVERY_S = 0.5
"""And at least this often when anything was committed: in bench e2e (16 MB of WAL every
2.4 s, its 55 fused lists a second) some 3 MB a time."""

CHECKPOINT_CATCH_UP = 4
"""Checkpoints run again at once until one copied the whole WAL, at most this many more: each
copies what the writer committed during the one before, until one ends between two commits and
the WAL can start over. Where every checkpoint is slow (the guest of bench e2e), a batch lands
during each, no checkpoint copies the whole WAL, and it grows to the writer's own bound."""

WRITER_CHECKPOINT_BYTES = 64 * 1024 * 1024
"""The writer's own checkpoint, inside the commit that crosses it: only should the background
ones fall behind."""

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
    clock_suspect INTEGER NOT NULL DEFAULT 0,
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
    boot_id TEXT NOT NULL,
    sequence INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS device_boots (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    UNIQUE (device_id, boot_id)
);
CREATE TABLE IF NOT EXISTS boot_duplicates (
    device_id TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    duplicates INTEGER NOT NULL,
    PRIMARY KEY (device_id, boot_id)
);
"""

_COUNT_DUPLICATE = """
INSERT INTO boot_duplicates (device_id, boot_id, duplicates) VALUES (?, ?, 1)
ON CONFLICT (device_id, boot_id) DO UPDATE SET duplicates = duplicates + 1
"""

# Per boot from the primary key's index: a scan of it, fine for the embedded store's size.
_BOOT_SEQUENCES = """
SELECT m.device_id, m.boot_id, MIN(m.sequence), MAX(m.sequence), COUNT(*),
    COALESCE(MAX(d.duplicates), 0)
FROM messages AS m LEFT JOIN boot_duplicates AS d USING (device_id, boot_id)
"""

# Columns added after the first release: (table, column, definition), added to older files.
_ADDED_COLUMNS = (
    ("messages", "clock_suspect", "INTEGER NOT NULL DEFAULT 0"),
    ("device_status", "sequence", "INTEGER NOT NULL DEFAULT 0"),
)

# Bytes a dead letter holds: everything in it came from outside (a topic may be 64 KiB too).
_DEAD_LETTER_SIZE = "LENGTH(payload) + LENGTH(CAST(topic AS BLOB)) + LENGTH(CAST(detail AS BLOB))"

_INSERT_MESSAGE = """
INSERT INTO messages (device_id, boot_id, sequence, stream, region, topic, capture_time_ns,
    publish_time_ns, received_time_ns, historical, payload, body_json, clock_suspect)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, boot_id, sequence) DO NOTHING
"""

_UPSERT_STATUS = """
INSERT INTO device_status (device_id, region, liveness, role, software_version, updated_time_ns,
    boot_id, sequence)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id) DO UPDATE SET
    region = excluded.region, liveness = excluded.liveness, role = excluded.role,
    software_version = excluded.software_version, updated_time_ns = excluded.updated_time_ns,
    boot_id = excluded.boot_id, sequence = excluded.sequence
"""

_BOOT_RANK = "SELECT id FROM device_boots WHERE device_id = ? AND boot_id = ?"

_ONLINE = "LIVENESS_ONLINE"
_LOST = "LIVENESS_LOST"


class SqliteStore(contextlib.AbstractContextManager["SqliteStore", None]):
    """Messages, dead letters and device status in one SQLite file.

    A context manager; ``close()`` is idempotent. Writes outside :meth:`transaction` commit one
    by one; wrap a batch in ``with store.transaction():`` (or use :meth:`store_many`) to commit
    it at once. Not thread-safe: use it from the thread that opened it.

    At most ``max_dead_letters`` dead letters of at most ``max_dead_letter_bytes`` (payload,
    topic and detail) are kept; ``dead_letters_dropped`` counts those dropped since opening.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_dead_letters: int = 10_000,
        max_dead_letter_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        """Open (creating or upgrading if needed) the store at ``path``.

        Raises ``StoreError``, or ``ValueError`` for a cap below 1.
        """
        if max_dead_letters < 1 or max_dead_letter_bytes < 1:
            raise ValueError(
                f"dead-letter caps {max_dead_letters} rows, {max_dead_letter_bytes} bytes are "
                "not valid: use >= 1 each"
            )
        self.path = Path(path)
        self.max_dead_letters = max_dead_letters
        self.max_dead_letter_bytes = max_dead_letter_bytes
        self.dead_letters_dropped = 0
        self._dead_letter_rows = 0
        self._dead_letter_bytes = 0
        self._in_transaction = False
        self._checkpointer: WalCheckpointer | None = None
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so batching is explicit.
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None
            )
            # WAL lets readers (dashboard, demo) query while the bridge writes; NORMAL sync is
            # durable against a crash of the process, and only the last commits may be lost on
            # power loss, which the broker's QoS 1 redelivery does not cover either way.
            (journal,) = self._db.execute("PRAGMA journal_mode=WAL").fetchone()
            self._db.execute("PRAGMA synchronous=NORMAL")
            # A batch of large messages grows the WAL; without a limit it keeps that size on
            # disk for good. Truncated back to this after each checkpoint.
            self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
            # Checkpoints run on a thread of their own: in the commit that crossed 16 MB, the
            # copy and its fsyncs stood the event loop still, about half a second every 2.4 s
            # in bench e2e's guest (its fused lists). Not more often than SQLite's 1,000 pages
            # would: a batch rewrites about an index page per device, and each checkpoint
            # copies (and syncs) those pages again (measured with 1,000 devices at a 16 MB
            # bound against 1,000 pages: 2-3 us less CPU, 6-24 us less wall time a message).
            (page_size,) = self._db.execute("PRAGMA page_size").fetchone()
            self._db.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_BYTES // page_size}")
            self._db.executescript(_SCHEMA)
            _add_missing_columns(self._db)
            self._count_dead_letters()
            if journal == "wal":  # not for ":memory:"
                self._checkpointer = WalCheckpointer(
                    str(self.path),
                    "NORMAL",
                    CHECKPOINT_EVERY_COMMITS,
                    CHECKPOINT_EVERY_S,
                    name="bridge-store-checkpoint",
                    catch_up=CHECKPOINT_CATCH_UP,
                )
        except sqlite3.Error as err:
            raise StoreError(f"cannot open store {self.path}: {err}") from err

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
            if self._checkpointer is not None:
                self._checkpointer.close()
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
            self._recount_after_rollback()
            raise
        else:
            try:
                db.commit()
            except sqlite3.Error as err:
                db.rollback()
                self._recount_after_rollback()
                raise StoreError(f"cannot commit to {self.path}: {err}") from err
            if self._checkpointer is not None:
                self._checkpointer.committed()
        finally:
            self._in_transaction = False

    def batch_writer(self) -> BlockingBatchWriter:
        """The bridge's writer: this store's own calls, one transaction a batch."""
        return BlockingBatchWriter(self)

    def store(self, accepted: Accepted, received_time_ns: int) -> bool:
        """Store one accepted message; status messages also update ``device_status``.

        A device's status follows the order of its messages, never their capture times (one
        status dated 2100 by a clock glitch would otherwise hide every later one): a status
        of a boot first seen later wins over one of an earlier boot (boots are ranked in the
        order their first status arrived, so a restarted device wins at once, even with an
        outbox that started its sequence numbers over); within a boot, the higher sequence
        wins, except that ``LOST`` always replaces ``ONLINE``: the last will is sealed when
        the connection is made, so its sequence precedes the birth published after it.

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
            # json_format.MessageToJson's text, in about half its time; a recording chunk's
            # bytes only once, in the payload
            body_json(json_view(env)),
            int(accepted.clock_suspect),
        )
        with self.transaction():
            db = self._conn()
            try:
                inserted = db.execute(_INSERT_MESSAGE, row).rowcount == 1
                if not inserted:
                    db.execute(_COUNT_DUPLICATE, (env.device_id, env.boot_id))
                if inserted and topic.stream is Stream.STATUS:
                    _update_status(db, _status_row(accepted))
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
    ) -> int:
        """Record a rejected message with its reason; drop the oldest past the caps.

        Returns how many older dead letters were dropped to stay within the caps (also added
        to ``dead_letters_dropped``). Raises ``StoreError``.
        """
        # Topics come from outside: never let an unencodable character fail the write.
        safe_topic = topic.encode("utf-8", "backslashreplace").decode("utf-8")
        safe_detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")
        size = len(payload) + len(safe_topic.encode("utf-8")) + len(safe_detail.encode("utf-8"))
        with self.transaction():
            db = self._conn()
            try:
                db.execute(
                    "INSERT INTO dead_letters (received_time_ns, topic, reason, detail, payload) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (received_time_ns, safe_topic, reason, safe_detail, bytes(payload)),
                )
                self._dead_letter_rows += 1
                self._dead_letter_bytes += size
                dropped = self._trim_dead_letters(db)
            except sqlite3.Error as err:
                raise StoreError(f"cannot store a dead letter in {self.path}: {err}") from err
        self.dead_letters_dropped += dropped
        return dropped

    def dead_letter_usage(self) -> tuple[int, int]:
        """Dead letters kept now: (rows, bytes of payload, topic and detail)."""
        return self._dead_letter_rows, self._dead_letter_bytes

    def _trim_dead_letters(self, db: sqlite3.Connection) -> int:
        excess_rows = self._dead_letter_rows - self.max_dead_letters
        excess_bytes = self._dead_letter_bytes - self.max_dead_letter_bytes
        if excess_rows <= 0 and excess_bytes <= 0:
            return 0
        last_id, rows, freed = None, 0, 0
        for row_id, size in db.execute(
            f"SELECT id, {_DEAD_LETTER_SIZE} FROM dead_letters ORDER BY id"
        ):
            if rows >= excess_rows and freed >= excess_bytes:
                break
            last_id, rows, freed = row_id, rows + 1, freed + int(size)
        if last_id is None:
            return 0
        db.execute("DELETE FROM dead_letters WHERE id <= ?", (last_id,))
        self._dead_letter_rows -= rows
        self._dead_letter_bytes -= freed
        return rows

    def _count_dead_letters(self) -> None:
        row = (
            self._conn()
            .execute(f"SELECT COUNT(*), COALESCE(SUM({_DEAD_LETTER_SIZE}), 0) FROM dead_letters")
            .fetchone()
        )
        self._dead_letter_rows, self._dead_letter_bytes = int(row[0]), int(row[1])

    def _recount_after_rollback(self) -> None:
        # The running totals counted writes that were just undone. If even counting fails,
        # the caller is already handling an error and the next open counts again.
        with contextlib.suppress(sqlite3.Error):
            self._count_dead_letters()

    def count_messages(self, stream: str | None = None, device_id: str | None = None) -> int:
        """Number of stored messages, optionally of one stream and/or device."""
        where, args = _filters(stream=stream, device_id=device_id)
        return int(self._query(f"SELECT COUNT(*) FROM messages{where}", args)[0][0])

    def messages(
        self, device_id: str | None = None, region: str | None = None
    ) -> list[StoredMessage]:
        """Stored messages, optionally of one device and/or region, ordered by device, boot,
        sequence."""
        where, args = _filters(device_id=device_id, region=region)
        rows = self._query(
            "SELECT device_id, boot_id, sequence, stream, region, topic, capture_time_ns, "
            "publish_time_ns, received_time_ns, historical, payload, body_json, clock_suspect "
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
            "boot_id, sequence FROM device_status ORDER BY device_id",
            (),
        )
        return [DeviceStatusRecord(*row) for row in rows]

    def loss_accounting(self, device_id: str | None = None) -> list[LossRecord]:
        """Delivered, duplicate and missing counts per device and boot (see ``LossRecord``)."""
        where, args = _filters(**{"m.device_id": device_id})
        # Statuses are numbered apart from the messages (protocols.envelope): not counted.
        where = f"{where} AND" if where else " WHERE"
        rows = self._query(
            f"{_BOOT_SEQUENCES}{where} m.sequence < ? GROUP BY m.device_id, m.boot_id",
            (*args, STATUS_SEQUENCE_BASE),
        )
        return loss_records(BootSequences(*row) for row in rows)

    def loss_totals(self) -> LossTotals:
        """:meth:`loss_accounting` summed over every device and boot."""
        return loss_totals(self.loss_accounting())

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
    historical, payload, body_json, clock_suspect = row[9:]
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
        clock_suspect=bool(clock_suspect),
    )


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Upgrade a store written by an older bridge: add the columns it lacks."""
    for table, column, definition in _ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _update_status(db: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    """Make ``row`` (see :func:`_status_row`) the device's status if it supersedes the current."""
    device_id, liveness, boot_id, sequence = row[0], row[2], row[6], row[7]
    db.execute(
        "INSERT INTO device_boots (device_id, boot_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (device_id, boot_id),
    )
    current = db.execute(
        "SELECT boot_id, sequence, liveness FROM device_status WHERE device_id = ?", (device_id,)
    ).fetchone()
    if current is not None:
        current_boot, current_sequence, current_liveness = current
        if current_boot != boot_id:
            # A boot the device_boots table does not know (a store older than it) ranks first.
            (rank,) = db.execute(_BOOT_RANK, (device_id, boot_id)).fetchone()
            current_rank = db.execute(_BOOT_RANK, (device_id, current_boot)).fetchone()
            if current_rank is not None and rank < current_rank[0]:
                return
        elif sequence <= current_sequence and not (
            liveness == _LOST and current_liveness == _ONLINE
        ):
            return
    db.execute(_UPSERT_STATUS, row)


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
        env.sequence,
    )


def _enum_name(enum: EnumDescriptor, value: int) -> str:
    """The name of ``value``, or its number: proto3 enums are open, devices may send new values."""
    known = enum.values_by_number.get(value)
    return known.name if known is not None else str(value)
