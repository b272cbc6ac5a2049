"""The health report: counters from every stage of a pipeline, with the board's vitals."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from protocols.schema.v1 import roadgate_pb2 as pb

CounterSource = Callable[[], Mapping[str, int]]


class HasCounters(Protocol):
    @property
    def counters(self) -> Mapping[str, int]: ...


class ClockAgreement(Protocol):
    """The box clock against GNSS time (``edge.clock_check.GnssClockCheck``)."""

    @property
    def offset_s(self) -> float | None:
        """Box clock minus GNSS time, s; None until measured."""
        ...

    @property
    def disagrees(self) -> bool: ...

    @property
    def counters(self) -> Mapping[str, int]: ...


def counters_of(component: HasCounters) -> CounterSource:
    """A counter source reading ``component.counters`` at report time."""
    return lambda: component.counters


class HealthReport:
    """Collects counters from every stage into a DeviceHealth message.

    ``monotonic`` (seconds) measures uptime from construction.
    """

    def __init__(
        self,
        sources: Mapping[str, CounterSource],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sources = dict(sources)
        self._monotonic = monotonic
        self._started = monotonic()
        self._clock: ClockAgreement | None = None

    def add(self, prefix: str, source: CounterSource) -> None:
        """Report ``source``'s counters as ``<prefix>.<key>`` (just ``<key>`` for prefix "")."""
        self._sources[prefix] = source

    def add_clock_check(self, check: ClockAgreement) -> None:
        """Report ``check``'s offset and verdict (``gnss_clock_offset_s``,
        ``clock_disagrees_with_gnss``) and its counters as ``clock.gnss.<key>``."""
        self._clock = check
        self.add("clock.gnss", counters_of(check))

    def snapshot(self) -> pb.DeviceHealth:
        """The current health of the box."""
        health = pb.DeviceHealth(
            uptime_s=self._monotonic() - self._started,
            cpu_load=os.getloadavg()[0] / (os.cpu_count() or 1),
            # ru_maxrss is in KiB on Linux: the peak resident set size.
            memory_used_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            temperature_c=_soc_temperature_c(),
        )
        if self._clock is not None and self._clock.offset_s is not None:
            health.gnss_clock_offset_s = self._clock.offset_s
            health.clock_disagrees_with_gnss = self._clock.disagrees
        for prefix, source in self._sources.items():
            for key, value in source().items():
                health.counters[f"{prefix}.{key}" if prefix else key] = int(value)
        return health


def pipeline_health(
    pipeline: HasCounters,
    uplink_counters: CounterSource,
    guard: HasCounters,
    monotonic: Callable[[], float],
) -> HealthReport:
    """The report every pipeline starts from, before it adds its own stages.

    It carries ``pipeline``'s counters as ``pipeline.<key>``, ``uplink_counters`` unprefixed
    and ``guard``'s (the publish guard's) refusals as ``publish.refused.<key>``.
    """
    return HealthReport(
        {
            "pipeline": counters_of(pipeline),
            "": uplink_counters,
            "publish.refused": counters_of(guard),
        },
        monotonic,
    )


def _soc_temperature_c() -> float:
    try:
        with open("/sys/class/thermal/thermal_zone0/temp") as f:
            return int(f.read().strip()) / 1000.0
    except (OSError, ValueError):
        return 0.0
