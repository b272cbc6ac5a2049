"""Where a radar stands at an intersection, what it can see, and its reports in the
intersection's local frame."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge.roadside.radar_noise import RadarNoise
from edge.tracking.track_set import BoolArray, FloatArray


@dataclass(frozen=True, slots=True)
class Beam:
    """One of a radar's fields of view: reach and half opening angle about the boresight."""

    max_range_m: float
    half_angle_rad: float


RADAR_BEAMS: Mapping[str, tuple[Beam, ...]] = {
    # ARS408-21: near scan 70 m at +-45 deg (to +-60 deg short), far scan 250 m at +-9 deg.
    "ars408": (Beam(70.0, math.radians(45)), Beam(250.0, math.radians(9))),
    # Delphi ESR 2.5: mid range 60 m at +-45 deg, long range 174 m at +-10 deg.
    "delphi_esr": (Beam(60.0, math.radians(45)), Beam(174.0, math.radians(10))),
}
"""The fields of view of each radar kind the box config accepts."""

COVERAGE_MARGIN_M = 3.0
COVERAGE_MARGIN_RAD = math.radians(3)
"""How far inside its beams a track must be for a radar's silence to count as a miss: objects
on a beam's edge come and go."""


@dataclass(frozen=True, slots=True)
class RadarSite:
    """A radar's mounting pose in the intersection frame (metres east/north of the reference
    point, ``height_m`` above the road, boresight ``yaw_rad`` clockwise from north), how
    precisely it measures and where it looks."""

    sensor_id: str
    east_m: float
    north_m: float
    height_m: float
    yaw_rad: float
    noise: RadarNoise
    beams: tuple[Beam, ...]

    def covers(self, positions: FloatArray) -> BoolArray:
        """Return which of the (N, 2) east-north positions lie well inside the beams."""
        inside: BoolArray = FieldsOfView((self,)).covers(positions)[0]
        return inside

    def to_local(
        self, x_m: FloatArray, y_m: FloatArray, vx_mps: FloatArray, vy_mps: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Return the positions and velocities (M, 2) east/north of sensor-frame reports
        (x forward, y left, distances in the road plane as the object lists give them)."""
        s, c = math.sin(self.yaw_rad), math.cos(self.yaw_rad)
        # Forward is (sin yaw, cos yaw) in east-north, left is (-cos yaw, sin yaw).
        positions = np.empty((x_m.shape[0], 2))
        positions[:, 0] = self.east_m + x_m * s - y_m * c
        positions[:, 1] = self.north_m + x_m * c + y_m * s
        velocities = np.empty((x_m.shape[0], 2))
        velocities[:, 0] = vx_mps * s - vy_mps * c
        velocities[:, 1] = vx_mps * c + vy_mps * s
        return positions, velocities


class FieldsOfView:
    """Where several radars look, for asking of many positions at once which radar covers
    which (what :meth:`RadarSite.covers` answers for one)."""

    def __init__(self, sites: Sequence[RadarSite]) -> None:
        def column(values: Sequence[float]) -> FloatArray:
            return np.array(values, np.float64).reshape(-1, 1)

        self._east = column([s.east_m for s in sites])
        self._north = column([s.north_m for s in sites])
        self._sin = column([math.sin(s.yaw_rad) for s in sites])
        self._cos = column([math.cos(s.yaw_rad) for s in sites])
        # Beam b of each site as columns; a site with fewer beams is padded with beams that
        # cover nothing.
        n_beams = max((len(s.beams) for s in sites), default=0)
        nowhere = Beam(-math.inf, -math.inf)
        padded = [s.beams + (nowhere,) * (n_beams - len(s.beams)) for s in sites]
        # A beam covers a point ahead (x > 0) within its reach and its half angle: compared
        # squared and as a slope, |y| <= x tan(half angle), no hypot or arctan2 per point.
        self._reach_squared = [
            column([_squared_reach(beams[b].max_range_m - COVERAGE_MARGIN_M) for beams in padded])
            for b in range(n_beams)
        ]
        self._slope = [
            column([_slope(beams[b].half_angle_rad - COVERAGE_MARGIN_RAD) for beams in padded])
            for b in range(n_beams)
        ]

    def covers(self, positions: FloatArray) -> BoolArray:
        """Return (S, N): whether site s covers east-north position n well inside its beams."""
        east = positions[:, 0] - self._east
        north = positions[:, 1] - self._north
        # In each sensor's frame: x forward (sin yaw, cos yaw), y left (-cos yaw, sin yaw).
        x = east * self._sin + north * self._cos
        y = -east * self._cos + north * self._sin
        range_squared = x * x + y * y
        across = np.abs(y)
        inside = np.zeros(x.shape, np.bool_)
        for reach_squared, slope in zip(self._reach_squared, self._slope, strict=True):
            inside |= (range_squared <= reach_squared) & (across <= slope * x)
        inside &= x > COVERAGE_MARGIN_M
        return inside


def _squared_reach(reach_m: float) -> float:
    """The reach squared; -1 (nothing within) for a beam that reaches nowhere."""
    return reach_m * reach_m if reach_m >= 0 else -1.0


def _slope(half_angle_rad: float) -> float:
    """tan of the half angle: -1 (no point) below 0, infinite (every point ahead) from 90 deg."""
    if half_angle_rad < 0:
        return -1.0
    return math.tan(half_angle_rad) if half_angle_rad < math.pi / 2 else math.inf
