"""Counters of the bridge and message rates per stream, read by summaries and ``/metrics``."""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class StreamActivity:
    """What one device stored on one stream: count and the wall time of the latest message."""

    device_id: str
    stream: str
    count: int
    last_received_time_ns: int


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """An immutable summary of :class:`BridgeStats` at one moment.

    ``rates`` are stored messages per second per stream over the last ``window_s`` seconds.
    ``rate_limited`` counts messages dropped by the per-device flood limit (not stored, not
    dead-lettered), ``clock_suspect`` stored messages whose capture time lay outside the window
    around the bridge's clock, ``dead_letters_dropped`` old dead letters dropped to keep the
    dead-letter table within its caps. ``loss_delivered``, ``loss_duplicates`` and
    ``loss_missing`` are the store's loss accounting summed over every device and boot (see
    :class:`cloud_bridge.store.LossRecord`; missing includes the gaps between boots), as of its
    last refresh (zero before the first).
    """

    received: int
    stored: int
    duplicates: int
    ignored: int
    rejected: Mapping[str, int]
    rates: Mapping[str, float]
    window_s: float
    activity: tuple[StreamActivity, ...]
    rate_limited: int = 0
    clock_suspect: int = 0
    dead_letters_dropped: int = 0
    loss_delivered: int = 0
    loss_duplicates: int = 0
    loss_missing: int = 0

    @property
    def rejected_total(self) -> int:
        """Rejected messages of all reasons."""
        return sum(self.rejected.values())


@dataclass(slots=True)
class _Activity:
    count: int = 0
    last_received_time_ns: int = 0


@dataclass(slots=True)
class _RateWindow:
    """Counts in fixed buckets of the monotonic clock; old buckets fall off the left."""

    buckets: deque[list[int]] = field(default_factory=deque)  # [bucket index, count]

    def add(self, bucket: int) -> None:
        if self.buckets and self.buckets[-1][0] == bucket:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([bucket, 1])

    def total_since(self, first_bucket: int) -> int:
        while self.buckets and self.buckets[0][0] < first_bucket:
            self.buckets.popleft()
        return sum(count for _, count in self.buckets)


class BridgeStats:
    """Counters updated by the bridge service; one instance per service.

    Takes the rate window (seconds), the bucket width of the window and a monotonic clock
    (seconds; injectable for tests). Not thread-safe: update and read it from the event loop.
    Raises ``ValueError`` when the window is not a positive multiple of the bucket width.
    """

    def __init__(
        self,
        window_s: float = 10.0,
        bucket_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if bucket_s <= 0 or window_s < bucket_s:
            raise ValueError(
                f"window_s {window_s} and bucket_s {bucket_s}: need 0 < bucket <= window"
            )
        self.window_s = window_s
        self._bucket_s = bucket_s
        self._buckets_per_window = max(1, math.ceil(window_s / bucket_s))
        self._clock = clock
        self.received = 0
        self.stored = 0
        self.duplicates = 0
        self.ignored = 0
        self.rate_limited = 0
        self.clock_suspect = 0
        self.dead_letters_dropped = 0
        self.loss: tuple[int, int, int] = (0, 0, 0)
        self.rejected: Counter[str] = Counter()
        self._activity: dict[tuple[str, str], _Activity] = {}
        self._rates: dict[str, _RateWindow] = {}

    def record_received(self) -> None:
        """One message arrived (before validation)."""
        self.received += 1

    def record_stored(self, device_id: str, stream: str, received_time_ns: int) -> None:
        """One message was stored (not a duplicate)."""
        self.stored += 1
        activity = self._activity.get((device_id, stream))
        if activity is None:
            activity = self._activity[(device_id, stream)] = _Activity()
        activity.count += 1
        activity.last_received_time_ns = received_time_ns
        window = self._rates.get(stream)
        if window is None:
            window = self._rates[stream] = _RateWindow()
        window.add(self._bucket())

    def record_duplicate(self) -> None:
        """One valid message was already stored."""
        self.duplicates += 1

    def record_rejected(self, reason: str) -> None:
        """One message was rejected (and dead-lettered) for ``reason``."""
        self.rejected[reason] += 1

    def record_ignored(self) -> None:
        """One message was deliberately not processed (e.g. downlink commands)."""
        self.ignored += 1

    def record_rate_limited(self) -> None:
        """One message was over its device's flood limit: dropped, neither stored nor rejected."""
        self.rate_limited += 1

    def record_clock_suspect(self) -> None:
        """One stored message had a capture time outside the window around the bridge's clock."""
        self.clock_suspect += 1

    def record_dead_letters_dropped(self, count: int) -> None:
        """``count`` old dead letters were dropped to keep the table within its caps."""
        self.dead_letters_dropped += count

    def record_loss(self, delivered: int, duplicates: int, missing: int) -> None:
        """The store's loss accounting totals, as just read from it."""
        self.loss = (delivered, duplicates, missing)

    def rate(self, stream: str) -> float:
        """Stored messages per second on ``stream`` over the last ``window_s`` seconds."""
        window = self._rates.get(stream)
        if window is None:
            return 0.0
        first = self._bucket() - self._buckets_per_window + 1
        return window.total_since(first) / (self._buckets_per_window * self._bucket_s)

    def snapshot(self) -> StatsSnapshot:
        """An immutable copy of every counter and the current rate of every stream."""
        return StatsSnapshot(
            received=self.received,
            stored=self.stored,
            duplicates=self.duplicates,
            ignored=self.ignored,
            rejected=MappingProxyType(dict(self.rejected)),
            rates=MappingProxyType({stream: self.rate(stream) for stream in self._rates}),
            window_s=self.window_s,
            activity=tuple(
                StreamActivity(device, stream, act.count, act.last_received_time_ns)
                for (device, stream), act in sorted(self._activity.items())
            ),
            rate_limited=self.rate_limited,
            clock_suspect=self.clock_suspect,
            dead_letters_dropped=self.dead_letters_dropped,
            loss_delivered=self.loss[0],
            loss_duplicates=self.loss[1],
            loss_missing=self.loss[2],
        )

    def _bucket(self) -> int:
        return math.floor(self._clock() / self._bucket_s)
