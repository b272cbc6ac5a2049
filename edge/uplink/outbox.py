"""The durable outbox: every message is on disk before it is sent, and leaves only when acked.

SQLite in WAL mode, one file per device. A message gets its identity (boot id, sequence) when it
enters, so a message re-sent after a crash or an outage carries the same (device, boot,
sequence) and the bridge stores it once. Sequence numbers continue across restarts.

What was put, acknowledged or evicted since the last commit is held in memory and written in
one short transaction by ``commit()``; until then ``peek`` sees it as if it were stored. So a
commit that fails (a full, read-only or failing disk) loses nothing: the rows stay in memory,
the failure is counted and logged once, the next ``commit()`` tries again, and the box keeps
sending what it holds. Memory is bounded by ``MEMORY_MAX_BYTES`` of uncommitted bodies.

Bounds and eviction policy (``OutboxLimits``): when the outbox holds more than ``max_bytes`` or
messages older than ``max_age_s``, the oldest telemetry (state, objects, spat, health) goes
first, each eviction counted per stream and logged once per burst. Safety events are never
evicted for the soft bounds; only past ``hard_max_bytes`` are the oldest events dropped, and
that is logged as an error every time.

Disk space: the files (database and WAL) may also not take the filesystem below
``min_free_bytes`` of free space. Each commit reads the free space (one ``statvfs``); the less
room is left, the smaller the WAL may grow before the writer checkpoints it (down to
``MIN_WAL_PAGES``), since a large WAL on a small disk cannot be checkpointed into the database
file once the disk is full. Within ``TIGHT_ROOM_BYTES`` of the reserve the outbox stops growing:
each commit first evicts as much old committed telemetry as the new batch needs beyond the
file's free pages (SQLite reuses the pages of deleted rows), and checkpoints after committing.
A commit that fails anyway (``SQLITE_FULL``: another process filled the disk) is rolled back,
the WAL checkpointed, telemetry evicted, and the commit retried once before the batch is kept
in memory.

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

import contextlib
import heapq
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
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
fsyncs every ~2,700 commits instead of copying and syncing every ~330. On a filesystem with
less room, the bound shrinks with the room (a quarter of it), down to ``MIN_WAL_PAGES``."""

MIN_WAL_PAGES = 64
"""The smallest WAL bound (256 KiB at 4 KiB pages): what the WAL is kept at, and truncated back
to, when the disk is nearly full."""

TIGHT_ROOM_BYTES = 4 * MIN_WAL_PAGES * 4096
"""Free space above the reserve below which the outbox stops growing (1 MiB)."""

FLOOR_FREE_BYTES = 2 * MIN_WAL_PAGES * 4096
"""Free space the outbox leaves whatever ``min_free_bytes`` says (512 KiB): a checkpoint must be
able to copy the WAL into the database file, or the WAL can never start over."""

ROW_OVERHEAD_BYTES = 64
"""What a row costs on disk beyond its body (record header, columns, index entry): an estimate
for how much a commit will add."""

MEMORY_MAX_BYTES = 4 * 1024 * 1024
"""Uncommitted message bodies held in memory at most (while commits fail): past it the oldest
uncommitted telemetry goes, then, logged as errors, the oldest uncommitted events."""


BURST_GAP_S = 60.0
"""Evictions for one reason form a burst, logged once, until this long passes without one."""

EXPIRY_CHECK_S = 60.0
"""How often ``commit()`` applies the age bound (``max_age_s``)."""

RETRY_EVERY_S = 1.0
"""While commits fail, ``commit()`` tries again at most this often (each try writes the whole
batch held in memory)."""


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
    # Free space the outbox leaves on its filesystem (for SQLite's own needs, logs, the OS).
    min_free_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 0 < self.max_bytes <= self.hard_max_bytes:
            raise ValueError(
                f"need 0 < max_bytes ({self.max_bytes}) <= hard_max_bytes ({self.hard_max_bytes})"
            )
        if self.max_age_s <= 0:
            raise ValueError(f"max_age_s must be positive, got {self.max_age_s}")
        if self.min_free_bytes < 0:
            raise ValueError(f"min_free_bytes must be 0 or more, got {self.min_free_bytes}")


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

_Row = tuple[int, str, int, str, int, int, int, bytes]
"""An uncommitted row: id, stream, priority, boot id, sequence, capture time, enqueued time,
body (the table's columns, in order)."""

_Candidate = tuple[int, str, int, bool]
"""A row that eviction may drop: id, stream, body size, whether it is committed."""


