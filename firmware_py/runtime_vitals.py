"""The daemon's own vitals for the health report: event-loop lag, CPU time and resident memory.

Lag is how late a periodic wake-up comes: a callback that holds the loop (a slow decode, a
blocking call, a full garbage collection) delays every reader and the uplink by as much.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Callable

from edge.uplink.latency import LatencyHistogram

LAG_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
"""From a healthy loop's timer granularity (under 1 ms) to a stall."""

LAG_INTERVAL_S = 0.25


class EventLoopLag:
    """Measures how late the loop wakes a task that sleeps ``interval_s`` again and again.

    ``counters`` (health ``loop.<key>``): the histogram of lags as ``lag.count``,
    ``lag.sum_us`` and ``lag.le_<ms>ms``; ``lag_last_us`` and ``lag_max_us`` (the largest since
    start).
    """

    def __init__(
        self,
        interval_s: float = LAG_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self._monotonic = monotonic
        self.histogram = LatencyHistogram(LAG_BUCKETS_S)
        self.last_s = 0.0
        self.max_s = 0.0

    async def run(self) -> None:
        """Sleep and measure until cancelled."""
        while True:
            expected = self._monotonic() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.record(self._monotonic() - expected)

    def record(self, lag_s: float) -> None:
        """One wake-up ``lag_s`` late (a negative one, from timer rounding, counts as 0)."""
        lag_s = max(0.0, lag_s)
        self.histogram.observe(lag_s)
        self.last_s = lag_s
        self.max_s = max(self.max_s, lag_s)

    @property
    def counters(self) -> dict[str, int]:
        flat = {f"lag.{k}": v for k, v in self.histogram.counters().items()}
        flat["lag_last_us"] = round(self.last_s * 1e6)
        flat["lag_max_us"] = round(self.max_s * 1e6)
        return flat


def process_vitals() -> dict[str, int]:
    """This process's CPU time (``cpu_ms``, user and system) and resident memory now
    (``rss_bytes``; the peak where /proc is missing), for health ``process.<key>``."""
    times = os.times()
    return {"cpu_ms": round((times.user + times.system) * 1000), "rss_bytes": resident_bytes()}


def resident_bytes() -> int:
    """The resident set size now, from /proc/self/statm (pages); else the peak (getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        # ru_maxrss is in KiB on Linux.
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
