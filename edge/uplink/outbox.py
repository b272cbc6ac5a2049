"""The durable outbox: every message is on disk before it is sent, and leaves only when acked.

SQLite in WAL mode, one file per device. A message gets its identity (boot id, sequence) when it
enters, so a message re-sent after a crash or an outage carries the same (device, boot,
sequence) and the bridge stores it once. Sequence numbers continue across restarts.

Bounds and eviction policy (``OutboxLimits``): when the outbox holds more than ``max_bytes`` or
messages older than ``max_age_s``, the oldest telemetry (state, objects, spat, health) goes
first, each eviction counted per stream and logged once per burst. Safety events are never
evicted for the soft bounds; only past ``hard_max_bytes`` are the oldest events dropped, and
that is logged as an error every time.

Durability (``Durability``): ``full`` fsyncs at every commit (nothing acknowledged by
``commit()`` is lost on power failure); ``normal`` (the default) fsyncs at WAL checkpoints:
a power cut may lose the last commits, a killed process loses nothing; ``off`` leaves flushing
to the OS. ``roadgate bench uplink`` measures what each costs.

Checkpoints (copying the WAL back into the database file, with its fsyncs under ``normal`` and
``full``) run in a thread of their own, every ``CHECKPOINT_EVERY_COMMITS`` commits or
``CHECKPOINT_EVERY_S`` seconds: SQLite would otherwise run them inside whichever commit crosses
1,000 WAL pages, stalling the caller's event loop for the copy and two fsyncs every few hundred
commits (2-4 ms each time on an idle disk, over 100 ms on a busy one). The writer still
checkpoints by itself every ``WRITER_CHECKPOINT_PAGES``, 8 times less often, to bound the WAL.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from edge.errors import UplinkError
from protocols.topics import Stream

log = logging.getLogger("edge.outbox")

TELEMETRY = (Stream.STATE, Stream.OBJECTS, Stream.SPAT, Stream.HEALTH)
"""Streams whose oldest messages are evicted first: each is superseded by the next one."""


CHECKPOINT_EVERY_COMMITS = 256
"""Commits between two background checkpoints: about as often as SQLite's own default (1,000
WAL pages, ~330 of our 3-page commits); how many recent commits a power cut may lose under
``normal``."""

CHECKPOINT_EVERY_S = 1.0
"""At low rates, a checkpoint at least this often (when anything was committed)."""

WRITER_CHECKPOINT_PAGES = 8192
"""WAL pages after which the writing connection checkpoints by itself. Only that lets the WAL
start over from its beginning (SQLite restarts it only when a transaction begins on a fully
copied WAL, which a busy writer never sees from another thread), so this bounds the WAL file:
32 MiB at 4 KiB pages. The thread has copied nearly everything by then; the writer pays the
fsyncs every ~2,700 commits instead of copying and syncing every ~330."""


class Durability(StrEnum):
    """SQLite's ``synchronous`` setting: what a commit survives."""

    FULL = "full"
    NORMAL = "normal"
    OFF = "off"


@dataclass(frozen=True)
class OutboxLimits:
    max_bytes: int = 64 * 1024 * 1024
    max_age_s: float = 24 * 3600.0
    hard_max_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 0 < self.max_bytes <= self.hard_max_bytes:
            raise ValueError(
                f"need 0 < max_bytes ({self.max_bytes}) <= hard_max_bytes ({self.hard_max_bytes})"
            )
        if self.max_age_s <= 0:
            raise ValueError(f"max_age_s must be positive, got {self.max_age_s}")


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


