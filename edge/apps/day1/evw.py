"""Emergency vehicle warning (EVW, a T/CSAE 53-2017 Day-1 application): an emergency vehicle
on a call is coming towards the ego; make way.

A remote vehicle counts when its BSM says it is on an emergency call or a pursuit, or its
siren or light bar is on (``protocols.v2x.bsm_extensions.is_emergency_vehicle``; an ambulance
back from a call, ``nonEmergency`` with siren and lights off, does not). It must be moving
and within ``max_range_m``, and reach the ego within ``time_s`` on one of three courses:

* from behind, going the ego's way and faster, within ``lateral_m`` of its path;
* oncoming, within ``lateral_m`` of its path, ahead of it;
* crossing: its path meets the ego's at most ``crossing_range_m`` ahead of the ego (the
  junction ahead), and it is heading to that point, not away from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding, vehicle_finding
from edge.apps.day1.geometry import in_frame_of, path_crossing, wrap
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb

SAME_WAY_DEG = 30.0  # headings this close are one direction of travel
ONCOMING_DEG = 150.0  # and this far apart the other


@dataclass(frozen=True)
class EvwSettings:
    """``time_s`` 10: time to make way (signal, check the mirrors, move over one or two
    lanes at a few seconds each; engineering choice). ``max_range_m`` 300: 10 s at 108 km/h
    and within what the radio hears (engineering choice). ``lateral_m`` 14: four lanes of
    3.5 m either side: both directions of a six-lane road seen from any of its lanes, but not
    a parallel road (engineering choice).
    ``crossing_range_m`` 100: the junction ahead, not the one after it (engineering choice).
    ``min_speed_mps`` 1.4 (5 km/h): a stopped emergency vehicle is an obstacle, not one to
    make way for (HLW's and AVW's case)."""

    time_s: float = 10.0
    max_range_m: float = 300.0
    lateral_m: float = 14.0
    crossing_range_m: float = 100.0
    min_speed_mps: float = 1.4


class Evw:
    """See the module docstring."""

    code = "EVW"

    def __init__(self, settings: EvwSettings | None = None) -> None:
        self.settings = settings or EvwSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        v = picture.vehicles
        candidates = np.flatnonzero(v.emergency & (v.speed >= s.min_speed_mps))
        if not len(candidates):
            return []
        east, north = v.east[candidates], v.north[candidates]
        speed, heading = v.speed[candidates], v.heading[candidates]
        ahead, left = in_frame_of(ego.east, ego.north, ego.heading, east, north)
        distance = np.hypot(ahead, left)
        turn = np.abs(wrap(heading - ego.heading))
        along = speed * np.cos(turn)  # its speed along the ego's heading
        beside = np.abs(left) <= s.lateral_m
        with np.errstate(divide="ignore", invalid="ignore"):
            behind_t = np.where(along > ego.speed, -ahead / (along - ego.speed), np.inf)
            oncoming_t = ahead / (ego.speed - along)
        behind = (turn <= math.radians(SAME_WAY_DEG)) & beside & (ahead < 0)
        oncoming = (turn >= math.radians(ONCOMING_DEG)) & beside & (ahead > 0)
        ours, theirs = path_crossing(ego.east, ego.north, ego.heading, east, north, heading)
        crossing = ~behind & ~oncoming & (ours >= 0) & (ours <= s.crossing_range_m) & (theirs >= 0)
        time = np.where(
            behind,
            behind_t,
            np.where(oncoming, oncoming_t, np.where(crossing, theirs / speed, np.inf)),
        )
        coming = (behind | oncoming | crossing) & (time <= s.time_s) & (distance <= s.max_range_m)
        findings = []
        for k in np.flatnonzero(coming):
            i = int(candidates[k])
            course = "behind" if behind[k] else "oncoming" if oncoming[k] else "crossing ahead"
            findings.append(
                vehicle_finding(
                    self.code,
                    v,
                    i,
                    event_type=pb.EVENT_TYPE_EMERGENCY_VEHICLE,
                    severity=pb.SEVERITY_WARNING,
                    description=(
                        f"emergency vehicle {course}, {distance[k]:.0f} m, here in "
                        f"{time[k]:.0f} s: make way"
                    ),
                    time_to_collision_s=float(time[k]),
                    distance_m=float(distance[k]),
                )
            )
        return findings


SPEC = AppSpec("EVW", "emergency vehicle warning", EvwSettings, Evw)
