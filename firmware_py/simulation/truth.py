"""Ground truth: road users' true motion sampled over time, the radars' mounting poses, and
the scene that holds them, with fast lookups of everything present at one instant.

Positions are metres east/north of the intersection's reference point; headings are rad
clockwise from north.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edge.tracking.track_set import FloatArray, IntArray

SAMPLE_S = 0.01
"""The truth's sampling interval (100 Hz)."""

OBJECT_CLASSES = ("car", "truck", "pedestrian", "bicycle", "motorcycle")
DIMENSIONS: Mapping[str, tuple[float, float, float]] = {
    # (length m, width m, radar cross-section dBsm): typical values.
    "car": (4.6, 1.8, 10.0),
    "truck": (12.0, 2.5, 20.0),
    "pedestrian": (0.5, 0.6, -8.0),
    "bicycle": (1.8, 0.6, -5.0),
    "motorcycle": (2.2, 0.8, 0.0),
}

HEIGHTS_M: Mapping[str, float] = {
    # Typical heights above the road: what decides whether a pole-mounted radar sees over.
    "car": 1.5,
    "truck": 3.8,
    "pedestrian": 1.7,
    "bicycle": 1.7,
    "motorcycle": 1.4,
}


@dataclass(frozen=True, eq=False)
class TruthObject:
    """One road user's true motion: ``times_s`` (T,) increasing, ``positions`` and
    ``velocities`` (T, 2) east/north."""

    object_id: int
    object_class: str
    length_m: float
    width_m: float
    rcs_dbsm: float
    times_s: FloatArray
    positions: FloatArray
    velocities: FloatArray

    def __post_init__(self) -> None:
        t, p, v = self.times_s, self.positions, self.velocities
        if t.ndim != 1 or t.size < 2 or p.shape != (t.size, 2) or v.shape != (t.size, 2):
            raise ValueError(f"object {self.object_id}: need times (T>=2,) and (T, 2) arrays")
        if not (np.isfinite(t).all() and np.isfinite(p).all() and np.isfinite(v).all()):
            raise ValueError(f"object {self.object_id}: non-finite truth")
        if not (np.diff(t) > 0).all():
            raise ValueError(f"object {self.object_id}: times must increase")
        if self.object_class not in OBJECT_CLASSES:
            raise ValueError(f"object {self.object_id}: unknown class {self.object_class!r}")

    @property
    def start_s(self) -> float:
        return float(self.times_s[0])

    @property
    def end_s(self) -> float:
        return float(self.times_s[-1])

    def state_at(self, t_s: float) -> tuple[FloatArray, FloatArray] | None:
        """Return (position (2,), velocity (2,)) at ``t_s``, or None outside the object's life
        (or for a non-finite time)."""
        if not (math.isfinite(t_s) and self.start_s <= t_s <= self.end_s):
            return None
        t = self.times_s
        pos = np.array([np.interp(t_s, t, self.positions[:, k]) for k in range(2)])
        vel = np.array([np.interp(t_s, t, self.velocities[:, k]) for k in range(2)])
        return pos, vel

    @cached_property
    def headings_rad(self) -> FloatArray:
        """(T,) heading of the body at each sample: the course while moving, held while stopped
        (a stopped car still points where it went)."""
        speed = np.hypot(self.velocities[:, 0], self.velocities[:, 1])
        course = np.arctan2(self.velocities[:, 0], self.velocities[:, 1]) % math.tau
        course[course >= math.tau] = 0.0  # a tiny negative angle wraps to exactly tau
        moving = speed > 0.05
        if not moving.any():
            return np.zeros_like(speed)
        # Carry the last moving course forward, and the first one back to the start.
        index = np.where(moving, np.arange(speed.size), 0)
        np.maximum.accumulate(index, out=index)
        index[: int(np.argmax(moving))] = int(np.argmax(moving))
        return np.asarray(course[index], dtype=np.float64)