class SqliteOutbox:
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
        self._pending: dict[int, _Row] = {}  # put, not yet committed, oldest first
        self._pending_bytes = 0
        self._deleting: dict[int, int] = {}  # committed rows acked or evicted -> body size
        self._last_eviction: dict[str, float] = {}  # per reason: when (monotonic)
        self._scanned: dict[str, int] = {}  # per eviction scan: the last committed id it took
        self._failing = 0  # consecutive failed commits
        self._retry_at = 0.0
        self._next_expiry_ns = 0  # when commit() next applies the age bound (clock_ns)
        self._checkpointer: _Checkpointer | None = None
        self._wal_pages = WRITER_CHECKPOINT_PAGES
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
                self._checkpointer = _Checkpointer(self._path, synchronous)
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
        """Evictions per reason, failed commits, and uncommitted messages, for health reports."""
        flat = {f"evicted_for.{reason}": n for reason, n in self.evicted_for.items()}
        flat["commit_failures"] = self.commit_failures
        flat["uncommitted"] = len(self._pending)
        return flat

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

    def _chunks(self) -> list[list[_Row]]:
        """The uncommitted rows in one transaction; in pieces that fit the smallest WAL when
        the disk is nearly full (each piece is checkpointed before the next)."""
        rows = list(self._pending.values())
        if not self._tight:
            return [rows]
        chunk = MIN_WAL_PAGES * self._page_size // 4
        chunks: list[list[_Row]] = [[]]
        size = 0
        for row in rows:
            if size > chunk:
                chunks.append([])
                size = 0
            chunks[-1].append(row)
            size += len(row[7]) + ROW_OVERHEAD_BYTES
        return chunks

    def _write(self, db: sqlite3.Connection, rows: list[_Row]) -> sqlite3.Error | None:
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
        try:
            fs = os.statvfs(self._directory)
        except OSError:
            return None  # the commit will tell what is wrong
        return fs.f_bavail * fs.f_frsize - max(self.limits.min_free_bytes, FLOOR_FREE_BYTES)

    def _batch_bytes(self) -> int:
        """About what the next commit adds to the files."""
        return self._pending_bytes + ROW_OVERHEAD_BYTES * len(self._pending)

    def _fit(self, db: sqlite3.Connection, room: int) -> None:
        """Size the WAL to the room left and, with little left, stop the files growing."""
        wal_pages = max(MIN_WAL_PAGES, min(WRITER_CHECKPOINT_PAGES, room // 4 // self._page_size))
        # Powers of two: the setting changes now and then, not at every commit.
        wal_pages = 1 << (wal_pages.bit_length() - 1)
        if wal_pages != self._wal_pages:
            self._wal_pages = wal_pages
            with contextlib.suppress(sqlite3.Error):
                db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
                # Below the normal bound, the WAL also gives back what it grew beyond it.
                limit = -1 if wal_pages == WRITER_CHECKPOINT_PAGES else wal_pages * self._page_size
                db.execute(f"PRAGMA journal_size_limit={limit}")
        batch = self._batch_bytes()
        self._tight = room < batch + TIGHT_ROOM_BYTES
        if not self._tight:
            return
        try:
            (free_pages,) = db.execute("PRAGMA freelist_count").fetchone()
        except sqlite3.Error:
            free_pages = 0
        try:
            wal_file = os.stat(self._path + "-wal").st_size
        except OSError:
            wal_file = 0
        # Rows fill B-tree pages only partly, and the index takes pages too: the batch needs
        # half as much again as its bodies, and only half of the free pages count. It needs
        # that twice when it does not fit in the WAL file as it is (which the checkpoint after
        # the last commit let start over): once in the WAL, once when copied into the database.
        pages = batch * 3 // 2
        need = pages + max(0, pages - wal_file)
        have = max(room, 0) + int(free_pages) * self._page_size // 2 + sum(self._deleting.values())
        if need > have:
            self._evict_committed(need - have, reason="disk_space")

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        """Copy the WAL into the database (outside a transaction); failing is no error."""
        with contextlib.suppress(sqlite3.Error):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def peek(self, limit: int) -> list[OutboxEntry]:
        """The next ``limit`` messages to send: by priority, then oldest first."""
        db = self._conn()
        skip = self._deleting
        try:
            rows = db.execute(
                "SELECT id, stream, priority, boot_id, sequence, capture_time_ns, body "
                "FROM outbox ORDER BY priority, id LIMIT ?",
                (limit + len(skip),),
            ).fetchall()
        except sqlite3.Error as err:
            raise UplinkError(f"cannot read the outbox at {self._path}: {err}") from err
        stored = [
            OutboxEntry(row[0], Stream(row[1]), row[2], row[3], row[4], row[5], row[6])
            for row in rows
            if row[0] not in skip
        ]
        if not self._pending:
            return stored[:limit]
        held = [
            OutboxEntry(row[0], Stream(row[1]), row[2], row[3], row[4], row[5], row[7])
            for row in heapq.nsmallest(limit, self._pending.values(), key=_send_order)
        ]
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
            try:
                row = db.execute(
                    "SELECT LENGTH(body) FROM outbox WHERE id = ?", (row_id,)
                ).fetchone()
            except sqlite3.Error as err:
                raise UplinkError(f"cannot read the outbox at {self._path}: {err}") from err
            if row is None:
                return
            size = int(row[0])
            self._deleting[row_id] = size
        self._bytes -= size
        self._rows -= 1

    def evict_expired(self) -> None:
        """Drop telemetry older than ``max_age_s`` (events stay), counted and logged."""
        cutoff = self._clock_ns() - int(self.limits.max_age_s * 1e9)
        stored = self._scan(
            None,
            f"AND stream IN ({_TELEMETRY_SQL}) AND enqueued_time_ns < ?",
            (cutoff,),
        )
        held = self._held(lambda row: row[1] in _TELEMETRY_VALUES and row[6] < cutoff)
        self._evict(_chain(stored, held), lambda: False, reason="max_age")

    def _evict_for_size(self) -> None:
        limits = self.limits
        telemetry = self._scan("telemetry", f"AND stream IN ({_TELEMETRY_SQL})", ())
        held = self._held(lambda row: row[1] in _TELEMETRY_VALUES)
        self._evict(
            _chain(telemetry, held),
            lambda: self._bytes <= limits.max_bytes,
            reason="max_bytes",
        )
        if self._bytes > limits.hard_max_bytes:
            self._evict(
                _chain(self._scan("all", "", ()), self._held(lambda row: True)),
                lambda: self._bytes <= limits.hard_max_bytes,
                reason="hard_max_bytes",
                level=logging.ERROR,
            )

    def _evict_committed(self, nbytes: int, *, reason: str) -> None:
        """Drop at least ``nbytes`` of the oldest committed telemetry (for disk space: what
        waits in memory is bounded by ``MEMORY_MAX_BYTES`` instead)."""
        goal = self._bytes - nbytes
        self._evict(
            self._scan("telemetry", f"AND stream IN ({_TELEMETRY_SQL})", ()),
            lambda: self._bytes <= goal,
            reason=reason,
        )

    def _evict_from_memory(self) -> None:
        """Keep uncommitted bodies under ``MEMORY_MAX_BYTES``: telemetry first, then events.

        Down to 3/4 of it, so that a long failure does not evict at every put.
        """
        goal = MEMORY_MAX_BYTES * 3 // 4

        def enough() -> bool:
            return self._pending_bytes <= goal

        telemetry = self._held(lambda row: row[1] in _TELEMETRY_VALUES)
        self._evict(telemetry, enough, reason="memory")
        if not enough():
            self._evict(self._held(lambda row: True), enough, reason="memory", level=logging.ERROR)

    def _scan(self, name: str | None, where: str, args: tuple[object, ...]) -> Iterator[_Candidate]:
        """Committed rows matching ``where``, oldest first; a named scan starts where it last
        stopped (eviction takes every row a scan yields, oldest first)."""
        start = self._scanned.get(name, 0) if name else 0
        try:
            rows = self._conn().execute(
                f"SELECT id, stream, LENGTH(body) FROM outbox WHERE id > ? {where} ORDER BY id",
                (start, *args),
            )
            for row_id, stream, size in rows:
                if row_id not in self._deleting:
                    if name:
                        self._scanned[name] = row_id
                    yield row_id, stream, size, True
        except sqlite3.Error as err:
            raise UplinkError(f"cannot read the outbox at {self._path}: {err}") from err

    def _held(self, match: Callable[[_Row], bool]) -> Iterator[_Candidate]:
        """Uncommitted rows for which ``match`` holds, oldest first."""
        for row in list(self._pending.values()):
            if match(row):
                yield row[0], row[1], len(row[7]), False

    def _evict(
        self,
        candidates: Iterable[_Candidate],
        enough: Callable[[], bool],
        *,
        reason: str,
        level: int = logging.WARNING,
    ) -> None:
        dropped: Counter[str] = Counter()
        rows = iter(candidates)
        # enough() before taking the next row: a scan takes every row it yields.
        while not enough():
            candidate = next(rows, None)
            if candidate is None:
                break
            row_id, stream, size, committed = candidate
            if committed:
                self._deleting[row_id] = size
            elif self._pending.pop(row_id, None) is not None:
                self._pending_bytes -= size
            else:
                continue
            self._bytes -= size
            self._rows -= 1
            dropped[stream] += 1
        if not dropped:
            return
        self.evicted.update(dropped)
        self.evicted_for[reason] += dropped.total()
        # Once per burst at WARNING (a long outage evicts continuously); events always at ERROR.
        now = time.monotonic()
        last = self._last_eviction.get(reason)
        if level >= logging.ERROR or last is None or now - last > BURST_GAP_S:
            log.log(level, "outbox %s: evicted %s", _WHY[reason], dict(dropped))
        self._last_eviction[reason] = now

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise UplinkError("the outbox is closed")
        return self._db


def _send_order(row: _Row) -> tuple[int, int]:
    return row[2], row[0]


def _chain(first: Iterator[_Candidate], second: Iterator[_Candidate]) -> Iterator[_Candidate]:
    # Committed rows are older than uncommitted ones: oldest first overall.
    yield from first
    yield from second


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
_TELEMETRY_VALUES = frozenset(s.value for s in TELEMETRY)

_WHY = {
    "max_bytes": "over max_bytes",
    "hard_max_bytes": "over hard_max_bytes",
    "max_age": "older than max_age_s",
    "disk_space": "filesystem nearly full (min_free_bytes)",
    "disk_full": "disk full",
    "memory": "uncommitted over MEMORY_MAX_BYTES (commits failing)",
}
"""Eviction reasons (health counters ``evicted_for.<reason>``) and how the log says them."""
