"""Scenario time: seconds since the scenario started, shared by emulators, faults and checks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScenarioClock:
    """Monotonic scenario time, anchored to the wall clock once at the start.

    Emulators schedule on ``now_s()``; capture timestamps on the wire are Unix time, which
    ``from_unix_ns`` maps back to scenario time.
    """

    t0_monotonic: float = field(default_factory=time.monotonic)
    t0_unix: float = field(default_factory=time.time)

    def now_s(self) -> float:
        """Seconds since the scenario started."""
        return time.monotonic() - self.t0_monotonic

    def from_unix_ns(self, unix_ns: int) -> float:
        """Scenario time of a Unix timestamp in ns (e.g. an envelope's capture time)."""
        return unix_ns / 1e9 - self.t0_unix

    def sleep_until(self, t_s: float) -> None:
        """Block until scenario time ``t_s`` (returns at once if it has passed)."""
        delay = t_s - self.now_s()
        if delay > 0:
            time.sleep(delay)
