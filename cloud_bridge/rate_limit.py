"""A per-device flood limit: token buckets in messages and bytes, keyed by the topic's device.

A message over its device's limit is counted (``rate_limited``) and neither stored nor
dead-lettered. It is still acknowledged to the broker, like every message the bridge handled:
dropping it is the decision, and a redelivery would only be dropped again. So a flood costs the
store nothing. The key is the device segment of the topic (a topic without one shares the key
``""``), so garbage is limited too and one device cannot rotate everyone's dead letters out.

Backlog needs its own allowance. A device replays what waited out an outage as fast as its link
allows, and whatever a bucket refused would be lost for good (the device deleted it when the
broker acknowledged it). Live messages may come ``burst_s`` seconds' worth at once; messages
marked ``historical`` draw instead on a backlog bucket of ``backlog_bytes`` (what a device's
outbox holds: 64 MiB by default), refilled at ``bytes_per_s``: a device cannot have queued more
than its outbox, nor faster than it may send live. Historical messages are limited in bytes
only: per-message costs are bounded by the bytes anyway, and backlog of small messages is
exactly what a long outage produces. A device that marks a flood ``historical`` gets the same
byte rate, after one outbox's worth.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    messages: float
    bytes: float
    backlog: float
    updated: float


class DeviceRateLimiter:
    """Token buckets per device: ``messages_per_s`` and ``bytes_per_s``, each ``burst_s`` deep.

    A device may send ``messages_per_s * burst_s`` live messages (and as many bytes) at once,
    then ``messages_per_s`` on average; historical (backlog) messages draw on ``backlog_bytes``
    refilled at ``bytes_per_s`` instead (see the module's docstring). At most ``max_devices``
    buckets are kept; the least recently seen device's bucket is forgotten first (a forgotten
    device starts again with full buckets), so made-up device ids cannot grow memory.
    ``clock`` is monotonic seconds (injectable for tests). Raises ``ValueError`` for a
    non-positive setting.
    """

    def __init__(
        self,
        messages_per_s: float,
        bytes_per_s: float,
        burst_s: float,
        backlog_bytes: float,
        *,
        max_devices: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("messages_per_s", messages_per_s),
            ("bytes_per_s", bytes_per_s),
            ("burst_s", burst_s),
            ("backlog_bytes", backlog_bytes),
            ("max_devices", max_devices),
        ):
            if not value > 0:  # also rejects NaN
                raise ValueError(f"rate limit {name} {value} is not valid: use > 0")
        self._messages_per_s = messages_per_s
        self._bytes_per_s = bytes_per_s
        self._max_messages = messages_per_s * burst_s
        self._max_bytes = bytes_per_s * burst_s
        self._max_backlog = backlog_bytes
        self._max_devices = max_devices
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, device_key: str, size_bytes: int, *, historical: bool = False) -> bool:
        """Take one message of ``size_bytes`` from ``device_key``'s buckets; False if over.

        ``historical`` messages (backlog replayed after an outage) take from the backlog bucket
        only. A refused message takes nothing, so a device that floods keeps getting its steady
        rate through rather than being shut out.
        """
        now = self._clock()
        bucket = self._buckets.get(device_key)
        if bucket is None:
            bucket = _Bucket(self._max_messages, self._max_bytes, self._max_backlog, now)
            self._buckets[device_key] = bucket
            if len(self._buckets) > self._max_devices:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(device_key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.messages = min(
                self._max_messages, bucket.messages + elapsed * self._messages_per_s
            )
            bucket.bytes = min(self._max_bytes, bucket.bytes + elapsed * self._bytes_per_s)
            bucket.backlog = min(self._max_backlog, bucket.backlog + elapsed * self._bytes_per_s)
            bucket.updated = now
        if historical:
            if bucket.backlog < size_bytes and bucket.backlog < self._max_backlog:
                return False
            bucket.backlog -= size_bytes
            return True
        # A message larger than the whole byte bucket passes when the bucket is full: the size
        # limit, not this, bounds a single message.
        if bucket.messages < 1 or (bucket.bytes < size_bytes and bucket.bytes < self._max_bytes):
            return False
        bucket.messages -= 1
        bucket.bytes -= size_bytes
        return True

    def __len__(self) -> int:
        """Devices currently tracked."""
        return len(self._buckets)


def device_key(topic: str) -> str:
    """The device segment of ``rg/v1/{region}/{device}/{stream}``; ``""`` for other topics."""
    parts = topic.split("/", 5)
    return parts[3] if len(parts) == 5 else ""
