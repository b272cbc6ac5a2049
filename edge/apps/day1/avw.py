"""Abnormal vehicle warning (AVW, T/CSAE 53-2017 6.2.8): a vehicle ahead on the ego's road,
going its way, is abnormal: its BSM flags ``disabled_vehicle`` or its hazard lights, or it
stands or crawls where traffic flows.

"Where traffic flows" is judged honestly from what is heard: the ego itself drives at
``flow_speed_mps`` or faster, the slow vehicle has no slow vehicle within ``queue_gap_m``
ahead of it (then it waits in a queue: a jam is TJW's), and it is not within
``stop_line_zone_m`` of a MAP stop line (waiting at a signal: the end of an ingress lane,
one with connections). A speed the sender did not
say is never taken for standing still. The warning comes ``warn_time_s`` of the ego's
driving before the vehicle; critical in the ego's lane within ``critical_time_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.apps.day1.along_path import OnRoad, on_road_ahead
from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding, vehicle_finding
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True)
class AvwSettings:
    """``crawl_speed_mps`` 2.0 (7 km/h): engineering choice, walking pace and a little more;
    no flowing traffic is that slow. ``flow_speed_mps`` 8.3 (30 km/h): engineering choice,
    an ego this fast is in flowing traffic, not a queue. ``queue_gap_m`` 30: engineering
    choice, a queued car stands a few metres behind the next; 30 m allows for one unequipped
    car between them. ``stop_line_zone_m`` 40: engineering choice, about five queued cars
    at a stop line. ``warn_time_s`` 8.0: AASHTO's stopping sight distance (2.5 s reaction,
    3.4 m/s^2) is 5.4 s of driving at 20 m/s; 8 s leaves time to change lanes calmly.
    ``critical_time_s`` 4.0: at 20 m/s, stopping within 4 s of driving after a 1.5 s
    reaction takes 4 m/s^2, SAE J2945/1's hard braking. ``max_range_m`` 200: engineering
    choice, what a PC5 radio hears reliably in traffic. ``road_half_width_m`` 5.25: the
    ego's lane and one 3.5 m lane on each side. ``min_speed_mps`` 2.8 (10 km/h): slower,
    the ego is manoeuvring (as FCW)."""

    crawl_speed_mps: float = 2.0
    flow_speed_mps: float = 8.3
    queue_gap_m: float = 30.0
    stop_line_zone_m: float = 40.0
    warn_time_s: float = 8.0
    critical_time_s: float = 4.0
    max_range_m: float = 200.0
    road_half_width_m: float = 5.25
    min_speed_mps: float = 2.8


class Avw:
    """See the module docstring."""

    code = "AVW"

    def __init__(self, settings: AvwSettings | None = None) -> None:
        self.settings = settings or AvwSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        if ego.speed < s.min_speed_mps:
            return []
        # Farther than the warning reaches too: a queue ahead of a slow car explains it.
        reach = min(s.max_range_m, ego.speed * s.warn_time_s)
        ahead = on_road_ahead(
            ego,
            picture,
            max_range_m=reach + s.queue_gap_m,
            road_half_width_m=s.road_half_width_m,
        )
        if not len(ahead):
            return []
        v = picture.vehicles
        i = ahead.index
        hazard = v.flag("hazard_lights")[i] | (v.turn_signal[i] == pb.TURN_SIGNAL_HAZARD)
        disabled = v.flag("disabled_vehicle")[i]
        slow = v.speed_known[i] & (v.speed[i] <= s.crawl_speed_mps)
        flowing = ego.speed >= s.flow_speed_mps
        standing = slow & ~_queued(ahead, slow, s.queue_gap_m) & flowing
        findings = []
        for k in np.flatnonzero((hazard | disabled | standing) & (ahead.gap_m <= reach)):
            j = int(i[k])
            if not (hazard[k] or disabled[k]) and self._at_stop_line(picture, j):
                continue
            gap = float(ahead.gap_m[k])
            critical = bool(ahead.in_lane[k]) and gap <= ego.speed * s.critical_time_s
            why = (
                "disabled"
                if disabled[k]
                else "hazard lights on"
                if hazard[k]
                else f"at {v.speed[j] * 3.6:.0f} km/h in flowing traffic"
            )
            where = "in your lane" if ahead.in_lane[k] else "ahead"
            findings.append(
                vehicle_finding(
                    self.code,
                    v,
                    j,
                    event_type=pb.EVENT_TYPE_ABNORMAL_VEHICLE,
                    severity=pb.SEVERITY_CRITICAL if critical else pb.SEVERITY_WARNING,
                    description=f"abnormal vehicle {where} {gap:.0f} m: {why}",
                    distance_m=gap,
                )
            )
        return findings

    def _at_stop_line(self, picture: Picture, index: int) -> bool:
        match = picture.vehicle_lanes()[index]
        # Only an ingress lane (one with connections) ends at a stop line; an egress lane's
        # last point is just where the MAP stops drawing.
        return (
            match is not None
            and bool(match.lane.connections)
            and match.distance_to_stop_m <= self.settings.stop_line_zone_m
        )


def _queued(ahead: OnRoad, slow: np.ndarray, queue_gap_m: float) -> np.ndarray:
    """Which vehicles of ``ahead`` (nearest first) have a slow one within ``queue_gap_m``
    farther on."""
    gaps = ahead.gap_m[slow]
    if not len(gaps):
        return np.zeros(len(ahead), bool)
    # The nearest slow vehicle strictly farther than each (gaps are sorted).
    after = np.searchsorted(gaps, ahead.gap_m, side="right")
    has_next = after < len(gaps)
    next_gap = np.where(has_next, gaps[np.minimum(after, len(gaps) - 1)], np.inf)
    return has_next & (next_gap - ahead.gap_m <= queue_gap_m)


SPEC = AppSpec("AVW", "abnormal vehicle warning", AvwSettings, Avw)
