"""Time stamps, what disciplines the clock that makes them, and how far off they may be.

A box's wall clock is labelled on every Envelope with its source (``ClockSource``) and a bound
on its error (``clock_max_error_s``, 0 = unknown). The source is configured (``[clock]``) or
detected (``edge.clock_detection``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from edge.clock_detection import (
    ClockSourceValue,
    KernelClockReader,
    KernelClockState,
    detect_source,
    read_kernel_clock,
)
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("edge.clock")

CLOCK_SOURCES: Mapping[str, ClockSourceValue] = MappingProxyType(
    {
        "system": pb.CLOCK_SOURCE_SYSTEM,
        "ntp": pb.CLOCK_SOURCE_NTP,
        "gnss": pb.CLOCK_SOURCE_GNSS,
        # The schema has no PPS value: a clock disciplined by a GNSS receiver's pulse per
        # second is on GNSS time.
        "pps": pb.CLOCK_SOURCE_GNSS,
        "ptp": pb.CLOCK_SOURCE_PTP,
        "simulated": pb.CLOCK_SOURCE_SIMULATED,
    }
)
"""``[clock] source`` names (besides ``"auto"``) and the ``ClockSource`` each stamps."""
AUTO = "auto"


@dataclass(frozen=True)
class ClockLabel:
    """What an Envelope says about its timestamps: the clock's source and error bound."""

    source: ClockSourceValue
    max_error_s: float  # 0 = unknown


class WallClock:
    """The board's wall clock, labelled with what disciplines it and how far off it may be.

    The source is ``source``, or with ``detect`` (``"auto"``) what it says from the kernel's
    state, asked again whenever the kernel's clock gains or loses synchronisation (a box
    boots unsynchronised, then its daemon locks on). The error bound is ``max_error_s`` when
    given, else the kernel's own bound while it says the clock is synchronised, else 0
    (unknown). The kernel (``kernel``) is read at most every ``refresh_s`` (by
    ``monotonic``), not once per message.
    """

    def __init__(
        self,
        source: ClockSourceValue = pb.CLOCK_SOURCE_SYSTEM,
        *,
        max_error_s: float | None = None,
        kernel: KernelClockReader | None = None,
        detect: Callable[[KernelClockState | None], ClockSourceValue] | None = None,
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_error_s is not None and not (math.isfinite(max_error_s) and max_error_s >= 0):
            raise ValueError(f"max_error_s must be finite and >= 0, got {max_error_s!r}")
        self._source = source
        self._max_error_s = max_error_s
        self._kernel = kernel
        self._detect = detect
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._synchronized: bool | None = None  # at the last detection
        self._label: ClockLabel | None = None
        self._label_at = -math.inf

    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch."""
        return time.time_ns()

    @property
    def source(self) -> ClockSourceValue:
        """The clock's source now."""
        return self.label().source

    def label(self) -> ClockLabel:
        """The clock's source and error bound now (the kernel read at most every
        ``refresh_s``)."""
        now = self._monotonic()
        if self._label is None or now - self._label_at >= self._refresh_s:
            self._label, self._label_at = self._read_label(), now
        return self._label

    def _read_label(self) -> ClockLabel:
        state = self._kernel() if self._kernel is not None else None
        synchronized = state is not None and state.synchronized
        if self._detect is not None and synchronized != self._synchronized:
            self._source, self._synchronized = self._detect(state), synchronized
            log.info("clock source: %s", pb.ClockSource.Name(self._source))
        if self._max_error_s is not None:
            return ClockLabel(self._source, self._max_error_s)
        bound = state.max_error_s if state is not None and synchronized else 0.0
        return ClockLabel(self._source, bound if math.isfinite(bound) else 0.0)


def configured_clock(source: str, max_error_s: float | None = None) -> WallClock:
    """The wall clock a ``[clock]`` table describes.

    ``source`` is ``"auto"`` (detected from the kernel and chrony: now, and again on the
    caller's thread whenever the kernel's clock gains or loses synchronisation) or a key of
    ``CLOCK_SOURCES``; ``max_error_s`` overrides the kernel's error bound. A simulated
    clock's bound is never the kernel's: it is unknown unless given. Raises ``ValueError``
    for another source name."""
    if source == AUTO:
        clock = WallClock(max_error_s=max_error_s, kernel=read_kernel_clock, detect=detect_source)
        clock.label()  # detect now, at start, rather than at the first message
        return clock
    if source not in CLOCK_SOURCES:
        raise ValueError(f"clock source {source!r}: expected auto or one of {list(CLOCK_SOURCES)}")
    value = CLOCK_SOURCES[source]
    kernel = None if value == pb.CLOCK_SOURCE_SIMULATED else read_kernel_clock
    return WallClock(value, max_error_s=max_error_s, kernel=kernel)
