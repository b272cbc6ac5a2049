"""Vulnerable road user collision warning (VRUCW, a T/CSAE 53-2017 Day-1 application): a
pedestrian, cyclist or motorcyclist that a roadside unit perceives (RSM) will pass close to
the ego.

Both keep their speed and heading; the warning fires when their closest approach (centre to
centre) falls within ``safety_radius_m`` within ``ttc_s``, critical within
``critical_ttc_s``. A participant the RSM stopped reporting is gone with it (the picture
keeps an RSM ``rsm_max_age_s``); one whose report is older than ``max_age_s`` within a fresh
RSM is not used either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.geometry import closest_approach, velocity
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb

VRU_CLASSES = (pb.OBJECT_CLASS_PEDESTRIAN, pb.OBJECT_CLASS_BICYCLE, pb.OBJECT_CLASS_MOTORCYCLE)
_NAMES: dict[int, str] = {
    pb.OBJECT_CLASS_PEDESTRIAN: "pedestrian",
    pb.OBJECT_CLASS_BICYCLE: "cyclist",
    pb.OBJECT_CLASS_MOTORCYCLE: "motorcyclist",
}


@dataclass(frozen=True)
class VrucwSettings:
    """``ttc_s`` 3.0: a driver reacting in 1.5 s then braking at 5 m/s^2 from 50 km/h needs
    1.4 s more (engineering choice, the urban case). ``critical_ttc_s`` 1.5: less than the
    reaction time alone. ``safety_radius_m`` 2.5: half a car's width (0.9 m), half a cyclist's
    (0.3 m) and 1.3 m for the positions' error (RSM and GNSS, about 0.5 m each) and a
    pedestrian's change of pace (engineering choice). ``min_speed_mps`` 1.4 (5 km/h): a car
    slower than a walk is manoeuvring and its driver watching (engineering choice).
    ``max_age_s`` 0.5: five RSM periods (as the picture's RSM bound)."""

    ttc_s: float = 3.0
    critical_ttc_s: float = 1.5
    safety_radius_m: float = 2.5
    min_speed_mps: float = 1.4
    max_age_s: float = 0.5


class Vrucw:
    """See the module docstring."""

    code = "VRUCW"

    def __init__(self, settings: VrucwSettings | None = None) -> None:
        self.settings = settings or VrucwSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        p = picture.participants
        if ego.speed < s.min_speed_mps or not len(p):
            return []
        ego_ve, ego_vn = ego.velocity
        ve, vn = velocity(p.speed, p.heading)
        t, distance = closest_approach(
            p.east - ego.east, p.north - ego.north, ve - ego_ve, vn - ego_vn
        )
        vru = np.isin(p.object_class, VRU_CLASSES) & (p.age_s <= s.max_age_s)
        # t == 0: drawing apart already, the closest approach is now or past.
        hits = np.flatnonzero(vru & (t > 0) & (t <= s.ttc_s) & (distance <= s.safety_radius_m))
        findings = []
        for i in hits:
            when = float(t[i])
            now_m = float(np.hypot(p.east[i] - ego.east, p.north[i] - ego.north))
            name = _NAMES.get(int(p.object_class[i]), "road user")
            critical = when <= s.critical_ttc_s
            findings.append(
                Finding(
                    app=self.code,
                    key=p.keys[i],
                    event_type=pb.EVENT_TYPE_VRU_COLLISION,
                    severity=pb.SEVERITY_CRITICAL if critical else pb.SEVERITY_WARNING,
                    description=(
                        f"{name} {now_m:.0f} m away: within {distance[i]:.1f} m in {when:.1f} s"
                    ),
                    east=float(p.east[i]),
                    north=float(p.north[i]),
                    remote_id=p.keys[i],
                    time_to_collision_s=when,
                    distance_m=now_m,
                )
            )
        return findings


SPEC = AppSpec("VRUCW", "vulnerable road user collision warning", VrucwSettings, Vrucw)
