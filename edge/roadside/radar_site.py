"""Where a radar stands at an intersection, what it can see, and its reports in the
intersection's local frame."""

from __future__ import annotations

import math
from collections.abc import Mapping
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
        x, y = self._to_sensor(positions[:, 0] - self.east_m, positions[:, 1] - self.north_m)
        rng = np.hypot(x, y)
        bearing = np.abs(np.arctan2(y, x))
        inside = np.zeros(positions.shape[0], np.bool_)
        for beam in self.beams:
            inside |= (rng <= beam.max_range_m - COVERAGE_MARGIN_M) & (
                bearing <= beam.half_angle_rad - COVERAGE_MARGIN_RAD
            )
        return inside & (x > COVERAGE_MARGIN_M)

    def to_local(
        self, x_m: FloatArray, y_m: FloatArray, vx_mps: FloatArray, vy_mps: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Return the positions and velocities (M, 2) east/north of sensor-frame reports
        (x forward, y left, distances in the road plane as the object lists give them)."""
        s, c = math.sin(self.yaw_rad), math.cos(self.yaw_rad)
        # Forward is (sin yaw, cos yaw) in east-north, left is (-cos yaw, sin yaw).
        east = self.east_m + x_m * s - y_m * c
        north = self.north_m + x_m * c + y_m * s
        positions = np.stack((east, north), axis=-1)
        velocities = np.stack((vx_mps * s - vy_mps * c, vx_mps * c + vy_mps * s), axis=-1)
        return positions, velocities

    def _to_sensor(self, east: FloatArray, north: FloatArray) -> tuple[FloatArray, FloatArray]:
        s, c = math.sin(self.yaw_rad), math.cos(self.yaw_rad)
        return east * s + north * c, -east * c + north * s
