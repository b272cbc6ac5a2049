"""Intersection collision warning (ICW, T/CSAE 53-2017 6.2.2): a remote vehicle on a crossing
path will be where the ego's path crosses its own at the same time as the ego.

Kinematic only (signals are not needed): both paths are straight lines along the current
headings. Each road user occupies the crossing point for a window of time: from when its
body first reaches the other's footprint on its path until it has left it (its half length
plus the other's half width across the crossing angle), each at its speed and BSM
acceleration (a vehicle braking to a stop short of the crossing never reaches it). The
warning fires when the windows overlap within ``time_margin_s`` and the later of the two
arrivals is within ``ttc_s``; it is critical within ``critical_ttc_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.geometry import in_frame_of, path_crossing, time_to_cover, wrap
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class IcwSettings:
    """``ttc_s`` 4.0: engineering choice: at 50 km/h a driver reacting in 1.5 s and braking
    at 0.4 g stops in about 45 m, 3.2 s away; 4 s leaves 0.8 s for the link and the cycle.
    ``critical_ttc_s`` 2.0: at 50 km/h a driver reacting in 1 s would then need 0.7 g to stop
    short of the conflict, near the limit of dry-road braking. ``time_margin_s`` 1.0:
    engineering choice: traffic-conflict studies count post-encroachment times around a
    second as serious conflicts; it also absorbs speed changes over the few seconds ahead.
    ``min_crossing_deg`` 30: shallower angles are merges and lane changes, not crossing
    paths (BSW/LCW's and FCW's cases). ``max_range_m`` 150: what the radio hears reliably
    at an intersection."""

    ttc_s: float = 4.0
    critical_ttc_s: float = 2.0
    time_margin_s: float = 1.0
    min_crossing_deg: float = 30.0
    max_range_m: float = 150.0


class Icw:
    """See the module docstring."""

    code = "ICW"

    def __init__(self, settings: IcwSettings | None = None) -> None:
        self.settings = settings or IcwSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        v = picture.vehicles
        if not len(v):
            return []
        ahead, left = in_frame_of(ego.east, ego.north, ego.heading, v.east, v.north)
        angle = np.abs(wrap(v.heading - ego.heading))
        floor = math.radians(s.min_crossing_deg)
        crossing = (angle >= floor) & (angle <= math.pi - floor)
        near = np.hypot(ahead, left) <= s.max_range_m
        # Nearly parallel paths overflow before path_crossing masks them (NaN): not an error.
        with np.errstate(over="ignore"):
            ours, theirs = path_crossing(
                ego.east, ego.north, ego.heading, v.east, v.north, v.heading
            )
        # The other's footprint on a path crossing it at an angle is its width / sin(angle).
        sin_a = np.maximum(np.sin(angle), math.sin(floor))
        half_ours = ego.length / 2 + v.width / (2 * sin_a)
        half_theirs = v.length / 2 + ego.width / (2 * sin_a)
        with np.errstate(invalid="ignore"):
            candidate = crossing & near & (ours + half_ours > 0) & (theirs + half_theirs > 0)
        index = np.flatnonzero(candidate)
        if not len(index):
            return []
        s_ours, s_theirs = ours[index], theirs[index]
        h_ours, h_theirs = half_ours[index], half_theirs[index]
        ego_speed = np.full(len(index), ego.speed)
        ego_accel = np.full(len(index), ego.accel)
        speed, accel = v.speed[index], v.accel[index]
        with np.errstate(over="ignore"):  # a crawl's huge times are as good as inf
            ego_in = time_to_cover(s_ours - h_ours, ego_speed, ego_accel)
            ego_out = time_to_cover(s_ours + h_ours, ego_speed, ego_accel)
            other_in = time_to_cover(s_theirs - h_theirs, speed, accel)
            other_out = time_to_cover(s_theirs + h_theirs, speed, accel)
        with np.errstate(invalid="ignore"):
            overlap = (ego_in <= other_out + s.time_margin_s) & (
                other_in <= ego_out + s.time_margin_s
            )
            when = np.maximum(ego_in, other_in)
            hit = overlap & (ego_in <= s.ttc_s) & (when <= s.ttc_s)
        findings = []
        for k in np.flatnonzero(hit):
            i = int(index[k])
            t = float(when[k])
            side = "left" if left[i] > 0 else "right"
            east = ego.east + float(s_ours[k]) * math.sin(ego.heading)
            north = ego.north + float(s_ours[k]) * math.cos(ego.heading)
            findings.append(
                Finding(
                    app=self.code,
                    key=v.remote_id(i),
                    event_type=pb.EVENT_TYPE_INTERSECTION_COLLISION,
                    severity=(
                        pb.SEVERITY_CRITICAL if t <= s.critical_ttc_s else pb.SEVERITY_WARNING
                    ),
                    description=(
                        f"crossing vehicle from the {side}, {v.speed[i] * 3.6:.0f} km/h: "
                        f"collision in {t:.1f} s"
                    ),
                    east=east,
                    north=north,
                    remote_id=v.remote_id(i),
                    time_to_collision_s=t,
                    distance_m=max(float(s_ours[k]), 0.0),
                )
            )
        return findings


SPEC = AppSpec("ICW", "intersection collision warning", IcwSettings, Icw)
