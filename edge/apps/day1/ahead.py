"""Who is ahead of the ego vehicle in its lane: shared by the applications that look along
the ego's path (FCW, EBW, AVW, CLW, TJW).

A remote vehicle is in the ego's lane when both are matched to the same MAP lane, or (off
the MAP) when its centre is within ``half_lane_m`` of the ego's predicted path: the ego's
current curvature (yaw rate over speed) bends the path, so a car in the next lane of a bend
is not taken for one ahead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ego import Ego
from edge.apps.day1.geometry import FloatArray, in_frame_of, wrap
from edge.apps.day1.picture import Picture

MIN_CURVATURE_SPEED_MPS = 2.0  # below it, yaw rate / speed is noise


@dataclass(frozen=True, slots=True)
class Ahead:
    """The remote vehicles (indices into ``picture.vehicles``) in the ego's lane ahead within
    range, with the bumper-to-bumper gap (m) and their speed along the ego's heading (m/s)."""

    index: np.ndarray
    gap_m: FloatArray
    speed_along: FloatArray
    lateral_m: FloatArray


def in_lane_ahead(
    ego: Ego,
    picture: Picture,
    *,
    max_range_m: float,
    half_lane_m: float = 1.75,
    max_heading_deg: float = 30.0,
    behind: bool = False,
) -> Ahead:
    """Remote vehicles in the ego's lane ahead (or, with ``behind``, behind) within
    ``max_range_m``, going the same way (heading within ``max_heading_deg``)."""
    v = picture.vehicles
    ahead, left = in_frame_of(ego.east, ego.north, ego.heading, v.east, v.north)
    if behind:
        ahead, left = -ahead, -left
    # The ego's path bends with its curvature k: at distance x it has moved k x^2 / 2 left.
    curvature = -ego.yaw_rate / ego.speed if ego.speed > MIN_CURVATURE_SPEED_MPS else 0.0
    lateral = left - curvature * ahead * ahead / 2 * (1.0 if not behind else -1.0)
    heading_diff = np.abs(wrap(v.heading - ego.heading))
    same_way = heading_diff <= math.radians(max_heading_deg)
    near_path = np.abs(lateral) <= half_lane_m
    if ego.lane is not None and len(picture.lanes):
        lanes = picture.vehicle_lanes()
        own = picture.lanes.lanes.index(ego.lane.lane)
        # On the MAP, the lane decides; off it (the intersection box), the path does.
        near_path = np.where(lanes.lane >= 0, lanes.lane == own, near_path)
    gap = ahead - (ego.length + v.length) / 2
    chosen = np.flatnonzero(same_way & near_path & (ahead > 0) & (gap <= max_range_m))
    speed_along = v.speed[chosen] * np.cos(wrap(v.heading[chosen] - ego.heading))
    return Ahead(chosen, gap[chosen], speed_along, lateral[chosen])


def nearest(ahead: Ahead) -> int | None:
    """Position in ``ahead`` of the closest vehicle (None: none)."""
    return None if not len(ahead.index) else int(np.argmin(ahead.gap_m))
