"""Emergency brake warning (EBW, T/CSAE 53-2017 6.2.6): a vehicle ahead on the ego's road,
going its way, brakes hard, even when cars in between hide it from the driver.

Hard braking is the BSM's ``hard_braking`` event flag, or the brake on with a longitudinal
acceleration of ``hard_braking_mps2`` or less. The warning lasts while the braking does; it
is critical when the braking vehicle is in the ego's lane closer than ``critical_time_gap_s``
of the ego's driving.
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
from protocols.v2x.bsm_extensions import HARD_BRAKING_MPS2


@dataclass(frozen=True)
class EbwSettings:
    """``hard_braking_mps2`` -4.0: SAE J2945/1's hard braking, 0.4 g (the threshold at which
    a sender sets the flag). ``max_range_m`` 200: engineering choice, the stopping distance
    from 120 km/h with a 2.5 s reaction (AASHTO's design figure) and 3.4 m/s^2 is about
    250 m, and 200 m is about what a PC5 radio hears reliably in traffic; farther, the
    braking has ended before the ego arrives. ``road_half_width_m`` 5.25: the ego's lane and
    one lane on each side (3.5 m lanes): a car braking in the next lane makes its
    followers swerve into the ego's. ``critical_time_gap_s`` 2.0: engineering choice, the
    two-second following rule; closer, a driver reacting in the usual 1-1.5 s to a lead
    braking at 0.4 g has next to no margin. ``min_speed_mps`` 2.8 (10 km/h): slower, the ego
    is manoeuvring or queued (as FCW)."""

    hard_braking_mps2: float = HARD_BRAKING_MPS2
    max_range_m: float = 200.0
    road_half_width_m: float = 5.25
    critical_time_gap_s: float = 2.0
    min_speed_mps: float = 2.8


class Ebw:
    """See the module docstring."""

    code = "EBW"

    def __init__(self, settings: EbwSettings | None = None) -> None:
        self.settings = settings or EbwSettings()

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
        # A non-finite acceleration compares False: no warning from a bad reading.
        braking = v.flag("hard_braking")[i] | (v.brake[i] & (v.accel[i] <= s.hard_braking_mps2))
        findings = []
        for k in np.flatnonzero(braking):
            j = int(i[k])
            gap = float(ahead.gap_m[k])
            time_gap = gap / ego.speed
            critical = bool(ahead.in_lane[k]) and time_gap <= s.critical_time_gap_s
            where = "in your lane" if ahead.in_lane[k] else "ahead"
            findings.append(
                vehicle_finding(
                    self.code,
                    v,
                    j,
                    event_type=pb.EVENT_TYPE_EMERGENCY_BRAKE,
                    severity=pb.SEVERITY_CRITICAL if critical else pb.SEVERITY_WARNING,
                    description=(
                        f"vehicle {where} {gap:.0f} m braking hard "
                        f"({v.accel[j]:.1f} m/s^2, {v.speed[j] * 3.6:.0f} km/h)"
                    ),
                    distance_m=gap,
                )
            )
        return findings


SPEC = AppSpec("EBW", "emergency brake warning", EbwSettings, Ebw)