@dataclass(frozen=True)
class RadarMount:
    """A radar on a pole: ``east_m``/``north_m`` of the reference point, ``height_m`` above the
    road, boresight ``yaw_rad`` clockwise from north; ``kind`` a key of ``RADAR_NOISE``."""

    sensor_id: str
    east_m: float
    north_m: float
    height_m: float
    yaw_rad: float
    kind: str = "ars408"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every object present at one instant, as arrays over the K present objects."""

    ids: IntArray
    positions: FloatArray
    velocities: FloatArray
    headings_rad: FloatArray
    lengths_m: FloatArray
    widths_m: FloatArray
    heights_m: FloatArray
    rcs_dbsm: FloatArray
    classes: tuple[str, ...]


@dataclass(frozen=True)
class Scene:
    """Named truth: the objects over ``[0, duration_s]`` and the radars watching them.

    Lookups interpolate on one 100 Hz grid from the earliest start: for objects sampled on
    that grid (every builder here does) they equal each object's ``state_at``.
    """

    name: str
    duration_s: float
    objects: tuple[TruthObject, ...]
    radars: tuple[RadarMount, ...]

    def truth_at(self, t_s: float) -> tuple[IntArray, FloatArray, FloatArray]:
        """Return ids (K,), positions (K, 2) and velocities (K, 2) of the objects present at
        ``t_s``."""
        snap = self.snapshot(t_s)
        return snap.ids, snap.positions, snap.velocities

    def snapshot(self, t_s: float) -> Snapshot:
        """Return the objects present at ``t_s`` with their body headings and sizes."""
        table = self._table
        if not math.isfinite(t_s):
            present = np.zeros(len(self.objects), dtype=bool)
            t_s = 0.0
        else:
            present = (table.starts <= t_s) & (t_s <= table.ends)
        u = (t_s - table.t0) / SAMPLE_S
        i = int(np.clip(math.floor(u), 0, table.positions.shape[1] - 2))
        frac = float(np.clip(u - i, 0.0, 1.0))
        rows = np.flatnonzero(present)
        pos = table.positions[rows, i] * (1 - frac) + table.positions[rows, i + 1] * frac
        vel = table.velocities[rows, i] * (1 - frac) + table.velocities[rows, i + 1] * frac
        # Headings are not interpolated (wrap-around); the nearer sample is within 5 ms.
        heading = table.headings[rows, i + (1 if frac >= 0.5 else 0)]
        return Snapshot(
            ids=table.ids[rows],
            positions=pos,
            velocities=vel,
            headings_rad=heading,
            lengths_m=table.lengths[rows],
            widths_m=table.widths[rows],
            heights_m=table.heights_m[rows],
            rcs_dbsm=table.rcs[rows],
            classes=tuple(self.objects[r].object_class for r in rows),
        )

    @cached_property
    def _table(self) -> _Table:
        return _Table.of(self.objects)


@dataclass(frozen=True, slots=True)
class _Table:
    """All objects resampled onto one 100 Hz grid, (K, G) arrays held at each object's ends, so
    a lookup for K objects is a few array operations rather than K interpolations."""

    t0: float
    starts: FloatArray
    ends: FloatArray
    ids: IntArray
    positions: FloatArray
    velocities: FloatArray
    headings: FloatArray
    lengths: FloatArray
    widths: FloatArray
    heights_m: FloatArray
    rcs: FloatArray

    @classmethod
    def of(cls, objects: Sequence[TruthObject]) -> _Table:
        if objects:
            t0 = min(o.start_s for o in objects)
            t1 = max(o.end_s for o in objects)
        else:
            t0, t1 = 0.0, 0.0
        grid = t0 + SAMPLE_S * np.arange(max(2, round((t1 - t0) / SAMPLE_S) + 2))
        k = len(objects)
        pos = np.zeros((k, grid.size, 2))
        vel = np.zeros((k, grid.size, 2))
        heading = np.zeros((k, grid.size))
        for row, o in enumerate(objects):
            for axis in range(2):
                pos[row, :, axis] = np.interp(grid, o.times_s, o.positions[:, axis])
                vel[row, :, axis] = np.interp(grid, o.times_s, o.velocities[:, axis])
            nearest = np.clip(np.searchsorted(o.times_s, grid), 0, o.times_s.size - 1)
            heading[row] = o.headings_rad[nearest]
        return cls(
            t0=t0,
            starts=np.array([o.start_s for o in objects], dtype=np.float64),
            ends=np.array([o.end_s for o in objects], dtype=np.float64),
            ids=np.array([o.object_id for o in objects], dtype=np.int64),
            positions=pos,
            velocities=vel,
            headings=heading,
            lengths=np.array([o.length_m for o in objects], dtype=np.float64),
            widths=np.array([o.width_m for o in objects], dtype=np.float64),
            heights_m=np.array([HEIGHTS_M[o.object_class] for o in objects], dtype=np.float64),
            rcs=np.array([o.rcs_dbsm for o in objects], dtype=np.float64),
        )
