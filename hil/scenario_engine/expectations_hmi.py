"""The ``hmi`` expectation: what the box's HMI display was told, and when.

The HMI emulator records every JSON line the daemon sends it (``edge.apps.day1.hmi``) with its
**arrival** time: what the driver saw, when. The expectation counts the lines of one
application (``app``, e.g. ``"FCW"``) and ``change`` (``start``, ``update`` or ``end``) that
arrived in ``within_s``: at least ``min_count``, or with ``absent`` none.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.recording import Recording
from hil.scenario_engine.expectations import Expectation

SHOWN_TIMES = 5


@dataclass(frozen=True, kw_only=True)
class ExpectHmi(Expectation):
    """See the module docstring; ``within_s`` None: the whole run."""

    emulator: str
    app: str
    change: str = "start"
    within_s: tuple[float, float] | None = None
    min_count: int = 1
    absent: bool = False

    def describe(self) -> str:
        window = (
            "during the run"
            if self.within_s is None
            else "arriving in {:g}-{:g} s".format(*self.within_s)
        )
        what = f"{self.app} '{self.change}' line(s) on HMI {self.emulator}"
        if self.absent:
            return f"no {what} {window}"
        return f"at least {self.min_count} {what} {window}"

    def _check(self, recording: Recording) -> tuple[bool, str]:
        lines = recording.hmi_lines.get(self.emulator)
        if lines is None:
            return False, f"the recording has nothing from HMI {self.emulator}"
        lo, hi = self.within_s if self.within_s is not None else (0.0, recording.duration_s)
        wanted = (self.app, self.change)
        times = sorted(t for t, line in lines if (line.get("app"), line.get("change")) == wanted)
        inside = [t for t in times if lo <= t <= hi]
        measured = f"{len(inside)} {self.app} '{self.change}' line(s) arrived in {lo:g}-{hi:g} s"
        if inside:
            shown = ", ".join(f"{t:.2f}" for t in inside[:SHOWN_TIMES])
            measured += f" (at {shown}{', ...' if len(inside) > SHOWN_TIMES else ''} s)"
        outside = [t for t in times if not lo <= t <= hi]
        measured += f"; {len(outside)} outside it"
        if outside:
            measured += f" (first at {outside[0]:.2f} s)"
        measured += f"; {len(lines)} HMI lines in all"
        if self.absent:
            return not inside, measured
        return len(inside) >= self.min_count, measured
