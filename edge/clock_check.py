"""Does the box's clock agree with GNSS time? Measured fix by fix, reported on change.

A receiver stamps each epoch with its UTC time and sends the epoch's sentences some time
later (its output latency: tens to hundreds of milliseconds, more at low baud rates). Each
fix gives one sample of box clock minus GNSS time plus that latency: when the epoch's first
sentence arrived (box clock) minus the epoch's time. Latency only ever adds, and a late
sample (a loop stall, a serial buffer read late) only adds more, so the smallest sample of the
last few fixes is the estimate, an upper bound on the true offset that is off by the
receiver's best latency.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any, Protocol, runtime_checkable

from edge.fault_events import FaultEvents
from protocols.errors import NmeaError
from protocols.nmea import FixQuality, epoch_unix_ns, parse_sentence
from protocols.schema.v1 import roadgate_pb2 as pb

log = logging.getLogger("edge.clock_check")

ClockEvent = tuple[pb.TrafficEvent, int]
"""An event and its capture time (ns, the box clock)."""

DEFAULT_BOUND_S = 0.5
DEFAULT_WINDOW = 5
AGREE_FRACTION = 0.8
"""Agreement again needs the offset within this fraction of the bound: an offset near the
bound does not flap between the two states, an event each time."""
_REMEMBERED_EPOCHS = 16  # epochs whose first sentence's arrival is kept (a few cycles' worth)


@runtime_checkable
class _TimedFix(Protocol):
    @property
    def time(self) -> datetime | None: ...

    @property
    def quality(self) -> Any: ...


class GnssClockCheck:
    """Estimates the box clock minus GNSS time; reports when it exceeds ``bound_s``.

    ``observe`` takes every NMEA line with the wall-clock time it was received and the fix
    it completed (if any). Once ``window`` fixes were measured, ``offset_s`` is the smallest
    of the last ``window`` samples (see the module docstring) and ``disagrees`` is set when
    its magnitude exceeds ``bound_s`` (cleared within ``AGREE_FRACTION`` of it). Entering
    disagreement returns one CLOCK_FAULT event (WARNING), leaving it one more (INFO). Fixes
    without a position (a receiver's time before its first fix may be its own guess) or
    without a date are counted, not measured. Never raises on bad input.
    """

    def __init__(
        self, device_id: str, *, bound_s: float = DEFAULT_BOUND_S, window: int = DEFAULT_WINDOW
    ) -> None:
        if not (math.isfinite(bound_s) and bound_s > 0):
            raise ValueError(f"bound_s must be finite and > 0, got {bound_s!r}")
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window!r}")
        self._device_id = device_id
        self.bound_s = bound_s
        self._samples: deque[int] = deque(maxlen=window)  # ns
        self._first_seen: dict[time, int] = {}  # epoch time of day -> first sentence's arrival
        self._counts: Counter[str] = Counter()
        self._faults = FaultEvents(device_id, "clock", pb.EVENT_TYPE_CLOCK_FAULT)
        self.offset_s: float | None = None
        """Box clock minus GNSS time (s, receiver latency included); None until measured."""
        self.disagrees = False

    @property
    def counters(self) -> Mapping[str, int]:
        """Fixes measured and not (``undated``, ``no_fix``), and disagreements begun."""
        return dict(self._counts)

    def observe(self, line: bytes, fix: object | None, received_ns: int) -> list[ClockEvent]:
        """Take one NMEA line received at ``received_ns`` (Unix ns, the box clock) and the
        fix it completed, if any; return the events to publish."""
        self._note_arrival(line, received_ns)
        if fix is None or not isinstance(fix, _TimedFix):
            return []
        if fix.quality == FixQuality.NONE:
            self._counts["no_fix"] += 1
            return []
        epoch_ns = epoch_unix_ns(fix)
        if epoch_ns is None or fix.time is None:
            self._counts["undated"] += 1
            return []
        self._counts["measured"] += 1
        arrived_ns = self._first_seen.get(fix.time.time(), received_ns)
        self._samples.append(arrived_ns - epoch_ns)
        if len(self._samples) < (self._samples.maxlen or 1):
            return []  # one sample may be a stale line left in the port's buffer
        self.offset_s = min(self._samples) / 1e9
        return self._judge(self.offset_s, received_ns)

    def _note_arrival(self, line: bytes, received_ns: int) -> None:
        try:
            tod = parse_sentence(line, allow_missing_checksum=True).time_of_day
        except NmeaError:
            return  # the assembler counts what is wrong with it
        if tod is None or tod in self._first_seen:
            return
        if len(self._first_seen) >= _REMEMBERED_EPOCHS:
            del self._first_seen[next(iter(self._first_seen))]
        self._first_seen[tod] = received_ns

    def _judge(self, offset_s: float, received_ns: int) -> list[ClockEvent]:
        off = abs(offset_s)
        if not self.disagrees and off > self.bound_s:
            self.disagrees = True
            self._counts["disagreements"] += 1
            text = (
                f"box clock is {offset_s:+.3f} s off GNSS time (bound {self.bound_s:g} s, "
                "the receiver's output latency included)"
            )
            log.warning("%s: %s", self._device_id, text)
            return [(self._faults.make(pb.SEVERITY_WARNING, text), received_ns)]
        if self.disagrees and off <= self.bound_s * AGREE_FRACTION:
            self.disagrees = False
            text = f"box clock agrees with GNSS time again ({offset_s:+.3f} s)"
            log.info("%s: %s", self._device_id, text)
            return [(self._faults.make(pb.SEVERITY_INFO, text), received_ns)]
        return []
