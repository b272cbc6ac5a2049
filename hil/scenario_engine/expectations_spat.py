"""The ``spat`` expectation: the daemon's SPaT shows what the emulated signal controller ran.

A SPaT message captured at ``c`` matches when, at some time in ``[c - latency_s, c]``, the
controller's plan had the same intersection, the same signal groups, each in the same state
and ending (``likely_end_s``) within ``end_tolerance_s`` of the plan. The controller sends
times in tenths of a second, so a tolerance under 0.05 s cannot hold. The plan is sampled
every 10 ms of the latency window: each sample is compared whole, so states and end times
always come from one instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.roadside.signal_plan import FixedTimePlan
from hil.recording import Recording
from hil.scenario_engine.expectations import (
    LATENCY_S,
    Expectation,
    capture_s,
    device_messages,
    until_text,
    window_of,
)
from protocols.schema.v1 import roadgate_pb2 as pb

END_TOLERANCE_S = 0.25
SAMPLE_S = 0.01
SHOWN_MISMATCHES = 3

Phases = dict[int, tuple[int, float]]
"""What a SPaT shows: signal group -> (state, likely end in s)."""


def phases_of(spat: pb.SignalPhaseTiming) -> Phases:
    """The phases ``spat`` shows."""
    return {p.signal_group: (int(p.state), p.likely_end_s) for p in spat.phases}


def same_phases(got: Phases, want: Phases, end_tolerance_s: float) -> bool:
    """True when ``got`` has ``want``'s groups, each in its state, ending within the tolerance."""
    return got.keys() == want.keys() and all(
        got[g][0] == state and abs(got[g][1] - end) <= end_tolerance_s
        for g, (state, end) in want.items()
    )


def phases_text(phases: Phases) -> str:
    """``phases`` for a verdict, e.g. ``1=GREEN(2.0 s) 2=RED(5.0 s)``."""
    return " ".join(
        f"{group}={_state_name(state)}({end:.1f} s)"
        for group, (state, end) in sorted(phases.items())
    )


def _state_name(state: int) -> str:
    name = pb.SignalState.Name(pb.SignalState.ValueType(state))
    return name.removeprefix("SIGNAL_STATE_")


@dataclass(frozen=True, kw_only=True)
class ExpectSpat(Expectation):
    """At least ``min_fraction`` of the SPaT messages captured in [after_s, until_s] show
    signal controller ``emulator``'s ``plan`` (plan time = scenario time), within
    ``latency_s``."""

    emulator: str
    plan: FixedTimePlan
    after_s: float = 0.0
    until_s: float | None = None  # None: the recording's duration
    min_fraction: float = 0.95
    latency_s: float = LATENCY_S
    end_tolerance_s: float = END_TOLERANCE_S

    def describe(self) -> str:
        return (
            f"SPaT shows {self.emulator}'s plan (states, ends within {self.end_tolerance_s:g} s, "
            f"latency up to {self.latency_s:g} s) in {self.min_fraction * 100:g} % of messages "
            f"from {self.after_s:g} s to {until_text(self.until_s)}"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        lo, hi = window_of(self.after_s, self.until_s, recording)
        captured = [
            (capture_s(recording, m), m.envelope.spat)
            for m in device_messages(recording, "spat")
            if m.envelope.HasField("spat")
        ]
        inside = sorted(((c, spat) for c, spat in captured if lo <= c <= hi), key=lambda x: x[0])
        if not inside:
            return False, f"no SPaT captured in {lo:g}-{hi:g} s ({len(captured)} outside it)"
        mismatches = [
            (c, why) for c, spat in inside if (why := self._mismatch(spat, c)) is not None
        ]
        fraction = 1 - len(mismatches) / len(inside)
        measured = (
            f"{fraction * 100:.1f} % of {len(inside)} SPaT messages captured in "
            f"{lo:g}-{hi:g} s matched the plan"
        )
        if mismatches:
            shown = "; ".join(f"at {c:.2f} s {why}" for c, why in mismatches[:SHOWN_MISMATCHES])
            more = (
                f"; {len(mismatches) - SHOWN_MISMATCHES} more"
                if len(mismatches) > SHOWN_MISMATCHES
                else ""
            )
            measured += f"; {len(mismatches)} did not: {shown}{more}"
        return fraction >= self.min_fraction, measured

    def _mismatch(self, spat: pb.SignalPhaseTiming, c: float) -> str | None:
        """None when ``spat`` captured at ``c`` matches the plan, else what differs."""
        plan = self.plan
        if spat.intersection_id != plan.intersection_id:
            return f"intersection {spat.intersection_id}, plan {plan.intersection_id}"
        got = phases_of(spat)
        if len(got) != len(spat.phases):
            return f"a signal group repeats: {[p.signal_group for p in spat.phases]}"
        steps = max(1, math.ceil(self.latency_s / SAMPLE_S))
        for i in range(steps + 1):
            planned = phases_of(plan.spat(c - self.latency_s * i / steps))
            if same_phases(got, planned, self.end_tolerance_s):
                return None
        return f"got {phases_text(got)}, plan {phases_text(phases_of(plan.spat(c)))}"
