"""What both pipelines share: decoder roles, periodic tasks and the health report."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from google.protobuf.message import Message

from edge.vehicle.state_estimator import Decoded, Fix
from protocols.envelope import non_finite_fields
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("edge.pipelines")


class FrameDecoder(Protocol):
    """Decodes a frame batch into per-message columns (``protocols.dbc``'s vector decoder)."""

    @property
    def rejects(self) -> Mapping[str, int]:
        """Frames not decoded, by reason (``short_frame``, ``unknown_id``...)."""
        ...

    def decode_batch(self, batch: Any) -> Mapping[str, Decoded]: ...


class FixSource(Protocol):
    """Turns NMEA lines into fixes (``protocols.nmea``'s assembler)."""

    @property
    def rejects(self) -> Mapping[str, int]:
        """Sentences not used, by reason (``checksum``, ``malformed``...)."""
        ...

    def feed(self, line: bytes) -> Fix | None: ...


CounterSource = Callable[[], Mapping[str, int]]


class HasCounters(Protocol):
    @property
    def counters(self) -> Mapping[str, int]: ...


def counters_of(component: HasCounters) -> CounterSource:
    """A counter source reading ``component.counters`` at report time."""
    return lambda: component.counters


async def every(period_s: float, action: Callable[[], Awaitable[None] | None]) -> None:
    """Run ``action`` every ``period_s`` seconds on a fixed schedule (no drift) until cancelled."""
    loop = asyncio.get_running_loop()
    next_time = loop.time()
    while True:
        result = action()
        if result is not None:
            await result
        next_time += period_s
        delay = next_time - loop.time()
        if delay < 0:  # fell behind (a stalled loop): skip missed ticks rather than burst
            next_time = loop.time()
            delay = 0
        await asyncio.sleep(delay)


class PublishGuard:
    """The last check before a body is sealed into an Envelope and published.

    A body holding NaN or an infinity in any float field is refused: never published, counted
    in ``counters`` (``non_finite`` and ``non_finite.<BodyType>``, carried by health reports)
    and logged once per burst (at the first refusal, and once when that body type is
    publishable again). The sources drop bad values themselves; this guard is what keeps a
    value they missed from reaching the cloud and the radio.
    """

    def __init__(self, device_id: str) -> None:
        self._device_id = device_id
        self.counters: Counter[str] = Counter()
        self._refusing: set[str] = set()  # body types whose last body was refused

    def admit(self, body: Message) -> bool:
        """True when ``body`` may be published; False (counted, maybe logged) when not."""
        bad = non_finite_fields(body)
        kind = body.DESCRIPTOR.name
        if not bad:
            if kind in self._refusing:
                self._refusing.discard(kind)
                log.info("%s: %s values are finite again", self._device_id, kind)
            return True
        self.counters["non_finite"] += 1
        self.counters[f"non_finite.{kind}"] += 1
        if kind not in self._refusing:
            self._refusing.add(kind)
            log.warning(
                "%s: not publishing %s with non-finite %s (logged once per burst)",
                self._device_id,
                kind,
                ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""),
            )
        return False


class HealthReport:
    """Collects counters from every stage into a DeviceHealth message."""

    def __init__(self, sources: Mapping[str, CounterSource]) -> None:
        self._sources = dict(sources)
        self._started = time.monotonic()

    def add(self, prefix: str, source: CounterSource) -> None:
        self._sources[prefix] = source

    def snapshot(self) -> pb.DeviceHealth:
        """The current health of the box."""
        health = pb.DeviceHealth(
            uptime_s=time.monotonic() - self._started,
            cpu_load=os.getloadavg()[0] / (os.cpu_count() or 1),
            # ru_maxrss is in KiB on Linux: the peak resident set size.
            memory_used_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            temperature_c=_soc_temperature_c(),
        )
        for prefix, source in self._sources.items():
            for key, value in source().items():
                health.counters[f"{prefix}.{key}" if prefix else key] = int(value)
        return health


def _soc_temperature_c() -> float:
    try:
        with open("/sys/class/thermal/thermal_zone0/temp") as f:
            return int(f.read().strip()) / 1000.0
    except (OSError, ValueError):
        return 0.0
