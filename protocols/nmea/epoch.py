"""A GNSS epoch's UTC time as Unix seconds: when what the receiver reports was sensed."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Protocol


class DatedFix(Protocol):
    """A fix with its epoch's UTC time (``GnssFix``)."""

    @property
    def time(self) -> datetime | None: ...


def epoch_unix_s(fix: DatedFix) -> float | None:
    """The fix's epoch in Unix seconds (UTC), or None when it has no dated time.

    ``GnssFix.time`` already carries the date: from ZDA or RMC, else the last date seen,
    moved on a day for an epoch just after midnight (the assembler's rollover rule); an
    epoch before any date was seen has no time. A naive time is taken as UTC, as NMEA's is.
    Never raises.
    """
    when = fix.time
    if not isinstance(when, datetime):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        seconds = when.timestamp()
    except (OverflowError, OSError, ValueError):  # outside what the platform can represent
        return None
    return seconds if math.isfinite(seconds) else None


def epoch_unix_ns(fix: DatedFix) -> int | None:
    """``epoch_unix_s`` in integer nanoseconds (an Envelope's capture time), exact to the
    microsecond NMEA's times can carry."""
    when = fix.time
    if not isinstance(when, datetime) or epoch_unix_s(fix) is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
