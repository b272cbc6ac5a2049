"""Lane matching: which of the heard MAPs' lanes a road user is on, and how far its stop line is.

A point is on a lane when it projects onto one of the lane's segments within half the lane's
width (plus a margin for GNSS error) and its heading agrees with the lane's direction of
travel (upstream to stop line, as MAP draws lanes). Of several, the nearest centre line wins.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.apps.day1.geometry import FloatArray, wrap
from protocols.v2x.map import LaneConnection

DEFAULT_WIDTH_M = 3.5
"""A lane whose MAP gives no width: the usual urban lane (GB 50647 / CJJ 37: 3.25-3.5 m)."""


@dataclass(frozen=True, slots=True, eq=False)
class Lane:
    """One MAP lane in the picture's frame: points (east, north) from upstream to stop line."""

    node_id: int
    lane_id: int
    approach: int  # the upstream node id of its link
    points: FloatArray  # (k, 2)
    width_m: float
    maneuvers: frozenset[str]
    connections: tuple[LaneConnection, ...]
    speed_limit_mps: float | None
    lane_type: str | None = None

    @property
    def stop_line(self) -> tuple[float, float]:
        return float(self.points[-1, 0]), float(self.points[-1, 1])

    @property
    def heading_at_stop_rad(self) -> float:
        """Direction of travel over the lane's last segment."""
        (e0, n0), (e1, n1) = self.points[-2], self.points[-1]
        return math.atan2(float(e1 - e0), float(n1 - n0))

    @property
    def signal_groups(self) -> tuple[int, ...]:
        """The signal groups of its movements, each once."""
        groups = (c.signal_group for c in self.connections if c.signal_group is not None)
        return tuple(dict.fromkeys(groups))


@dataclass(frozen=True, slots=True)
class LaneMatch:
    """A road user on ``lane``: metres to the stop line along it, metres left of its centre
    line, and the heading difference (its heading minus the lane's)."""

    lane: Lane
    distance_to_stop_m: float
    lateral_m: float
    heading_error_rad: float


@dataclass(frozen=True, slots=True)
class LaneMatching:
    """How tolerant matching is. ``heading_tolerance_deg`` 45: a car changing lanes or
    turning stays on its lane; ``margin_m`` 1.0: the 1.5 m positioning accuracy T/CSAE 53
    asks of lane-level applications, less the half width of a car."""

    heading_tolerance_deg: float = 45.0
    margin_m: float = 1.0


@dataclass(eq=False)
class LaneIndex:
    """The lanes of every known MAP, with their segments stacked for vectorised matching."""

    lanes: Sequence[Lane] = ()
    matching: LaneMatching = field(default_factory=LaneMatching)

    def __post_init__(self) -> None:
        starts, dirs, lengths, owner, to_end = [], [], [], [], []
        for index, lane in enumerate(self.lanes):
            pts = np.asarray(lane.points, dtype=np.float64)
            seg = np.diff(pts, axis=0)
            seg_len = np.hypot(seg[:, 0], seg[:, 1])
            keep = seg_len > 1e-6
            seg, seg_len, start = seg[keep], seg_len[keep], pts[:-1][keep]
            # Distance from each segment's end to the stop line (the lane's last point).
            remaining = np.concatenate([np.cumsum(seg_len[::-1])[::-1][1:], [0.0]])
            starts.append(start)
            dirs.append(seg / seg_len[:, None])
            lengths.append(seg_len)
            owner.append(np.full(len(seg_len), index))
            to_end.append(remaining)
        empty = np.zeros((0, 2))
        self._start = np.concatenate(starts) if starts else empty
        self._dir = np.concatenate(dirs) if dirs else empty
        self._len = np.concatenate(lengths) if lengths else np.zeros(0)
        self._owner = np.concatenate(owner).astype(np.int64) if owner else np.zeros(0, np.int64)
        self._to_end = np.concatenate(to_end) if to_end else np.zeros(0)
        self._heading = np.arctan2(self._dir[:, 0], self._dir[:, 1])
        self._half_width = np.array([self.lanes[i].width_m / 2 for i in self._owner])
        self._by_id = {(lane.node_id, lane.lane_id): lane for lane in self.lanes}

    def __len__(self) -> int:
        return len(self.lanes)

    def lane(self, node_id: int, lane_id: int) -> Lane | None:
        return self._by_id.get((node_id, lane_id))

    def match(
        self, east: npt.ArrayLike, north: npt.ArrayLike, heading: npt.ArrayLike
    ) -> LaneMatches:
        """The lane each road user is on (None: on none), vectorised over road users."""
        e = np.atleast_1d(np.asarray(east, dtype=np.float64))
        n = np.atleast_1d(np.asarray(north, dtype=np.float64))
        h = np.atleast_1d(np.asarray(heading, dtype=np.float64))
        count = len(e)
        lane = np.full(count, -1, np.int64)
        to_stop, lateral, heading_error = np.zeros(count), np.zeros(count), np.zeros(count)
        if len(self._len) and count:
            de = e[:, None] - self._start[None, :, 0]
            dn = n[:, None] - self._start[None, :, 1]
            along = np.clip(de * self._dir[:, 0] + dn * self._dir[:, 1], 0.0, self._len)
            off_e = de - along * self._dir[:, 0]
            off_n = dn - along * self._dir[:, 1]
            distance = np.hypot(off_e, off_n)
            error = wrap(h[:, None] - self._heading[None, :])
            tolerance = math.radians(self.matching.heading_tolerance_deg)
            fits = (distance <= self._half_width + self.matching.margin_m) & (
                np.abs(error) <= tolerance
            )
            score = np.where(fits, distance, np.inf)
            best = np.argmin(score, axis=1)
            rows = np.arange(count)
            found = np.isfinite(score[rows, best])
            lane = np.where(found, self._owner[best], -1)
            to_stop = self._len[best] - along[rows, best] + self._to_end[best]
            # Left of the direction of travel: the cross product dir x offset is positive.
            lateral = (
                self._dir[best, 0] * off_n[rows, best] - self._dir[best, 1] * off_e[rows, best]
            )
            heading_error = error[rows, best]
        return LaneMatches(self.lanes, lane, to_stop, lateral, heading_error)


@dataclass(frozen=True, slots=True)
class LaneMatches:
    """Lane matches of several road users: ``lane`` holds each one's index into ``lanes``
    (-1: on none); indexing gives a ``LaneMatch`` or None, made when asked for."""

    lanes: Sequence[Lane]
    lane: npt.NDArray[np.int64]
    distance_to_stop_m: FloatArray
    lateral_m: FloatArray
    heading_error_rad: FloatArray

    def __len__(self) -> int:
        return len(self.lane)

    def __getitem__(self, index: int | np.integer[Any]) -> LaneMatch | None:
        k = int(self.lane[index])
        if k < 0:
            return None
        return LaneMatch(
            lane=self.lanes[k],
            distance_to_stop_m=float(self.distance_to_stop_m[index]),
            lateral_m=float(self.lateral_m[index]),
            heading_error_rad=float(self.heading_error_rad[index]),
        )

    def __iter__(self) -> Iterator[LaneMatch | None]:
        return (self[i] for i in range(len(self)))
