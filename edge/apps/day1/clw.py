"""Control loss warning (CLW, T/CSAE 53-2017 6.2.9): a vehicle ahead going the ego's way, in
its lane or the next, reports that it is losing control: its BSM flags ``abs_activated``,
``traction_control_loss`` or ``stability_control_activated``. The road there is slippery and
the car may swerve; the warning lasts while the flags do, critical in the ego's lane within
``critical_time_s`` of the ego's driving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.apps.day1.along_path import on_road_ahead
from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding, vehicle_finding
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb

CONTROL_LOSS_FLAGS = ("abs_activated", "traction_control_loss", "stability_control_activated")
"""The ``VehicleEventFlags`` that say a vehicle's control systems are catching a skid."""


@dataclass(frozen=True)
class ClwSettings:
    """``max_range_m`` 200: engineering choice, what a PC5 radio hears reliably in traffic,
    and 7 s of driving at 100 km/h to slow down before the slippery spot.
    ``road_half_width_m`` 5.25: the ego's lane and one 3.5 m lane on each side (the brief's
    "ego's lane or adjacent"; on the MAP, the lanes of the ego's approach going its way).
    ``critical_time_s`` 4.0: at 20 m/s, stopping within 4 s of driving after a 1.5 s reaction
    takes 4 m/s^2, SAE J2945/1's hard braking (as AVW). ``min_speed_mps`` 2.8 (10 km/h):
    slower, the ego is manoeuvring (as FCW)."""

    max_range_m: float = 200.0
    road_half_width_m: float = 5.25
    critical_time_s: float = 4.0
    min_speed_mps: float = 2.8


class Clw:
    """See the module docstring."""

    code = "CLW"

    def __init__(self, settings: ClwSettings | None = None) -> None:
        self.settings = settings or ClwSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        if ego.speed < s.min_speed_mps:
            return []
        ahead = on_road_ahead(
            ego, picture, max_range_m=s.max_range_m, road_half_width_m=s.road_half_width_m
        )
        if not len(ahead):
            return []
        v = picture.vehicles
        i = ahead.index
        flags = {name: v.flag(name)[i] for name in CONTROL_LOSS_FLAGS}
        losing = np.logical_or.reduce(list(flags.values()))
        findings = []
        for k in np.flatnonzero(losing):
            j = int(i[k])
            gap = float(ahead.gap_m[k])
            critical = bool(ahead.in_lane[k]) and gap <= ego.speed * s.critical_time_s
            said = ", ".join(name.replace("_", " ") for name, on in flags.items() if on[k])
            where = "in your lane" if ahead.in_lane[k] else "ahead"
            findings.append(
                vehicle_finding(
                    self.code,
                    v,
                    j,
                    event_type=pb.EVENT_TYPE_CONTROL_LOSS,
                    severity=pb.SEVERITY_CRITICAL if critical else pb.SEVERITY_WARNING,
                    description=f"vehicle {where} {gap:.0f} m losing control: {said}",
                    distance_m=gap,
                )
            )
        return findings


SPEC = AppSpec("CLW", "control loss warning", ClwSettings, Clw)
