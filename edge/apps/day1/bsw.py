"""Blind spot warning and lane change warning (BSW/LCW, T/CSAE 53-2017 6.2.4; one module,
code "BSW"): a vehicle in the next lane is where the driver cannot see it, or closes in from
behind so fast that a lane change would meet it.

A remote vehicle is in the next lane when it goes the ego's way (heading within
``same_way_deg``) with its centre ``min_lateral_m`` to ``max_lateral_m`` to the ego's side,
measured from the ego's path bent by its current curvature. It is in the blind zone when any
part of it is beside or behind the driver (from ``driver_ahead_m`` ahead of the ego's centre
back to ``zone_behind_m`` behind its rear). It is closing (LCW) when, behind the zone, it
will reach the zone within ``closing_time_s``. Either is advice (INFO) while the driver does
not signal toward it, and a WARNING (the lane change warning) when the driver does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ahead import MIN_CURVATURE_SPEED_MPS
from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding, vehicle_finding
from edge.apps.day1.geometry import in_frame_of, wrap
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class BswSettings:
    """``min_lateral_m`` 2.0 and ``max_lateral_m`` 5.25: the next lane's centre is 3.5 m to
    the side; 2.0 m keeps a car in our own lane out (half a lane plus a little GNSS error),
    5.25 m (one and a half lanes) keeps the lane beyond it out. ``driver_ahead_m`` 0.5: the
    driver's eyes sit about 2 m behind the front of a 4.6 m car. ``zone_behind_m`` 3.0:
    engineering choice after ISO 17387's blind-spot zone, which reaches a few metres behind
    the rear bumper. ``closing_time_s`` 3.5: engineering choice: a lane change takes 3 to 6 s,
    a vehicle reaching our side sooner would meet us during it. ``max_behind_m`` 100: beyond,
    position and speed errors make the closing time meaningless. ``min_speed_mps`` 2.8
    (10 km/h): below it the ego queues or parks, and every queued car beside it would be in
    its zone; remote vehicles slower than it are parked or queued, not traffic a lane change
    meets. ``same_way_deg`` 30: a lane change or a bend."""

    min_lateral_m: float = 2.0
    max_lateral_m: float = 5.25
    driver_ahead_m: float = 0.5
    zone_behind_m: float = 3.0
    closing_time_s: float = 3.5
    max_behind_m: float = 100.0
    min_speed_mps: float = 2.8
    same_way_deg: float = 30.0


class Bsw:
    """See the module docstring."""

    code = "BSW"

    def __init__(self, settings: BswSettings | None = None) -> None:
        self.settings = settings or BswSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        v = picture.vehicles
        if ego.speed < s.min_speed_mps or not len(v):
            return []
        ahead, left = in_frame_of(ego.east, ego.north, ego.heading, v.east, v.north)
        # The ego's path bends with its curvature k: at distance x it is k x^2 / 2 to the left.
        curvature = -ego.yaw_rate / ego.speed if ego.speed > MIN_CURVATURE_SPEED_MPS else 0.0
        lateral = left - curvature * ahead * ahead / 2
        side = np.abs(lateral)
        same_way = np.abs(wrap(v.heading - ego.heading)) <= math.radians(s.same_way_deg)
        next_lane = same_way & (side >= s.min_lateral_m) & (side <= s.max_lateral_m)
        next_lane &= v.speed >= s.min_speed_mps
        zone_rear = -(ego.length / 2 + s.zone_behind_m)
        front, rear = ahead + v.length / 2, ahead - v.length / 2
        in_zone = (front >= zone_rear) & (rear <= s.driver_ahead_m)
        closing_speed = v.speed * np.cos(wrap(v.heading - ego.heading)) - ego.speed
        with np.errstate(divide="ignore", invalid="ignore"):
            closing_t = np.where(closing_speed > 0, (zone_rear - front) / closing_speed, np.inf)
        closing = (front < zone_rear) & (front >= zone_rear - s.max_behind_m)
        closing &= closing_t <= s.closing_time_s
        index = np.flatnonzero(next_lane & (in_zone | closing))
        toward_left = ego.turn_signal == pb.TURN_SIGNAL_LEFT
        toward_right = ego.turn_signal == pb.TURN_SIGNAL_RIGHT
        findings = []
        for i in (int(i) for i in index):
            on_left = bool(lateral[i] > 0)
            signalled = toward_left if on_left else toward_right
            where = "left" if on_left else "right"
            if in_zone[i]:
                what = f"vehicle in the {where} blind spot"
                ttc = 0.0
            else:
                ttc = float(closing_t[i])
                what = f"vehicle closing on the {where} from behind, beside us in {ttc:.1f} s"
            findings.append(
                vehicle_finding(
                    self.code,
                    v,
                    i,
                    event_type=pb.EVENT_TYPE_BLIND_SPOT,
                    severity=pb.SEVERITY_WARNING if signalled else pb.SEVERITY_INFO,
                    description=("lane change warning: " if signalled else "") + what,
                    time_to_collision_s=ttc,
                    distance_m=float(max(zone_rear - front[i], 0.0)),
                )
            )
        return findings


SPEC = AppSpec("BSW", "blind spot warning / lane change warning", BswSettings, Bsw)
