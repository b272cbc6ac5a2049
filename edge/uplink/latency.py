"""How long the broker takes to acknowledge a message: a cumulative histogram, as counters."""

from __future__ import annotations

import bisect
import math

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (s) of the buckets: Prometheus's defaults, from a LAN broker to a slow modem."""


class LatencyHistogram:
    """Counts of observations at or under each bound of ``bounds`` (s), with their sum.

    ``counters`` flattens it for the health report: ``count``, ``sum_us`` and one
    ``le_<bound in ms>ms`` per bound (cumulative, as Prometheus's ``le`` buckets are).
    """

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        if not bounds or list(bounds) != sorted(set(bounds)) or bounds[0] <= 0:
            raise ValueError(f"bucket bounds must be positive and increasing, got {bounds}")
        self.bounds = bounds
        self._in_bucket = [0] * len(bounds)  # per bucket, not cumulative; over all: count only
        self.count = 0
        self.sum_s = 0.0

    def observe(self, seconds: float) -> None:
        """Add one observation; a negative or non-finite one (a clock step) is dropped."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        self.count += 1
        self.sum_s += seconds
        index = bisect.bisect_left(self.bounds, seconds)
        if index < len(self.bounds):
            self._in_bucket[index] += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """``(bound, observations at or under it)`` per bound, then ``(inf, count)``."""
        out, running = [], 0
        for bound, n in zip(self.bounds, self._in_bucket, strict=True):
            running += n
            out.append((bound, running))
        out.append((math.inf, self.count))
        return out

    def counters(self) -> dict[str, int]:
        """The histogram as integer counters (see the class docstring)."""
        flat = {"count": self.count, "sum_us": round(self.sum_s * 1e6)}
        for bound, n in self.cumulative()[:-1]:
            flat[f"le_{bound_label(bound)}ms"] = n
        return flat


def bound_label(bound_s: float) -> str:
    """A bound in ms as a counter key part, without a dot (health keys are dotted paths):
    ``5``, ``2500``, ``0_5``."""
    return f"{round(bound_s * 1000, 6):g}".replace(".", "_")


def bound_of_label(label: str) -> float:
    """The bound (s) ``bound_label`` wrote as ``label``; ``ValueError`` for another text."""
    return float(label.replace("_", ".")) / 1000
