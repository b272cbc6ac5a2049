"""The outbox's bounds and eviction policy (``OutboxLimits``), as a base class of ``SqliteOutbox``.

When the outbox holds more than ``max_bytes`` or messages older than ``max_age_s``, the oldest
telemetry (state, objects, spat, health, intersection) goes first, each eviction counted per
stream and logged once per burst. Safety events are never evicted for the soft bounds; only past
``hard_max_bytes`` are the oldest events dropped, and that is logged as an error every time.
While commits fail, uncommitted bodies are bounded by ``MEMORY_MAX_BYTES`` the same way.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from edge.errors import UplinkError
from protocols.topics import Stream

log = logging.getLogger("edge.outbox")

TELEMETRY = (Stream.STATE, Stream.OBJECTS, Stream.SPAT, Stream.HEALTH, Stream.INTERSECTION)
"""Streams whose oldest messages are evicted first: each is superseded by the next one."""

MEMORY_MAX_BYTES = 4 * 1024 * 1024
"""Uncommitted message bodies held in memory at most (while commits fail): past it the oldest
uncommitted telemetry goes, then, logged as errors, the oldest uncommitted events."""


BURST_GAP_S = 60.0
"""Evictions for one reason form a burst, logged once, until this long passes without one."""


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


OutboxRow = tuple[int, str, int, str, int, int, int, bytes]
"""An uncommitted row: id, stream, priority, boot id, sequence, capture time, enqueued time,
body (the table's columns, in order)."""

Candidate = tuple[int, str, int, bool]
"""A row that eviction may drop: id, stream, body size, whether it is committed."""


class OutboxEviction:
    """The eviction half of ``SqliteOutbox``: which rows go when a bound is crossed.

    Works on the outbox's bookkeeping, declared here and set up by ``SqliteOutbox``.
    """

    limits: OutboxLimits
    evicted: Counter[str]  # per stream
    evicted_for: Counter[str]  # per reason: which bound did it
    _path: str
    _clock_ns: Callable[[], int]
    _bytes: int
    _rows: int
    _pending: dict[int, OutboxRow]  # put, not yet committed, oldest first
    _pending_bytes: int
    _deleting: dict[int, int]  # committed rows acked or evicted -> body size
    _last_eviction: dict[str, float]  # per reason: when (monotonic)
    _scanned: dict[str, int]  # per eviction scan: the last committed id it took

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

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

    def _scan(self, name: str | None, where: str, args: tuple[object, ...]) -> Iterator[Candidate]:
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

    def _held(self, match: Callable[[OutboxRow], bool]) -> Iterator[Candidate]:
        """Uncommitted rows for which ``match`` holds, oldest first."""
        for row in list(self._pending.values()):
            if match(row):
                yield row[0], row[1], len(row[7]), False

    def _evict(
        self,
        candidates: Iterable[Candidate],
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


def _chain(first: Iterator[Candidate], second: Iterator[Candidate]) -> Iterator[Candidate]:
    # Committed rows are older than uncommitted ones: oldest first overall.
    yield from first
    yield from second


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
