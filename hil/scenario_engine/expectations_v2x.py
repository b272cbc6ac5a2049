"""The ``v2x`` expectation: what the daemon handed its C-V2X radio to broadcast.

Messages of one type (``bsm`` or ``spat``) that **arrived** at the radio emulator in
[after_s, until_s] must come at ``min_rate_hz`` or more, and say the right thing:

* a BSM matches ``actor`` when its position and speed are within tolerance of the actor's at
  some time in ``[c - latency_s, c]`` (as ``vehicle_state`` does), ``c`` being the capture
  time its ``secMark`` says (the millisecond in the minute; the minute is the arrival's);
* a SPAT matches when the daemon published on MQTT a SPaT captured at the time the SPAT's
  ``moy`` and ``timeStamp`` say, of the same intersection with the same signal groups, each in
  the same state and ending within ``end_tolerance_s`` (the radio's times are in tenths).

Either must also have reached the radio within ``latency_s`` of its capture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edge.geo import GeoPoint
from hil.recording import Recording
from hil.scenario_engine.expectations import (
    LATENCY_S,
    Expectation,
    capture_s,
    device_messages,
    until_text,
    window_of,
)
from hil.scenario_engine.expectations_motion import actor_path
from hil.scenario_engine.expectations_spat import Phases, phases_of, phases_text, same_phases
from protocols.schema.v1 import roadgate_pb2 as pb

MESSAGES = ("bsm", "spat")
END_TOLERANCE_S = 0.15
SHOWN_MISMATCHES = 3


@dataclass(frozen=True, kw_only=True)
class ExpectV2x(Expectation):
    """See the module docstring; ``actor`` None: BSM contents are not checked."""

    emulator: str
    message: str  # one of MESSAGES
    after_s: float = 0.0
    until_s: float | None = None
    min_rate_hz: float | None = None
    actor: str | None = None
    position_tolerance_m: float = 3.0
    speed_tolerance_mps: float = 0.5
    end_tolerance_s: float = END_TOLERANCE_S
    min_fraction: float = 0.95
    latency_s: float = LATENCY_S

    def describe(self) -> str:
        parts = [f"{self.message.upper()} to radio {self.emulator}"]
        if self.min_rate_hz is not None:
            parts.append(f"at {self.min_rate_hz:g} Hz or more")
        if self.message == "bsm" and self.actor is not None:
            parts.append(
                f"following {self.actor} within {self.position_tolerance_m:g} m and "
                f"{self.speed_tolerance_mps:g} m/s"
            )
        elif self.message == "spat":
            parts.append(f"as published on MQTT (ends within {self.end_tolerance_s:g} s)")
        if self.message == "spat" or self.actor is not None:
            parts.append(f"in {100 * self.min_fraction:g} % of messages")
        return " ".join(parts) + f" from {self.after_s:g} s to {until_text(self.until_s)}"

    def _check(self, recording: Recording) -> tuple[bool, str]:
        lo, hi = window_of(self.after_s, self.until_s, recording)
        captured = recording.v2x_sent.get(self.emulator, [])
        inside = [(t, f) for t, kind, f in captured if kind == self.message and lo <= t <= hi]
        if not inside:
            return False, (
                f"no {self.message.upper()} reached the radio in {lo:g}-{hi:g} s "
                f"({len(captured)} messages of any type in the whole run)"
            )
        rate = len(inside) / (hi - lo)
        measured = [f"{len(inside)} in {lo:g}-{hi:g} s ({rate:.1f} Hz)"]
        passed = self.min_rate_hz is None or rate >= self.min_rate_hz
        mismatches: list[tuple[float, str]] = []
        if self.message == "spat":
            published = _published_spat(recording)
            mismatches = [
                (t, why)
                for t, f in inside
                if (why := self._spat_mismatch(f, t, published, recording))
            ]
        elif self.actor is not None:
            mismatches = [
                (t, why) for t, f in inside if (why := self._bsm_mismatch(f, t, recording))
            ]
        if self.message == "spat" or self.actor is not None:
            fraction = 1 - len(mismatches) / len(inside)
            passed = passed and fraction >= self.min_fraction
            measured.append(f"{fraction * 100:.1f} % matched")
            if mismatches:
                shown = "; ".join(f"at {t:.2f} s {why}" for t, why in mismatches[:SHOWN_MISMATCHES])
                measured.append(f"{len(mismatches)} did not: {shown}")
        return passed, "; ".join(measured)

    def _bsm_mismatch(self, fields: dict[str, Any], t: float, recording: Recording) -> str:
        """Empty when the BSM arriving at ``t`` matches the actor, else what differs."""
        assert self.actor is not None
        truth = recording.truth
        if self.actor not in truth.actors:
            return f"no actor {self.actor!r} in the ground truth"
        lat, lon, speed = fields["latitude_deg"], fields["longitude_deg"], fields["speed_mps"]
        if lat is None or lon is None or speed is None:
            return "position or speed unavailable"
        # secMark is the millisecond in the minute: the capture is the latest such time
        # before the arrival.
        arrival_ms = math.floor((recording.clock.t0_unix + t) * 1000)
        c = t - ((arrival_ms - fields["sec_mark_ms"]) % 60_000) / 1000
        if t - c > self.latency_s:
            return f"arrived {t - c:.2f} s after its capture"
        path = actor_path(truth, self.actor, c, self.latency_s)
        position_error = path.distance(*truth.origin.east_north_of(GeoPoint(lat, lon)))
        speed_error = path.speed_error(speed)
        if position_error <= self.position_tolerance_m and speed_error <= self.speed_tolerance_mps:
            return ""
        return f"off by {position_error:.2f} m and {speed_error:.2f} m/s"

    def _spat_mismatch(
        self,
        fields: dict[str, Any],
        t: float,
        published: list[tuple[float, pb.SignalPhaseTiming]],
        recording: Recording,
    ) -> str:
        """Empty when the SPAT arriving at ``t`` matches the SPaT published with its capture
        time, else what differs."""
        if fields["moy"] is None or fields["timestamp_ms"] is None:
            return "no moy/timeStamp: cannot tell its capture time"
        arrival = datetime.fromtimestamp(recording.clock.t0_unix + t, UTC)
        year = datetime(arrival.year, 1, 1, tzinfo=UTC).timestamp()
        c = year + fields["moy"] * 60 + fields["timestamp_ms"] / 1000 - recording.clock.t0_unix
        if t - c > self.latency_s:
            return f"arrived {t - c:.2f} s after its capture"
        # timeStamp is whole milliseconds: the capture was in [c, c + 1 ms).
        candidates = [spat for when, spat in published if c - 1e-4 <= when < c + 1.1e-3]
        if not candidates:
            return f"no SPaT on MQTT captured at {c:.3f} s"
        if len(fields["intersections"]) != 1:
            return f"{len(fields['intersections'])} intersections, expected 1"
        item = fields["intersections"][0]
        got: Phases = {
            p["signal_group"]: (
                p["state"],
                math.nan if p["likely_end_s"] is None else p["likely_end_s"],
            )
            for p in item["phases"]
        }
        for spat in candidates:
            same = same_phases(got, phases_of(spat), self.end_tolerance_s)
            if same and item["intersection_id"] == spat.intersection_id:
                return ""
        return f"got {phases_text(got)}, MQTT {phases_text(phases_of(candidates[-1]))}"


def _published_spat(recording: Recording) -> list[tuple[float, pb.SignalPhaseTiming]]:
    return [
        (capture_s(recording, m), m.envelope.spat)
        for m in device_messages(recording, "spat")
        if m.envelope.HasField("spat")
    ]
