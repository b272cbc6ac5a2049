"""Traffic jam warning (TJW, T/CSAE 53-2017 6.2.13): the ego drives fast towards a jam ahead
on its road.

A jam is ``min_vehicles`` consecutive vehicles ahead on the ego's road going its way (any
lane, speeds the senders said), spread over at most ``jam_length_m`` and with a mean speed
along the road of at most ``jam_speed_mps``; the nearest such group counts, its nearest car
is the jam's tail. The ego is warned when it is ``closing_speed_mps`` faster than the jam
and would reach the tail within ``warn_time_s`` at that closing speed; critical within
``critical_time_s``. There is one episode per jam (key ``"jam"``): the tail changes as cars
join it, the jam does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edge.apps.day1.along_path import on_road_ahead
from edge.apps.day1.ego import Ego
from edge.apps.day1.findings import Finding
from edge.apps.day1.picture import Picture
from edge.apps.day1.registry import AppSpec
from protocols.schema.v1 import roadgate_pb2 as pb

JAM_KEY = "jam"


@dataclass(frozen=True)
class TjwSettings:
    """``min_vehicles`` 3: engineering choice, two slow cars may be a turn or a breakdown
    (AVW's), three in a row are a queue. ``jam_length_m`` 60: engineering choice, three
    cars within 60 m on a multi-lane road is dense traffic, not slow cars far apart.
    ``jam_speed_mps`` 5.5 (20 km/h): engineering choice, stop-and-go; faster is slow flow.
    ``closing_speed_mps`` 8.3 (30 km/h): engineering choice, a smaller difference is
    absorbed by ordinary following. ``warn_time_s`` 8.0: AASHTO's stopping sight distance
    (2.5 s reaction, 3.4 m/s^2) is 5.4 s of driving at 20 m/s; 8 s lets the driver slow
    down smoothly (as AVW). ``critical_time_s`` 4.0: closing at 20 m/s, stopping within 4 s
    after a 1.5 s reaction takes 4 m/s^2, SAE J2945/1's hard braking. ``max_range_m`` 300:
    engineering choice, 8 s at 120 km/h (China's motorway limit) is 267 m; farther cars are
    seldom heard. ``road_half_width_m`` 7.0: engineering choice, the ego's lane and two
    3.5 m lanes on each side (a jam fills every lane)."""

    min_vehicles: int = 3
    jam_length_m: float = 60.0
    jam_speed_mps: float = 5.5
    closing_speed_mps: float = 8.3
    warn_time_s: float = 8.0
    critical_time_s: float = 4.0
    max_range_m: float = 300.0
    road_half_width_m: float = 7.0


@dataclass(frozen=True, slots=True)
class Jam:
    """The nearest jam ahead: its tail (position in ``on_road_ahead``'s result), how far
    (bumper gap, m), how many cars of it were heard and their mean speed (m/s)."""

    tail: int
    gap_m: float
    length_m: float
    vehicles: int
    speed_mps: float


class Tjw:
    """See the module docstring."""

    code = "TJW"

    def __init__(self, settings: TjwSettings | None = None) -> None:
        self.settings = settings or TjwSettings()

    def evaluate(self, ego: Ego, picture: Picture) -> list[Finding]:
        s = self.settings
        if ego.speed < s.closing_speed_mps:
            return []
        ahead = on_road_ahead(
            ego, picture, max_range_m=s.max_range_m, road_half_width_m=s.road_half_width_m
        )
        known = picture.vehicles.speed_known[ahead.index]
        jam = find_jam(ahead.gap_m[known], np.maximum(ahead.speed_along[known], 0.0), s)
        if jam is None:
            return []
        closing = ego.speed - jam.speed_mps
        if closing < s.closing_speed_mps:
            return []
        time_to_tail = jam.gap_m / closing
        if time_to_tail > s.warn_time_s:
            return []
        j = int(ahead.index[known][jam.tail])
        v = picture.vehicles
        critical = time_to_tail <= s.critical_time_s
        return [
            Finding(
                app=self.code,
                key=JAM_KEY,
                event_type=pb.EVENT_TYPE_TRAFFIC_JAM,
                severity=pb.SEVERITY_CRITICAL if critical else pb.SEVERITY_WARNING,
                description=(
                    f"traffic jam {jam.gap_m:.0f} m ahead: {jam.vehicles} vehicles over "
                    f"{jam.length_m:.0f} m at {jam.speed_mps * 3.6:.0f} km/h"
                ),
                east=float(v.east[j]),
                north=float(v.north[j]),
                time_to_collision_s=time_to_tail,
                distance_m=jam.gap_m,
            )
        ]


def find_jam(gap_m: np.ndarray, speed_mps: np.ndarray, settings: TjwSettings) -> Jam | None:
    """The nearest jam among vehicles at ``gap_m`` (sorted, nearest first) moving at
    ``speed_mps`` along the road, or None."""
    n = settings.min_vehicles
    if n < 1 or len(gap_m) < n:
        return None
    span = gap_m[n - 1 :] - gap_m[: len(gap_m) - n + 1]
    mean = sliding_window_view(speed_mps, n).mean(axis=1)
    jammed = np.flatnonzero((span <= settings.jam_length_m) & (mean <= settings.jam_speed_mps))
    if not len(jammed):
        return None
    tail = int(jammed[0])
    # The jam goes on as long as overlapping jammed groups do.
    last = tail
    for start in jammed[1:]:
        if start > last + n - 1:
            break
        last = int(start)
    members = slice(tail, last + n)
    return Jam(
        tail=tail,
        gap_m=float(gap_m[tail]),
        length_m=float(gap_m[last + n - 1] - gap_m[tail]),
        vehicles=last + n - tail,
        speed_mps=float(np.mean(speed_mps[members])),
    )


SPEC = AppSpec("TJW", "traffic jam warning", TjwSettings, Tjw)