class SqliteOutbox:
    """A device's durable outbox. Use as a context manager; ``close()`` is idempotent.

    Not thread-safe: use it from the event loop that owns it. ``path`` may be ``":memory:"``
    for a volatile outbox (tests, demos that need no durability).
    Raises ``UplinkError`` when the file cannot be opened or written.
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
        self.evicted: Counter[str] = Counter()
        self._evicting = False
        self._uncommitted = False
        self._checkpointer: _Checkpointer | None = None
        synchronous = durability.value.upper()
        try:
            self._db: sqlite3.Connection | None = sqlite3.connect(str(path), isolation_level=None)
            (journal,) = self._db.execute("PRAGMA journal_mode=WAL").fetchone()
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
            self._bytes, self._rows = self._db.execute(
                "SELECT COALESCE(SUM(LENGTH(body)), 0), COUNT(*) FROM outbox"
            ).fetchone()
            row = self._db.execute(
                "SELECT value FROM identity WHERE key = 'next_sequence'"
            ).fetchone()
            # Kept here and written once per commit rather than once per message.
            self._next_sequence = self._stored_sequence = int(row[0]) if row else 1
            if journal == "wal":  # not for ":memory:"
                self._db.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
                self._checkpointer = _Checkpointer(str(path), synchronous)
            # Always inside a transaction: puts and acks become durable together at commit().
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
        """Commit and close; harmless when already closed."""
        db, self._db = self._db, None
        if db is None:
            return
        try:
            if self._checkpointer is not None:
                self._checkpointer.close()
            self._write_sequence(db)
            db.execute("COMMIT")
        finally:
            db.close()

    @property
    def size_bytes(self) -> int:
        """Bytes of message bodies waiting."""
        return int(self._bytes)

    @property
    def uncommitted(self) -> bool:
        """Whether anything was put, acknowledged or evicted since the last commit."""
        return self._uncommitted

    def __len__(self) -> int:
        self._conn()
        return int(self._rows)

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
        """Add a message (uncommitted until ``commit()``); returns its row id."""
        cursor = self._conn().execute(
            "INSERT INTO outbox (stream, priority, boot_id, sequence, capture_time_ns, "
            "enqueued_time_ns, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (stream.value, priority, boot_id, sequence, capture_time_ns, self._clock_ns(), body),
        )
        self._bytes += len(body)
        self._rows += 1
        self._uncommitted = True
        if self._bytes > self.limits.max_bytes:
            self._evict_for_size()
        return int(cursor.lastrowid or 0)

    def commit(self) -> None:
        """Make everything put so far durable (as far as the durability setting promises)."""
        db = self._conn()
        try:
            sequence = self._write_sequence(db)
            db.execute("COMMIT")
            self._stored_sequence = sequence
            self._uncommitted = False
            db.execute("BEGIN")
        except sqlite3.Error as err:
            raise UplinkError(f"outbox commit failed: {err}") from err
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def _write_sequence(self, db: sqlite3.Connection) -> int:
        """Put the next sequence number into the transaction (if it moved); returns it."""
        sequence = self._next_sequence
        if sequence != self._stored_sequence:
            db.execute(
                "INSERT INTO identity (key, value) VALUES ('next_sequence', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (sequence,),
            )
        return sequence

    def peek(self, limit: int) -> list[OutboxEntry]:
        """The next ``limit`` messages to send: by priority, then oldest first."""
        rows = self._conn().execute(
            "SELECT id, stream, priority, boot_id, sequence, capture_time_ns, body FROM outbox "
            "ORDER BY priority, id LIMIT ?",
            (limit,),
        )
        return [
            OutboxEntry(row[0], Stream(row[1]), row[2], row[3], row[4], row[5], row[6])
            for row in rows
        ]

    def max_id(self) -> int:
        """The newest row id (0 when empty)."""
        (value,) = self._conn().execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
        return int(value)

    def ack(self, row_id: int) -> None:
        """The broker acknowledged ``row_id``: remove it (committed with the next commit)."""
        db = self._conn()
        row = db.execute("SELECT LENGTH(body) FROM outbox WHERE id = ?", (row_id,)).fetchone()
        if row is None:
            return
        db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        self._bytes -= int(row[0])
        self._rows -= 1
        self._uncommitted = True

    def evict_expired(self) -> None:
        """Drop telemetry older than ``max_age_s`` (events stay), counted and logged."""
        cutoff = self._clock_ns() - int(self.limits.max_age_s * 1e9)
        self._evict(
            "SELECT id, stream, LENGTH(body) FROM outbox WHERE enqueued_time_ns < ? "
            f"AND stream IN ({_TELEMETRY_SQL}) ORDER BY id",
            (cutoff,),
            lambda: False,
            why="older than max_age_s",
        )

    def _evict_for_size(self) -> None:
        limits = self.limits
        self._evict(
            f"SELECT id, stream, LENGTH(body) FROM outbox WHERE stream IN ({_TELEMETRY_SQL}) "
            "ORDER BY id",
            (),
            lambda: self._bytes <= limits.max_bytes,
            why="over max_bytes",
        )
        if self._bytes > limits.hard_max_bytes:
            self._evict(
                "SELECT id, stream, LENGTH(body) FROM outbox ORDER BY id",
                (),
                lambda: self._bytes <= limits.hard_max_bytes,
                why="over hard_max_bytes",
                level=logging.ERROR,
            )

    def _evict(
        self,
        query: str,
        args: tuple[object, ...],
        enough: Callable[[], bool],
        *,
        why: str,
        level: int = logging.WARNING,
    ) -> None:
        db = self._conn()
        dropped: Counter[str] = Counter()
        for row_id, stream, size in db.execute(query, args).fetchall():
            if enough():
                break
            db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
            self._bytes -= size
            self._rows -= 1
            self._uncommitted = True
            dropped[stream] += 1
        if not dropped:
            self._evicting = False
            return
        self.evicted.update(dropped)
        # Once per burst at WARNING (a long outage evicts continuously); events always at ERROR.
        if level >= logging.ERROR or not self._evicting:
            log.log(level, "outbox %s: evicted %s", why, dict(dropped))
        self._evicting = True

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise UplinkError("the outbox is closed")
        return self._db


class _Checkpointer:
    """Checkpoints the outbox's WAL from a thread of its own, on a connection of its own.

    The sqlite3 module releases the GIL while SQLite works, so the fsyncs of a checkpoint no
    longer stall the event loop that commits. PASSIVE: it never waits for the writer, which
    keeps appending to the WAL meanwhile; what it cannot copy yet, it copies next time.
    """

    def __init__(self, path: str, synchronous: str) -> None:
        self._path = path
        # The checkpointing connection's own setting decides whether the checkpoint fsyncs.
        self._synchronous = synchronous
        self._commits = 0  # written by the committing thread only
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="outbox-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """Count a commit (called by the committing thread)."""
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY_COMMITS == 0:
            self._wake.set()

    def close(self) -> None:
        """Stop the thread (the writer's close checkpoints what is left)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        done = 0
        failing = False
        db: sqlite3.Connection | None = None
        while not self._stopping:
            self._wake.wait(CHECKPOINT_EVERY_S)
            self._wake.clear()
            commits = self._commits
            if commits == done or self._stopping:
                continue
            try:
                if db is None:
                    db = sqlite3.connect(self._path, isolation_level=None)
                    db.execute(f"PRAGMA synchronous={self._synchronous}")
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                done, failing = commits, False
            except sqlite3.Error as err:
                # Not fatal: the writer checkpoints by itself past WRITER_CHECKPOINT_PAGES.
                if not failing:
                    log.warning("outbox checkpoint of %s failed: %s", self._path, err)
                failing = True
        if db is not None:
            db.close()


_TELEMETRY_SQL = ", ".join(f"'{s.value}'" for s in TELEMETRY)
