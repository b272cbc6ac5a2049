"""What a roadside radar reports of a scene: its field of view, objects in the shadow of
taller nearer ones (``truth.HEIGHTS_M`` and the mount's height), misses, clutter, one object
split in two or two merged into one, and measurement noise as ``edge.roadside.radar_noise``
says (so the tracker's assumptions are the truth here).

Order within a scan: field of view and occlusion, merging, misses, splitting, noise, clutter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from edge.roadside.radar_noise import RadarNoise
from edge.tracking.track_set import BoolArray, FloatArray, IntArray
from firmware_py.simulation.radar import FAR_HALF_ANGLE, FAR_RANGE_M, NEAR_HALF_ANGLE, NEAR_RANGE_M
from firmware_py.simulation.truth import RadarMount, Scene

MIN_FORWARD_M = 0.5
"""Nothing closer than this in front of the antenna is reported."""

SPLIT_MIN_LENGTH_M = 3.0
"""Only objects at least this long (vehicles) are ever reported as two."""

CLUTTER_SIZE_M = 0.5
"""Length and width reported for a clutter point."""

OCCLUDED_FRACTION = 0.5
"""An object is hidden when a nearer, taller one covers this much of its angular extent."""


@dataclass(frozen=True, slots=True)
class Beam:
    """A circular sector in front of the radar: ``range_m`` deep, ±``half_angle_rad`` wide."""

    range_m: float
    half_angle_rad: float


FIELDS_OF_VIEW: Mapping[str, tuple[Beam, ...]] = {
    # ARS408-21: near beam 70 m ±45°, far beam 250 m ±9°.
    "ars408": (Beam(NEAR_RANGE_M, NEAR_HALF_ANGLE), Beam(FAR_RANGE_M, FAR_HALF_ANGLE)),
    # Delphi ESR 2.5: mid range 60 m ±45°, long range 174 m ±10°.
    "delphi_esr": (Beam(60.0, math.radians(45.0)), Beam(174.0, math.radians(10.0))),
}


@dataclass(frozen=True, eq=False)
class RadarReturns:
    """One scan's M returns in the sensor frame (x forward, y left), with over-ground velocity
    in sensor axes; ``truth_ids`` name the object each return came from, -1 for clutter."""

    sensor_id: str
    time_s: float
    x_m: FloatArray
    y_m: FloatArray
    vx_mps: FloatArray
    vy_mps: FloatArray
    object_class: tuple[str, ...]
    length_m: FloatArray
    width_m: FloatArray
    rcs_dbsm: FloatArray
    truth_ids: IntArray

    def __len__(self) -> int:
        return int(self.x_m.size)


@dataclass(frozen=True)
class ClutterAndMisses:
    """The imperfections of a scan: each visible object is reported with
    ``detection_probability``; Poisson clutter with mean ``clutter_per_scan`` falls uniformly in
    the field of view; a vehicle is reported as two returns with ``split_probability``; two
    objects nearer each other than ``merge_distance_m`` are reported as one; ``occlusion``
    hides objects in the shadow of taller nearer ones."""

    detection_probability: float = 0.95
    clutter_per_scan: float = 1.0
    split_probability: float = 0.02
    merge_distance_m: float = 1.0
    occlusion: bool = True

    def __post_init__(self) -> None:
        ok = (
            0.0 <= self.detection_probability <= 1.0
            and 0.0 <= self.split_probability <= 1.0
            and 0.0 <= self.clutter_per_scan < 1e4
            and 0.0 <= self.merge_distance_m < 1e3
        )
        if not ok:
            raise ValueError(f"inconsistent radar effects: {self}")


class RadarModel:
    """Scans a scene as the radar at ``mount`` would, with ``noise`` on what it measures and
    ``effects`` on what it reports; random draws come from ``rng`` only."""

    def __init__(
        self,
        mount: RadarMount,
        noise: RadarNoise,
        effects: ClutterAndMisses,
        rng: np.random.Generator,
    ) -> None:
        if mount.kind not in FIELDS_OF_VIEW:
            raise ValueError(f"no field of view known for radar kind {mount.kind!r}")
        self._mount = mount
        self._noise = noise
        self._effects = effects
        self._rng = rng
        self._beams = FIELDS_OF_VIEW[mount.kind]

    def in_field_of_view(self, x_m: FloatArray, y_m: FloatArray) -> BoolArray:
        """Which sensor-frame points lie in one of the radar's beams."""
        rng = np.hypot(x_m, y_m)
        bearing = np.abs(np.arctan2(y_m, x_m))
        inside = np.zeros(np.shape(x_m), dtype=bool)
        for beam in self._beams:
            inside |= (rng <= beam.range_m) & (bearing <= beam.half_angle_rad)
        return inside & (np.asarray(x_m) > MIN_FORWARD_M)

    def scan(self, scene: Scene, t_s: float) -> RadarReturns:
        """Return what the radar reports of ``scene`` at ``t_s``.

        Raises:
            ValueError: ``t_s`` is not finite.
        """
        if not math.isfinite(t_s):
            raise ValueError(f"scan time must be finite, not {t_s}")
        snap = scene.snapshot(t_s)
        m, fx = self._mount, self._effects
        x, y = _to_sensor(snap.positions - (m.east_m, m.north_m), m.yaw_rad)
        seen = self.in_field_of_view(x, y)
        if fx.occlusion:
            seen &= ~_occluded(
                x,
                y,
                snap.headings_rad - m.yaw_rad,
                snap.lengths_m,
                snap.widths_m,
                snap.heights_m,
                m.height_m,
            )
        rows = np.flatnonzero(seen)
        # Each report: truth row, and the position/velocity (east/north) it stands for.
        pos = snap.positions[rows]
        vel = snap.velocities[rows]
        heading = snap.headings_rad[rows]
        source = rows
        if fx.merge_distance_m > 0 and rows.size > 1:
            source, pos, vel, heading = _merge(
                source, pos, vel, heading, snap.lengths_m * snap.widths_m, fx.merge_distance_m
            )
        detected = self._rng.random(source.size) < fx.detection_probability
        source, pos = source[detected], pos[detected]
        vel, heading = vel[detected], heading[detected]
        lengths = snap.lengths_m[source]
        split = (self._rng.random(source.size) < fx.split_probability) & (
            lengths >= SPLIT_MIN_LENGTH_M
        )
        if split.any():
            # Two halves of the body, a quarter of its length before and behind its centre.
            twice = np.flatnonzero(split)
            along = (lengths[twice] / 4)[:, None] * np.stack(
                (np.sin(heading[twice]), np.cos(heading[twice])), axis=1
            )
            lengths = lengths.copy()
            lengths[twice] /= 2
            source = np.concatenate((source, source[twice]))
            lengths = np.concatenate((lengths, lengths[twice]))
            pos = np.concatenate((pos, pos[twice] - along))
            pos[twice] += along
            vel = np.concatenate((vel, vel[twice]))
        x, y = _to_sensor(pos - (m.east_m, m.north_m), m.yaw_rad)
        vx, vy = _to_sensor(vel, m.yaw_rad)
        x, y, vx, vy = self._add_noise(x, y, vx, vy)
        cx, cy = self._clutter()
        n = cx.size
        cvx, cvy = self._rng.normal(0.0, self._noise.velocity_std_mps, (2, n))
        crcs = self._rng.uniform(-10.0, 5.0, n)
        return RadarReturns(
            sensor_id=m.sensor_id,
            time_s=t_s,
            x_m=np.concatenate((x, cx)),
            y_m=np.concatenate((y, cy)),
            vx_mps=np.concatenate((vx, cvx)),
            vy_mps=np.concatenate((vy, cvy)),
            object_class=tuple(snap.classes[r] for r in source) + ("point",) * n,
            length_m=np.concatenate((lengths, np.full(n, CLUTTER_SIZE_M))),
            width_m=np.concatenate((snap.widths_m[source], np.full(n, CLUTTER_SIZE_M))),
            rcs_dbsm=np.concatenate((snap.rcs_dbsm[source], crcs)),
            truth_ids=np.concatenate((snap.ids[source], np.full(n, -1, dtype=np.int64))),
        )

    def _add_noise(
        self, x: FloatArray, y: FloatArray, vx: FloatArray, vy: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Gaussian errors along the beam (range) and across it (azimuth, floored), exactly the
        covariance ``RadarNoise.position_covariances`` gives; velocity per component."""
        n = self._noise
        r = np.maximum(np.hypot(x, y), 1e-9)
        cross = np.maximum(r * n.azimuth_std_rad, n.min_cross_range_std_m)
        e_along = self._rng.normal(0.0, 1.0, x.size) * n.range_std_m
        e_across = self._rng.normal(0.0, 1.0, x.size) * cross
        ux, uy = x / r, y / r
        ex, ey = self._rng.normal(0.0, n.velocity_std_mps, (2, x.size))
        return (
            x + e_along * ux - e_across * uy,
            y + e_along * uy + e_across * ux,
            vx + ex,
            vy + ey,
        )

    def _clutter(self) -> tuple[FloatArray, FloatArray]:
        """Poisson many points uniform over the union of the beams (nested sectors: each
        beam contributes the part beyond the shorter ones)."""
        count = int(self._rng.poisson(self._effects.clutter_per_scan))
        beams = sorted(self._beams, key=lambda b: b.range_m)
        # Region k: beam k's sector beyond the previous beams' ranges (beams are nested, the
        # longer ones narrower).
        inner = [0.0] + [b.range_m for b in beams[:-1]]
        areas = np.array(
            [b.half_angle_rad * (b.range_m**2 - r0**2) for b, r0 in zip(beams, inner, strict=True)]
        )
        region = self._rng.choice(len(beams), size=count, p=areas / areas.sum())
        r_out = np.array([b.range_m for b in beams])[region]
        r_in = np.array(inner)[region]
        half = np.array([b.half_angle_rad for b in beams])[region]
        u, v = self._rng.random((2, count))
        r = np.sqrt(r_in**2 + u * (r_out**2 - r_in**2))
        bearing = (2 * v - 1) * half
        x, y = r * np.cos(bearing), r * np.sin(bearing)
        keep = x > MIN_FORWARD_M
        return x[keep], y[keep]


def _to_sensor(east_north: FloatArray, yaw_rad: float) -> tuple[FloatArray, FloatArray]:
    s, c = math.sin(yaw_rad), math.cos(yaw_rad)
    e, n = east_north[:, 0], east_north[:, 1]
    return e * s + n * c, -e * c + n * s


def to_enu(mount: RadarMount, returns: RadarReturns) -> tuple[FloatArray, FloatArray]:
    """Return the returns' positions (M, 2) east/north of the reference point and velocities
    (M, 2) east/north."""
    s, c = math.sin(mount.yaw_rad), math.cos(mount.yaw_rad)

    def rotate(x: FloatArray, y: FloatArray) -> FloatArray:
        return np.stack((x * s - y * c, x * c + y * s), axis=1)

    pos = rotate(returns.x_m, returns.y_m) + np.array([mount.east_m, mount.north_m])
    return pos, rotate(returns.vx_mps, returns.vy_mps)


def _occluded(
    x: FloatArray,
    y: FloatArray,
    body_yaw: FloatArray,
    length: FloatArray,
    width: FloatArray,
    height: FloatArray,
    mount_height_m: float,
) -> BoolArray:
    """Which objects a nearer one hides: it covers at least ``OCCLUDED_FRACTION`` of the
    object's angular extent as the radar sees it, and is tall enough that the line of sight
    from the antenna over its top falls below the object's top (a pole-mounted radar sees
    over a car to what is behind it, not over a truck to what is close behind).

    ``body_yaw``: each body's heading relative to the boresight (clockwise).
    """
    k = x.size
    if k < 2:
        return np.zeros(k, dtype=bool)
    # The footprint's corners in the sensor frame (x forward, y left: clockwise yaw turns the
    # body's axis to (cos, -sin)).
    fwd = np.stack((np.cos(body_yaw), -np.sin(body_yaw)), axis=1)
    left = np.stack((-fwd[:, 1], fwd[:, 0]), axis=1)
    centre = np.stack((x, y), axis=1)
    signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=np.float64)
    corners = (
        centre[:, None, :]
        + (signs[:, 0][None, :, None] * (length / 2)[:, None, None]) * fwd[:, None, :]
        + (signs[:, 1][None, :, None] * (width / 2)[:, None, None]) * left[:, None, :]
    )
    centre_bearing = np.arctan2(y, x)
    rel = np.arctan2(corners[:, :, 1], corners[:, :, 0]) - centre_bearing[:, None]
    rel = (rel + math.pi) % math.tau - math.pi
    lo = centre_bearing + rel.min(axis=1)
    hi = centre_bearing + rel.max(axis=1)
    rng = np.hypot(x, y)
    # The sight line over an occluder at range r_o (height h_o) reaches the road's level h_t
    # at range r_o (H - h_t) / (H - h_o): a target nearer than that is in its shadow.
    clearance = np.maximum(mount_height_m - height, 0.0)
    shadow_end = np.where(
        height[:, None] >= mount_height_m,
        np.inf,
        rng[:, None] * clearance[None, :] / np.maximum(mount_height_m - height[:, None], 1e-9),
    )
    overlap = np.clip(
        np.minimum(hi[:, None], hi[None, :]) - np.maximum(lo[:, None], lo[None, :]), 0.0, None
    )
    hides = (
        (x > MIN_FORWARD_M)[:, None]
        & (rng[:, None] < rng[None, :])
        & (rng[None, :] <= shadow_end)
        & (overlap >= OCCLUDED_FRACTION * (hi - lo)[None, :])
    )
    return np.asarray(hides.any(axis=0))


def _merge(
    source: IntArray,
    pos: FloatArray,
    vel: FloatArray,
    heading: FloatArray,
    areas: FloatArray,
    distance_m: float,
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """Report each pair of objects nearer than ``distance_m`` (closest pairs first, each
    object in one pair at most) as one at their midpoint, named after the larger."""
    pairs = cKDTree(pos).query_pairs(distance_m, output_type="ndarray")
    if pairs.size == 0:
        return source, pos, vel, heading
    gaps = np.hypot(*(pos[pairs[:, 0]] - pos[pairs[:, 1]]).T)
    used = np.zeros(source.size, dtype=bool)
    keep = np.ones(source.size, dtype=bool)
    pos, vel, heading, source = pos.copy(), vel.copy(), heading.copy(), source.copy()
    for i, j in pairs[np.argsort(gaps, kind="stable")]:
        if used[i] or used[j]:
            continue
        used[i] = used[j] = True
        big, small = (i, j) if areas[source[i]] >= areas[source[j]] else (j, i)
        pos[big] = (pos[i] + pos[j]) / 2
        vel[big] = (vel[i] + vel[j]) / 2
        keep[small] = False
    return source[keep], pos[keep], vel[keep], heading[keep]
