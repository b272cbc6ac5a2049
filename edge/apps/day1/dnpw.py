"""Do not pass warning (DNPW, T/CSAE 53-2017 6.2.5): the ego signals left to overtake on a
two-way road while an oncoming vehicle in the passing lane is too close to finish the pass.

The ego is starting a pass when it signals left at ``min_speed_mps`` or more and is not on
a MAP lane that turns left (there a left signal is a turn, LTA's case). An oncoming vehicle
(heading within ``oncoming_deg`` of the opposite, ahead, its centre ``min_lateral_m`` to
``max_lateral_m`` to the left: the lane a pass uses, not a divided road's far side) is a
conflict when the two will meet, at their speeds, within ``passing_time_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding, vehicle_finding
from edge.apps.day1.geometry import in_frame_of, wrap
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class DnpwSettings:
    """``passing_time_s`` 10.0: AASHTO's passing sight distance model has the passing vehicle
    in the opposing lane for about 9 to 11 s at 50-110 km/h. ``critical_s`` 5.0: engineering
    choice: less than half a pass ahead, abandoning it is the only way out.
    ``min_speed_mps`` 8.3 (30 km/h): engineering choice: slower, a left signal is a turn
    (LTA's), not an overtake. ``min_lateral_m`` 1.75 and ``max_lateral_m`` 5.25: the passing
    lane's centre is one 3.5 m lane to the left; these are its edges with half a lane of
    tolerance on the far side, so a divided road's other carriageway is out.
    ``oncoming_deg`` 30: a lane change or a bend."""

    passing_time_s: float = 10.0
    critical_s: float = 5.0
    min_speed_mps: float = 8.3
    min_lateral_m: float = 1.75
    max_lateral_m: float = 5.25
    oncoming_deg: float = 30.0


class Dnpw:
    """See the module docstring."""

    code = "DNPW"

    def __init__(self, settings: DnpwSettings | None = None) -> None:
        self.settings = settings or DnpwSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        v = picture.vehicles
        if ego.turn_signal != pb.TURN_SIGNAL_LEFT or ego.speed < s.min_speed_mps or not len(v):
            return []
        if ego.lane is not None and "left" in ego.lane.lane.maneuvers:
            return []
        ahead, left = in_frame_of(ego.east, ego.north, ego.heading, v.east, v.north)
        diff = wrap(v.heading - ego.heading)
        opposite = np.abs(wrap(diff + math.pi)) <= math.radians(s.oncoming_deg)
        gap = ahead - (ego.length + v.length) / 2
        in_lane = (left >= s.min_lateral_m) & (left <= s.max_lateral_m)
        index = np.flatnonzero(opposite & in_lane & (gap > 0))
        if not len(index):
            return []
        closing = ego.speed - v.speed[index] * np.cos(diff[index])
        with np.errstate(divide="ignore"):
            # Only a wide ``oncoming_deg`` lets a vehicle run away from us: it never meets us.
            meet = np.where(closing > 0, gap[index] / closing, np.inf)
        findings = []
        for k in np.flatnonzero(meet <= s.passing_time_s):
            i = int(index[k])
            t = float(meet[k])
            findings.append(
                vehicle_finding(
                    self.code,
                    v,
                    i,
                    event_type=pb.EVENT_TYPE_DO_NOT_PASS,
                    severity=pb.SEVERITY_CRITICAL if t <= s.critical_s else pb.SEVERITY_WARNING,
                    description=(
                        f"do not pass: oncoming vehicle {gap[i]:.0f} m, "
                        f"{v.speed[i] * 3.6:.0f} km/h, meets us in {t:.1f} s"
                    ),
                    time_to_collision_s=t,
                    distance_m=float(gap[i]),
                )
            )
        return findings


SPEC = AppSpec("DNPW", "do not pass warning", DnpwSettings, Dnpw)
