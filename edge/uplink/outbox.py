"""The durable outbox: every message is on disk before it is sent, and leaves only when acked.

SQLite in WAL mode, one file per device. A message gets its identity (boot id, sequence) when it
enters, so a message re-sent after a crash or an outage carries the same (device, boot,
sequence) and the bridge stores it once. Sequence numbers continue across restarts.

What was put, acknowledged or evicted since the last commit is held in memory and written in
one short transaction by ``commit()``; until then ``peek`` sees it as if it were stored. So a
commit that fails (a full, read-only or failing disk) loses nothing: the rows stay in memory,
the failure is counted and logged once, the next ``commit()`` tries again, and the box keeps
sending what it holds. Memory is bounded by ``MEMORY_MAX_BYTES`` of uncommitted bodies.

The policies live beside this module, each in its own:

* ``outbox_eviction``: bounds (``OutboxLimits``) and which rows are evicted first;
* ``outbox_disk_space``: the free space the files leave, the WAL bound, and what a commit
  evicts to fit on a nearly full disk. A commit that fails anyway (``SQLITE_FULL``: another
  process filled the disk) is rolled back, the WAL checkpointed, telemetry evicted, and the
  commit retried once before the batch is kept in memory;
* ``outbox_checkpoint``: WAL checkpoints on a thread of their own.

Durability (``Durability``): ``full`` fsyncs at every commit (nothing acknowledged by
``commit()`` is lost on power failure); ``normal`` (the default) fsyncs at WAL checkpoints:
a power cut may lose the last commits, a killed process loses nothing; ``off`` leaves flushing
to the OS. ``roadgate bench uplink`` measures what each costs.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from edge.errors import UplinkError
from edge.uplink.outbox_checkpoint import (
    CHECKPOINT_EVERY_COMMITS,
    CHECKPOINT_EVERY_S,
    outbox_checkpointer,
)
from edge.uplink.outbox_disk_space import (
    ROW_OVERHEAD_BYTES,
    WRITER_CHECKPOINT_PAGES,
    bytes_short,
    is_tight,
    room_beyond_reserve,
    wal_bound_pages,
    wal_sized_pieces,
)
from edge.uplink.outbox_eviction import (
    MEMORY_MAX_BYTES,
    TELEMETRY,
    OutboxEviction,
    OutboxLimits,
    OutboxRow,
)
from hal.sqlite_wal import WalCheckpointer
from protocols.topics import Stream

__all__ = [
    "CHECKPOINT_EVERY_COMMITS",
    "CHECKPOINT_EVERY_S",
    "EXPIRY_CHECK_S",
    "MEMORY_MAX_BYTES",
    "RETRY_EVERY_S",
    "TELEMETRY",
    "WRITER_CHECKPOINT_PAGES",
    "Durability",
    "OutboxEntry",
    "OutboxLimits",
    "SqliteOutbox",
]

log = logging.getLogger("edge.outbox")


EXPIRY_CHECK_S = 60.0
"""How often ``commit()`` applies the age bound (``max_age_s``)."""

SIZES_KEPT = 4096
"""Body sizes of committed rows that ``peek`` returned, kept at most, so that ``ack`` needs no
read of the database for a row it sent (a row is sent right after it was peeked). Past this many
(rows peeked and never acknowledged) they are forgotten, and ``ack`` reads the size again."""

RESTART_AT = 0.75
"""The share of the WAL bound at which ``wal_restart_due`` says so (see there)."""

RETRY_EVERY_S = 1.0
"""While commits fail, ``commit()`` tries again at most this often (each try writes the whole
batch held in memory)."""


class Durability(StrEnum):
    """SQLite's ``synchronous`` setting: what a commit survives."""

    FULL = "full"
    NORMAL = "normal"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One message waiting to be sent: its row id and what goes on the wire."""

    row_id: int
    stream: Stream
    priority: int
    boot_id: str
    sequence: int
    capture_time_ns: int
    body: bytes  # the serialized Envelope, without publish time (set when sent)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    priority INTEGER NOT NULL,
    boot_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    capture_time_ns INTEGER NOT NULL,
    enqueued_time_ns INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_priority ON outbox (priority, id);
CREATE TABLE IF NOT EXISTS identity (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

_INSERT = (
    "INSERT INTO outbox (id, stream, priority, boot_id, sequence, capture_time_ns, "
    "enqueued_time_ns, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqliteOutbox(OutboxEviction):
    """A device's durable outbox. Use as a context manager; ``close()`` is idempotent.

    Not thread-safe: use it from the event loop that owns it. ``path`` may be ``":memory:"``
    for a volatile outbox (tests, demos that need no durability).
    Raises ``UplinkError`` when the file cannot be opened, or read later on.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        limits: OutboxLimits | None = None,
        durability: Durability = Durability.NORMAL,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.limits = limits or OutboxLimits()
        self._clock_ns = clock_ns
        self.evicted: Counter[str] = Counter()  # per stream
        self.evicted_for: Counter[str] = Counter()  # per reason: which bound did it
        self.commit_failures = 0
        self._path = str(path)
        self._pending: dict[int, OutboxRow] = {}  # put, not yet committed, oldest first
        self._pending_bytes = 0
        self._deleting: dict[int, int] = {}  # committed rows acked or evicted -> body size
        self._sizes: dict[int, int] = {}  # committed rows peeked -> body size (SIZES_KEPT)
        self._last_eviction: dict[str, float] = {}  # per reason: when (monotonic)
        self._scanned: dict[str, int] = {}  # per eviction scan: the last committed id it took
        self._failing = 0  # consecutive failed commits
        self._retry_at = 0.0
        self._next_expiry_ns = 0  # when commit() next applies the age bound (clock_ns)
        self._checkpointer: WalCheckpointer | None = None
        self._wal_pages = WRITER_CHECKPOINT_PAGES
        self._restarted_at = 0  # the checkpointer's commit count at checkpoint_wal()
        self._tight = False
        synchronous = durability.value.upper()
        try:
            self._db: sqlite3.Connection | None = sqlite3.connect(self._path, isolation_level=None)
            (journal,) = self._db.execute("PRAGMA journal_mode=WAL").fetchone()
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
            self._bytes, self._rows, last_id = self._db.execute(
                "SELECT COALESCE(SUM(LENGTH(body)), 0), COUNT(*), COALESCE(MAX(id), 0) FROM outbox"
            ).fetchone()
            self._next_id = int(last_id) + 1
            row = self._db.execute(
                "SELECT value FROM identity WHERE key = 'next_sequence'"
            ).fetchone()
            # Kept here and written once per commit rather than once per message.
            self._next_sequence = self._stored_sequence = int(row[0]) if row else 1
            (self._page_size,) = self._db.execute("PRAGMA page_size").fetchone()
            # Free space is measured where the files are (not for ":memory:", which has no WAL).
            self._directory = os.path.dirname(os.path.abspath(self._path))
            self._wal = journal == "wal"
            if self._wal:
                self._db.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
                self._checkpointer = outbox_checkpointer(self._path, synchronous)
            # Reads until the first commit share one transaction.
            self._db.execute("BEGIN")
        except sqlite3.Error as err:
            if self._checkpointer is not None:
                self._checkpointer.close()
            raise UplinkError(f"cannot open the outbox at {path}: {err}") from err

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Commit what is left and close; harmless when already closed. Never raises: what
        cannot be committed (a full or failing disk) is logged as lost."""
        db = self._db
        if db is None:
            return
        try:
            if self._checkpointer is not None:
                self._checkpointer.close()
            if self.uncommitted and not self._commit(db):
                log.error(
                    "outbox %s closed with %d messages not saved", self._path, len(self._pending)
                )
        finally:
            self._db = None
            with contextlib.suppress(sqlite3.Error):
                db.close()

    @property
    def size_bytes(self) -> int:
        """Bytes of message bodies waiting."""
        return int(self._bytes)

    @property
    def uncommitted(self) -> bool:
        """Whether anything was put, acknowledged or evicted since the last commit."""
        return bool(self._pending or self._deleting or self._next_sequence != self._stored_sequence)

    def __len__(self) -> int:
        self._conn()
        return int(self._rows)

    def counters(self) -> dict[str, int]:
        """Evictions per reason, failed commits, uncommitted messages and the age of the
        oldest waiting message (``oldest_age_ms``, 0 when none waits), for health reports."""
        flat = {f"evicted_for.{reason}": n for reason, n in self.evicted_for.items()}
        flat["commit_failures"] = self.commit_failures
        flat["uncommitted"] = len(self._pending)
        if self._db is not None:  # a closed outbox reports its counters still
            with contextlib.suppress(UplinkError):  # unreadable now: the age is left out
                oldest_ns = self.oldest_enqueued_ns()
                age_ns = 0 if oldest_ns is None else max(0, self._clock_ns() - oldest_ns)
                flat["oldest_age_ms"] = age_ns // 1_000_000
        return flat

    def oldest_enqueued_ns(self) -> int | None:
        """When the first message still waiting was put (``clock_ns``); None when none waits.

        Ids grow with every put, so the first waiting row is found by id (the primary key)
        past those acknowledged or evicted but not yet committed, without a scan.
        """
        db = self._conn()
        try:
            rows = db.execute(
                "SELECT id, enqueued_time_ns FROM outbox ORDER BY id LIMIT ?",
                (len(self._deleting) + 1,),
            ).fetchall()
        except sqlite3.Error as err:
            raise UplinkError(f"cannot read the outbox at {self._path}: {err}") from err
        for row_id, enqueued_ns in rows:
            if row_id not in self._deleting:
                return int(enqueued_ns)
        for row in self._pending.values():  # newer than every committed row
            return int(row[6])
        return None

    def next_sequence(self) -> int:
        """Take the device's next sequence number (persisted with the next commit)."""
        self._conn()
        sequence = self._next_sequence
        self._next_sequence += 1
        return sequence

    def put(
        self,
        stream: Stream,
        priority: int,
        boot_id: str,
        sequence: int,
        capture_time_ns: int,
        body: bytes,
    ) -> int:
        """Add a message (in memory until ``commit()``); returns its row id."""
        self._conn()
        row_id = self._next_id
        self._next_id += 1
        self._pending[row_id] = (
            row_id,
            stream.value,
            priority,
            boot_id,
            sequence,
            capture_time_ns,
            self._clock_ns(),
            body,
        )
        self._pending_bytes += len(body)
        self._bytes += len(body)
        self._rows += 1
        if self._bytes > self.limits.max_bytes:
            self._evict_for_size()
        if self._pending_bytes > MEMORY_MAX_BYTES:
            self._evict_from_memory()
        return row_id

    def commit(self) -> bool:
        """Make everything put, acknowledged and evicted so far durable (as far as the
        durability setting promises).

        Returns False when the disk refused it (full, read-only, failing): everything stays in
        memory (bounded by ``MEMORY_MAX_BYTES``) for the next ``commit()``, the failure is
        counted and logged once. Raises ``UplinkError`` only when the outbox is closed.
        """
        db = self._conn()
        now_ns = self._clock_ns()
        if now_ns >= self._next_expiry_ns:
            # The age bound is checked here, at most every EXPIRY_CHECK_S: commits keep coming
            # while a box produces, which is when an outage makes the backlog age.
            self._next_expiry_ns = now_ns + int(EXPIRY_CHECK_S * 1e9)
            self.evict_expired()
        if not self.uncommitted:
            return True
        if self._failing and time.monotonic() < self._retry_at:
            return False  # a failing disk is retried every RETRY_EVERY_S, not at every call
        return self._commit(db)

    def _commit(self, db: sqlite3.Connection) -> bool:
        room = self._room()
        if room is not None:
            self._fit(db, room)
        error = None
        for rows in self._chunks():
            error = self._write(db, rows)
            if error is not None and room is not None:
                # Make room and try once more: copy the WAL into the database so that the retry
                # writes over the WAL's old frames, and free pages for the rows to take.
                self._checkpoint(db)
                self._evict_committed(sum(len(row[7]) for row in rows), reason="disk_full")
                error = self._write(db, rows)
            if error is not None:
                break
            if self._tight:
                # The next transaction starts the WAL over only when it was copied completely.
                self._checkpoint(db)
            if self._checkpointer is not None:
                self._checkpointer.committed()
        if error is None:
            if self._failing:
                log.warning(
                    "outbox %s: commits again after %d failed attempts", self._path, self._failing
                )
                self._failing = 0
        else:
            self._failed(error)
        # Reads until the next commit share one transaction (one snapshot, no lock per read).
        with contextlib.suppress(sqlite3.Error):
            db.execute("BEGIN")
        return error is None

    def _chunks(self) -> list[list[OutboxRow]]:
        """The uncommitted rows in one transaction; in pieces that fit the smallest WAL when
        the disk is nearly full (each piece is checkpointed before the next)."""
        rows = list(self._pending.values())
        if not self._tight:
            return [rows]
        return wal_sized_pieces(rows, self._page_size)

    def _write(self, db: sqlite3.Connection, rows: list[OutboxRow]) -> sqlite3.Error | None:
        """Write ``rows``, the deletions and the sequence number in one transaction (deletions
        first, so that inserts reuse their pages); returns what failed (the transaction then
        rolled back and everything stays in memory), None when committed."""
        deleting = list(self._deleting)
        sequence = self._next_sequence
        try:
            if not db.in_transaction:
                db.execute("BEGIN")
            if deleting:
                db.executemany("DELETE FROM outbox WHERE id = ?", ((i,) for i in deleting))
            if rows:
                db.executemany(_INSERT, rows)
            if sequence != self._stored_sequence:
                db.execute(
                    "INSERT INTO identity (key, value) VALUES ('next_sequence', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (sequence,),
                )
            db.execute("COMMIT")
        except sqlite3.Error as err:
            # After SQLITE_FULL, SQLite may have rolled the transaction back already.
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            return err
        for row_id in deleting:
            del self._deleting[row_id]
            self._sizes.pop(row_id, None)  # evicted after it was peeked
        for row in rows:
            del self._pending[row[0]]
            self._pending_bytes -= len(row[7])
        self._stored_sequence = sequence
        return None

    def _failed(self, err: sqlite3.Error) -> None:
        self.commit_failures += 1
        self._retry_at = time.monotonic() + RETRY_EVERY_S
        if not self._failing:
            log.error(
                "outbox %s: commit failed (%s); %d messages kept in memory, retrying at each "
                "commit",
                self._path,
                err,
                len(self._pending),
            )
        self._failing += 1

    def _room(self) -> int | None:
        """Free bytes on the outbox's filesystem beyond the reserve; None without a file."""
        if not self._wal:
            return None
        return room_beyond_reserve(self._directory, self.limits.min_free_bytes)

    def _batch_bytes(self) -> int:
        """About what the next commit adds to the files."""
        return self._pending_bytes + ROW_OVERHEAD_BYTES * len(self._pending)

    def _fit(self, db: sqlite3.Connection, room: int) -> None:
        """Size the WAL to the room left and, with little left, stop the files growing."""
        wal_pages = wal_bound_pages(room, self._page_size)
        if wal_pages != self._wal_pages:
            self._wal_pages = wal_pages
            with contextlib.suppress(sqlite3.Error):
                db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
                # Below the normal bound, the WAL also gives back what it grew beyond it.
                limit = -1 if wal_pages == WRITER_CHECKPOINT_PAGES else wal_pages * self._page_size
                db.execute(f"PRAGMA journal_size_limit={limit}")
        batch = self._batch_bytes()
        self._tight = is_tight(room, batch)
        if not self._tight:
            return
        short = bytes_short(
            db,
            self._path + "-wal",
            room=room,
            batch_bytes=batch,
            page_size=self._page_size,
            freeing_bytes=sum(self._deleting.values()),
        )
        if short > 0:
            self._evict_committed(short, reason="disk_space")

    def wal_restart_due(self) -> bool:
        """The WAL has grown to ``RESTART_AT`` of its bound: ``checkpoint_wal()`` is due.

        The background checkpoints copy the WAL but cannot start it over: the writer appends
        to it while they run, so it is never copied completely when one ends, and it grows
        until the commit that crosses the bound checkpoints it itself, with two fsyncs, before
        that commit's messages can go (every 2-3 s at 1,000 messages/s). Only the writer's own
        checkpoint, with no commit beside it, lets the WAL start over; ``checkpoint_wal()`` is
        that checkpoint, at a moment of the caller's choosing: after its sends went out.
        """
        checkpointer = self._checkpointer
        if checkpointer is None or self._db is None or self._tight:
            return False
        frames, commits = checkpointer.measured
        return commits > self._restarted_at and frames >= self._wal_pages * RESTART_AT

    def checkpoint_wal(self) -> None:
        """Copy what is left of the WAL into the database, here, so that the next commit starts
        the WAL over (see ``wal_restart_due``). Failing, or a checkpoint of the background
        thread at the same moment, is no error: the next one, or SQLite's own at the bound,
        does it. Raises ``UplinkError`` only when the outbox is closed."""
        db = self._conn()
        if self._checkpointer is not None:
            self._restarted_at = self._checkpointer.commits
        with contextlib.suppress(sqlite3.Error):
            if db.in_transaction:  # the reads' transaction kept between commits: no writes
                db.execute("COMMIT")
            self._checkpoint(db)
            db.execute("BEGIN")

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        """Copy the WAL into the database (outside a transaction); failing is no error."""
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def peek(self, limit: int, exclude: Collection[int] = ()) -> list[OutboxEntry]:
        """The next ``limit`` messages to send, by priority, then oldest first, leaving out the
        rows in ``exclude`` (those in flight).

        Only the bodies of the rows returned are read: a sender that asked again for every row
        in flight read each of their bodies (a 27 KB fused list: seven overflow pages) at every
        refill, more the further the acknowledgements lagged."""
        db = self._conn()
        skip = self._deleting
        try:
            rows = db.execute(
                "SELECT id, stream, priority, boot_id, sequence, capture_time_ns, LENGTH(body) "
                "FROM outbox ORDER BY priority, id LIMIT ?",
                (limit + len(skip) + len(exclude),),
            ).fetchall()
            rows = [row for row in rows if row[0] not in skip and row[0] not in exclude][:limit]
            bodies = [
                db.execute("SELECT body FROM outbox WHERE id = ?", (row[0],)).fetchone()[0]
                for row in rows
            ]
        except sqlite3.Error as err:
            raise UplinkError(f"cannot read the outbox at {self._path}: {err}") from err
        sizes = self._sizes
        if len(sizes) > SIZES_KEPT:
            sizes.clear()
        stored = []
        for row, body in zip(rows, bodies, strict=True):
            sizes[row[0]] = row[6]
            stored.append(OutboxEntry(row[0], Stream(row[1]), row[2], row[3], row[4], row[5], body))
        if not self._pending:
            return stored
        held = [
            OutboxEntry(row[0], Stream(row[1]), row[2], row[3], row[4], row[5], row[7])
            for row in heapq.nsmallest(
                limit + len(exclude), self._pending.values(), key=_send_order
            )
            if row[0] not in exclude
        ][:limit]
        merged = heapq.merge(stored, held, key=lambda e: (e.priority, e.row_id))
        return [entry for entry, _ in zip(merged, range(limit), strict=False)]

    def max_id(self) -> int:
        """The newest row id (0 when empty)."""
        if self._pending:
            return next(reversed(self._pending))
        try:
            (value,) = self._conn().execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
        except sqlite3.Error as err:
            raise UplinkError(f"cannot read the outbox at {self._path}: {err}") from err
        return int(value)

    def ack(self, row_id: int) -> None:
        """The broker acknowledged ``row_id``: remove it (committed with the next commit)."""
        db = self._conn()
        held = self._pending.pop(row_id, None)
        if held is not None:
            size = len(held[7])
            self._pending_bytes -= size
        else:
            if row_id in self._deleting:
                return
            known = self._sizes.pop(row_id, None)  # peeked, so still stored: no read needed
            if known is None:
                try:
                    row = db.execute(
                        "SELECT LENGTH(body) FROM outbox WHERE id = ?", (row_id,)
                    ).fetchone()
                except sqlite3.Error as err:
                    raise UplinkError(f"cannot read the outbox at {self._path}: {err}") from err
                if row is None:
                    return
                known = int(row[0])
            size = known
            self._deleting[row_id] = size
        self._bytes -= size
        self._rows -= 1

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise UplinkError("the outbox is closed")
        return self._db


def _send_order(row: OutboxRow) -> tuple[int, int]:
    return row[2], row[0]
