"""Who is ahead of the ego vehicle on its road, any lane, going its way: shared by the
applications that warn about what happens further down the road (EBW, AVW, CLW, TJW).

Off the MAP, a remote vehicle is on the ego's road when its centre is within
``road_half_width_m`` of the ego's predicted path (bent by the ego's curvature, as in
``ahead.in_lane_ahead``), and in the ego's lane within ``half_lane_m``. On the MAP, lanes
decide: the ego's lane and the lanes it connects to are its lane; every lane of the same
approaches (its arm and the arms it leads to) is its road. Only vehicles heading the ego's
way count, so the lanes of the other direction drop out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.apps.day1.ahead import MIN_CURVATURE_SPEED_MPS
from edge.apps.day1.ego import Ego
from edge.apps.day1.geometry import FloatArray, in_frame_of, wrap
from edge.apps.day1.lanes import Lane, LaneIndex
from edge.apps.day1.picture import Picture

LaneKey = tuple[int, int]  # (node id, lane id)


@dataclass(frozen=True, slots=True)
class OnRoad:
    """The remote vehicles (indices into ``picture.vehicles``) on the ego's road ahead within
    range, nearest first: bumper-to-bumper gap (m), speed along the ego's heading (m/s),
    metres left of the ego's path, and whether each is in the ego's lane."""

    index: np.ndarray
    gap_m: FloatArray
    speed_along: FloatArray
    lateral_m: FloatArray
    in_lane: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.index)


def on_road_ahead(
    ego: Ego,
    picture: Picture,
    *,
    max_range_m: float,
    road_half_width_m: float = 5.25,
    half_lane_m: float = 1.75,
    max_heading_deg: float = 30.0,
) -> OnRoad:
    """Remote vehicles ahead on the ego's road within ``max_range_m`` (gap), heading within
    ``max_heading_deg`` of the ego. ``road_half_width_m`` 5.25: the ego's lane and one
    3.5 m lane on each side (off the MAP)."""
    v = picture.vehicles
    ahead, left = in_frame_of(ego.east, ego.north, ego.heading, v.east, v.north)
    # The ego's path bends with its curvature k: at distance x it has moved k x^2 / 2 left.
    curvature = -ego.yaw_rate / ego.speed if ego.speed > MIN_CURVATURE_SPEED_MPS else 0.0
    lateral = left - curvature * ahead * ahead / 2
    same_way = np.abs(wrap(v.heading - ego.heading)) <= math.radians(max_heading_deg)
    gap = ahead - (ego.length + v.length) / 2
    candidate = same_way & (ahead > 0) & (gap <= max_range_m)
    in_lane = np.abs(lateral) <= half_lane_m
    on_road = np.abs(lateral) <= road_half_width_m
    if ego.lane is not None and len(picture.lanes):
        path, road = _lanes_of(ego.lane.lane, picture.lanes)
        lanes = picture.vehicle_lanes()
        # Only the candidates are looked up: the rest are dropped anyway.
        for i in np.flatnonzero(candidate):
            match = lanes[i]
            if match is None:
                continue  # off the MAP (the intersection box): the path decides
            key = (match.lane.node_id, match.lane.lane_id)
            in_lane[i] = key in path
            on_road[i] = key in road
    chosen = np.flatnonzero(candidate & on_road)
    chosen = chosen[np.argsort(gap[chosen], kind="stable")]
    speed_along = v.speed[chosen] * np.cos(wrap(v.heading[chosen] - ego.heading))
    return OnRoad(chosen, gap[chosen], speed_along, lateral[chosen], in_lane[chosen])


def _lanes_of(own: Lane, index: LaneIndex) -> tuple[set[LaneKey], set[LaneKey]]:
    """(the ego's lane and the lanes it leads to, every lane of their approaches)."""
    path = {(own.node_id, own.lane_id)}
    path.update((c.node_id, c.lane_id) for c in own.connections)
    approaches = {(own.node_id, own.approach)}
    for node_id, lane_id in path:
        lane = index.lane(node_id, lane_id)
        if lane is not None:
            approaches.add((lane.node_id, lane.approach))
    road = {
        (lane.node_id, lane.lane_id)
        for lane in index.lanes
        if (lane.node_id, lane.approach) in approaches
    }
    return path, road | path
