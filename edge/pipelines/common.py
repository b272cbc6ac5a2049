"""What both pipelines share: decoder roles, periodic tasks and the health report."""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from edge.vehicle.state_estimator import Decoded, Fix
from protocols.schema.v1 import roadgate_pb2 as pb


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
