"""Expectations that compare the daemon's view of motion with the scenario's ground truth.

A reported position or speed at capture time ``c`` matches an actor when it is within the
tolerance of where the actor was at some time in ``[c - latency_s, c]``: sensors and the daemon
may lag the truth by up to ``latency_s`` (0.3 s by default). Within that interval an actor moves
on a straight line, so the truth is sampled every 20 ms and compared segment by segment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from edge.geo import GeoPoint
from hil.recording import Recording

# LATENCY_S is also re-exported for the scenario loader, which imports it from here.
from hil.scenario_engine.expectations import LATENCY_S as LATENCY_S
from hil.scenario_engine.expectations import (
    Expectation,
    capture_s,
    device_messages,
    until_text,
    window_of,
)
from hil.world import GroundTruth
from protocols.schema.v1 import roadgate_pb2 as pb

SAMPLE_S = 0.02


@dataclass(frozen=True)
class _Path:
    """One actor over a latency interval: (east, north) samples, and the speeds it had."""

    points: tuple[tuple[float, float], ...]
    # True where points[i] -> points[i + 1] is real motion, False where the actor's repeating
    # profile jumped back to its start between the two samples.
    joined: tuple[bool, ...]
    speed_low: float
    speed_high: float

    def distance(self, east: float, north: float) -> float:
        """Metres from (east, north) to the nearest point the actor passed through."""
        best = min(math.hypot(east - x, north - y) for x, y in self.points)
        for (a, b), joined in zip(pairwise(self.points), self.joined, strict=True):
            if joined:
                best = min(best, _to_segment(east, north, a, b))
        return best

    def speed_error(self, speed: float) -> float:
        """How far ``speed`` is outside the range of speeds the actor had."""
        return max(0.0, self.speed_low - speed, speed - self.speed_high)


def _to_segment(east: float, north: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        return math.hypot(east - a[0], north - a[1])
    u = min(1.0, max(0.0, ((east - a[0]) * dx + (north - a[1]) * dy) / length2))
    return math.hypot(east - a[0] - u * dx, north - a[1] - u * dy)


def actor_path(truth: GroundTruth, actor: str, t_s: float, latency_s: float) -> _Path:
    """Where ``actor`` was during [t_s - latency_s, t_s] (never before scenario time 0)."""
    model = truth.actors[actor]
    steps = max(1, math.ceil(latency_s / SAMPLE_S))
    # The last sample is exactly t_s (t_s - latency + latency may round to the previous step).
    times = [max(0.0, t_s - latency_s * (steps - i) / steps) for i in range(steps + 1)]
    states = [model.state_at(t) for t in times]
    laps = [math.floor(t / model.period_s) for t in times]
    speeds = [s.speed_mps for s in states]
    return _Path(
        points=tuple((s.east_m, s.north_m) for s in states),
        joined=tuple(a == b for a, b in pairwise(laps)),
        speed_low=min(speeds),
        speed_high=max(speeds),
    )


def east_north(truth: GroundTruth, position: pb.Position) -> tuple[float, float]:
    return truth.origin.east_north_of(GeoPoint(position.latitude_deg, position.longitude_deg))


def _has_position(message: pb.PerceivedObject | pb.VehicleState) -> bool:
    # An unset or all-zero position means the daemon did not know where the object was.
    if not message.HasField("position"):
        return False
    return message.position.latitude_deg != 0.0 or message.position.longitude_deg != 0.0


def _one_to_one(errors: Sequence[Sequence[float]], tolerance: float) -> bool:
    """Whether each object (row) can be given a different actor (column) within tolerance."""
    owner: dict[int, int] = {}  # actor -> object

    def assign(obj: int, seen: set[int]) -> bool:
        for actor, error in enumerate(errors[obj]):
            if error <= tolerance and actor not in seen:
                seen.add(actor)
                if actor not in owner or assign(owner[actor], seen):
                    owner[actor] = obj
                    return True
        return False

    return all(assign(obj, set()) for obj in range(len(errors)))


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "0 %"


@dataclass(frozen=True, kw_only=True)
class ExpectTracks(Expectation):
    """Object lists of ``sensor`` captured in [after_s, until_s]: at least ``min_fraction`` of
    them hold exactly ``count`` objects, each within ``position_tolerance_m`` of a different
    actor's true position."""

    sensor: str  # ObjectList.sensor_id
    count: int
    after_s: float = 0.0
    until_s: float | None = None
    position_tolerance_m: float = 2.0
    min_fraction: float = 0.95
    latency_s: float = LATENCY_S

    def describe(self) -> str:
        return (
            f"{self.sensor}: {self.count} tracks within {self.position_tolerance_m:g} m of the "
            f"ground truth from {self.after_s:g} s to {until_text(self.until_s)} "
            f"in {100 * self.min_fraction:g} % of lists"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        lo, hi = window_of(self.after_s, self.until_s, recording)
        truth = recording.truth
        actors = sorted(truth.actors)
        lists = [
            (capture_s(recording, m), m.envelope.object_list)
            for m in device_messages(recording, "objects")
            if m.envelope.HasField("object_list")
            and m.envelope.object_list.sensor_id == self.sensor
        ]
        inside = [(t, ol) for t, ol in lists if lo <= t <= hi]
        if not inside:
            return False, (
                f"no object list from {self.sensor} captured in {lo:g}-{hi:g} s "
                f"({len(lists)} outside it)"
            )
        matched = wrong_count = no_position = 0
        worst = 0.0
        for t, object_list in inside:
            objects = list(object_list.objects)
            if len(objects) != self.count:
                wrong_count += 1
                continue
            paths = [actor_path(truth, a, t, self.latency_s) for a in actors]
            errors = []
            for obj in objects:
                if not _has_position(obj):
                    no_position += 1
                    errors.append([math.inf] * len(paths))
                    continue
                east, north = east_north(truth, obj.position)
                errors.append([p.distance(east, north) for p in paths])
            worst = max([worst, *(min(row, default=math.inf) for row in errors)])
            matched += _one_to_one(errors, self.position_tolerance_m)
        fraction = matched / len(inside)
        measured = (
            f"{_percent(matched, len(inside))} of {len(inside)} lists matched; "
            f"{wrong_count} had a count other than {self.count}; worst error {worst:.2f} m"
        )
        if no_position:
            measured += f"; {no_position} objects without a position"
        return fraction >= self.min_fraction, measured


@dataclass(frozen=True, kw_only=True)
class ExpectVehicleState(Expectation):
    """Vehicle states captured in [after_s, until_s]: at least ``min_fraction`` of them put
    ``actor`` within ``position_tolerance_m`` and its speed within ``speed_tolerance_mps``."""

    actor: str
    after_s: float = 0.0
    until_s: float | None = None
    speed_tolerance_mps: float = 0.5
    position_tolerance_m: float = 3.0
    min_fraction: float = 0.95
    latency_s: float = LATENCY_S

    def describe(self) -> str:
        return (
            f"vehicle state follows {self.actor} within {self.position_tolerance_m:g} m and "
            f"{self.speed_tolerance_mps:g} m/s from {self.after_s:g} s to "
            f"{until_text(self.until_s)} in {100 * self.min_fraction:g} % of messages"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        truth = recording.truth
        if self.actor not in truth.actors:
            return False, f"no actor {self.actor!r} in the ground truth"
        lo, hi = window_of(self.after_s, self.until_s, recording)
        states = [
            (t, m.envelope.vehicle_state)
            for m in device_messages(recording, "state")
            if m.envelope.HasField("vehicle_state") and lo <= (t := capture_s(recording, m)) <= hi
        ]
        if not states:
            return False, f"no vehicle state captured in {lo:g}-{hi:g} s"
        matched = no_position = 0
        worst_position = worst_speed = 0.0
        for t, state in states:
            path = actor_path(truth, self.actor, t, self.latency_s)
            speed_error = path.speed_error(state.speed_mps)
            if _has_position(state):
                position_error = path.distance(*east_north(truth, state.position))
            else:
                no_position += 1
                position_error = math.inf
            worst_speed = max(worst_speed, speed_error)
            worst_position = max(worst_position, position_error)
            matched += (
                position_error <= self.position_tolerance_m
                and speed_error <= self.speed_tolerance_mps
            )
        measured = (
            f"{_percent(matched, len(states))} of {len(states)} states matched; worst position "
            f"error {worst_position:.2f} m, worst speed error {worst_speed:.2f} m/s"
        )
        if no_position:
            measured += f"; {no_position} without a position"
        return matched / len(states) >= self.min_fraction, measured
