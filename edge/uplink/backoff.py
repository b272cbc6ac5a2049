"""Jittered exponential backoff for reconnects."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``minimum`` to ``maximum``, with full jitter.

    Full jitter (a uniform draw below the current ceiling) keeps a fleet of devices from
    reconnecting in lock-step after a broker restart.
    """

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError(f"need 0 < minimum <= maximum, got {minimum}, {maximum}")
        self._minimum = minimum
        self._maximum = maximum
        self._ceiling = minimum
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The next delay in seconds; each call doubles the ceiling up to the maximum."""
        delay = self._rng.uniform(self._minimum / 2, self._ceiling)
        self._ceiling = min(self._ceiling * 2, self._maximum)
        return delay

    def reset(self) -> None:
        """Start again from the minimum, after a successful connection."""
        self._ceiling = self._minimum
