"""Time stamps and where they come from."""

from __future__ import annotations

import time
from dataclasses import dataclass

from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class WallClock:
    """The board's wall clock, labelled with the source that disciplines it."""

    source: pb.ClockSource.ValueType = pb.CLOCK_SOURCE_SYSTEM

    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch."""
        return time.time_ns()
