"""Left turn assist (LTA, T/CSAE 53-2017 6.2.3): the ego is about to turn left across the
oncoming lanes and an oncoming vehicle will arrive before the turn is done.

The ego is turning left when it is on a MAP lane that allows a left turn, within
``approach_m`` of its stop line, and signals left (or the lane allows nothing but left); off
the MAP, when it signals left at a turning speed (at most ``max_turn_speed_mps``: faster,
a left signal is an overtake, DNPW's case). The turn needs the ego's time to its stop line
plus ``turn_time_s``; an oncoming vehicle (heading within ``oncoming_deg`` of the opposite,
ahead, left of the ego by at most ``max_lateral_m``) that reaches the ego's stop line sooner,
at its speed and BSM acceleration, is a conflict. A vehicle that signals left is itself
turning left in front of the ego and crosses no path of ours (right-hand traffic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding, vehicle_finding
from edge.apps.day1.geometry import in_frame_of, time_to_cover, wrap
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class LtaSettings:
    """``turn_time_s`` 5.5: engineering choice: a car starting from the stop line at 2 m/s^2
    covers the ~25 m of a left turn across two oncoming lanes and clear of them in 5 s; 0.5 s
    margin. ``critical_s`` 3.0: engineering choice: an oncoming driver at 50 km/h reacting
    in 1.5 s and braking at 0.5 g needs 40 m, 2.9 s. ``approach_m`` 50: engineering choice:
    the last 50 m of a left-turn lane (3.6 s at 50 km/h), where the driver commits to the
    turn. ``max_turn_speed_mps`` 6.9 (25 km/h): engineering choice: left turns are driven at
    15-25 km/h. ``oncoming_deg`` 30: the heading of an oncoming vehicle may differ from the
    opposite of ours by a lane change or a bend. ``max_lateral_m`` 14: four 3.5 m lanes to
    the ego's left, the oncoming lanes of an urban arm."""

    turn_time_s: float = 5.5
    critical_s: float = 3.0
    approach_m: float = 50.0
    max_turn_speed_mps: float = 6.9
    oncoming_deg: float = 30.0
    max_lateral_m: float = 14.0


class Lta:
    """See the module docstring."""

    code = "LTA"

    def __init__(self, settings: LtaSettings | None = None) -> None:
        self.settings = settings or LtaSettings()

    def _to_stop_m(self, ego: Ego) -> float | None:
        """Metres to the stop line the ego turns left at (0 off the MAP), None: not turning
        left."""
        s = self.settings
        signal_left = ego.turn_signal == pb.TURN_SIGNAL_LEFT
        if ego.lane is None:
            return 0.0 if signal_left and ego.speed <= s.max_turn_speed_mps else None
        maneuvers = ego.lane.lane.maneuvers
        if "left" not in maneuvers or ego.lane.distance_to_stop_m > s.approach_m:
            return None
        return ego.lane.distance_to_stop_m if signal_left or maneuvers == {"left"} else None

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        v = picture.vehicles
        to_stop = self._to_stop_m(ego)
        if to_stop is None or not len(v):
            return []
        ahead, left = in_frame_of(ego.east, ego.north, ego.heading, v.east, v.north)
        opposite = np.abs(wrap(v.heading - ego.heading + math.pi)) <= math.radians(s.oncoming_deg)
        oncoming = (
            opposite
            & (ahead > 0)
            & (left > 0)
            & (left <= s.max_lateral_m)
            & (v.turn_signal != pb.TURN_SIGNAL_LEFT)
        )
        index = np.flatnonzero(oncoming)
        if not len(index):
            return []
        # Where the turn starts: the ego's stop line, level with which the oncoming arrive.
        to_line = np.maximum(ahead[index] - to_stop, 0.0)
        speed_along = v.speed[index] * -np.cos(wrap(v.heading[index] - ego.heading))
        with np.errstate(over="ignore"):  # a crawl's huge times are as good as inf
            arrival = time_to_cover(to_line, speed_along, v.accel[index])
        (ego_at_line,) = time_to_cover(np.array([to_stop]), np.array([ego.speed]), np.zeros(1))
        if not math.isfinite(ego_at_line):
            ego_at_line = 0.0  # waiting at the line: the turn starts when the driver goes
        needed = ego_at_line + s.turn_time_s
        findings = []
        for k in np.flatnonzero(arrival <= needed):
            i = int(index[k])
            t = float(arrival[k])
            findings.append(
                vehicle_finding(
                    self.code,
                    v,
                    i,
                    event_type=pb.EVENT_TYPE_LEFT_TURN_ASSIST,
                    severity=pb.SEVERITY_CRITICAL if t <= s.critical_s else pb.SEVERITY_WARNING,
                    description=(
                        f"oncoming vehicle {to_line[k]:.0f} m, {v.speed[i] * 3.6:.0f} km/h: "
                        f"arrives in {t:.1f} s, the turn needs {needed:.1f} s"
                    ),
                    time_to_collision_s=t,
                    distance_m=float(to_line[k]),
                )
            )
        return findings


SPEC = AppSpec("LTA", "left turn assist", LtaSettings, Lta)
