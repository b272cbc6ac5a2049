"""Smooth paths and speed profiles: straight segments and circular arcs, moved along by
speed knots and sampled at 100 Hz into a ``TruthObject`` whose velocity is the derivative of
its position.

Headings are rad clockwise from north, so a positive turn angle turns right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.tracking.track_set import FloatArray
from firmware_py.simulation.truth import DIMENSIONS, SAMPLE_S, TruthObject

NORTH, EAST, SOUTH, WEST = 0.0, math.pi / 2, math.pi, 3 * math.pi / 2
RIGHT, LEFT = math.pi / 2, -math.pi / 2
"""Turn angles: positive turns clockwise (right), as headings grow clockwise."""

Segment = tuple[str, float] | tuple[str, float, float]
"""``("straight", length_m)`` or ``("turn", radius_m, angle_rad)`` (angle > 0 turns right)."""

SpeedKnots = Sequence[tuple[float, float]]
"""``(time_s, speed_mps)`` pairs with increasing times, relative to the object's start; speed
is linear between knots (constant acceleration) and held after the last."""


@dataclass(frozen=True, slots=True)
class Path:
    """A smooth path of straight segments and circular arcs from ``start`` along ``heading``."""

    start: tuple[float, float]
    heading_rad: float
    segments: tuple[Segment, ...]

    @property
    def length_m(self) -> float:
        return float(sum(_parse(s)[0] for s in self.segments))

    def poses(self, distance_m: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return positions (N, 2) and headings (N,) at arc lengths ``distance_m`` (clipped to
        the path)."""
        d = np.clip(np.asarray(distance_m, dtype=np.float64), 0.0, self.length_m)
        pos = np.empty((d.size, 2))
        heading = np.empty(d.size)
        e0, n0 = self.start
        h0, s0 = self.heading_rad, 0.0
        for number, segment in enumerate(self.segments):
            length, k = _parse(segment)
            last = number == len(self.segments) - 1
            rows = (d >= s0) & ((d <= s0 + length) if last else (d < s0 + length))
            u = d[rows] - s0
            if k == 0.0:
                pos[rows, 0] = e0 + u * math.sin(h0)
                pos[rows, 1] = n0 + u * math.cos(h0)
                heading[rows] = h0
                e0, n0 = e0 + length * math.sin(h0), n0 + length * math.cos(h0)
                h1 = h0
            else:
                # Integrate (sin h, cos h) with h = h0 + k u.
                h = h0 + k * u
                pos[rows, 0] = e0 + (math.cos(h0) - np.cos(h)) / k
                pos[rows, 1] = n0 + (np.sin(h) - math.sin(h0)) / k
                heading[rows] = h
                h1 = h0 + k * length
                e0, n0 = (
                    e0 + (math.cos(h0) - math.cos(h1)) / k,
                    n0 + (math.sin(h1) - math.sin(h0)) / k,
                )
            h0, s0 = h1, s0 + length
        heading %= math.tau
        # A tiny negative angle wraps to exactly tau: that is north, 0.
        heading[heading >= math.tau] = 0.0
        return pos, heading


def _parse(segment: Segment) -> tuple[float, float]:
    """Return a segment's (length m, signed curvature 1/m).

    Raises:
        ValueError: not a known segment, or a negative, zero-radius or non-finite one.
    """
    if segment[0] == "straight" and len(segment) == 2:
        length, curvature = float(segment[1]), 0.0
    elif segment[0] == "turn" and len(segment) == 3 and segment[1] > 0:
        radius, angle = float(segment[1]), float(segment[2])
        length, curvature = radius * abs(angle), math.copysign(1.0 / radius, angle)
    else:
        raise ValueError(f"unknown path segment {segment!r}")
    if not (math.isfinite(length) and length >= 0):
        raise ValueError(f"bad path segment {segment!r}")
    return length, curvature


def path(start: tuple[float, float], heading_rad: float, segments: Sequence[Segment]) -> Path:
    """Return the path from ``start`` (east, north) along ``heading_rad`` through
    ``segments``: ``("straight", length_m)`` or ``("turn", radius_m, angle_rad)`` with a
    positive angle turning right (clockwise).

    Raises:
        ValueError: no segments, or a bad one.
    """
    if not segments:
        raise ValueError("a path needs at least one segment")
    for segment in segments:
        _parse(segment)
    return Path(start, heading_rad, tuple(segments))


def cruise(speed_mps: float) -> SpeedKnots:
    """A constant speed."""
    return ((0.0, speed_mps),)


def stop_at(
    speed_mps: float,
    distance_m: float,
    *,
    decel_mps2: float = 2.5,
    go_at_s: float | None = None,
    go_speed_mps: float | None = None,
    accel_mps2: float = 2.0,
) -> SpeedKnots:
    """Cruise at ``speed_mps``, brake at ``decel_mps2`` to stand still ``distance_m`` along the
    path, and (if ``go_at_s``) pull away at ``go_at_s`` at ``accel_mps2`` up to
    ``go_speed_mps`` (default: the first speed).

    Raises:
        ValueError: a speed or acceleration not positive, or no room to stop.
    """
    rates = (speed_mps, decel_mps2, accel_mps2, 1.0 if go_speed_mps is None else go_speed_mps)
    if not all(math.isfinite(v) and v > 0 for v in rates):
        raise ValueError(f"speeds and accelerations must be positive: {rates}")
    braking_m = speed_mps**2 / (2 * decel_mps2)
    brake_at = (distance_m - braking_m) / speed_mps
    if brake_at < 0:
        raise ValueError(f"cannot stop within {distance_m} m from {speed_mps} m/s")
    stopped = brake_at + speed_mps / decel_mps2
    knots = [(0.0, speed_mps), (brake_at, speed_mps), (stopped, 0.0)]
    if go_at_s is not None:
        if go_at_s < stopped:
            raise ValueError(f"go_at_s {go_at_s} before the stop at {stopped:.2f} s")
        v = speed_mps if go_speed_mps is None else go_speed_mps
        knots += [(go_at_s, 0.0), (go_at_s + v / accel_mps2, v)]
    return tuple(knots)


def moving(
    object_id: int,
    object_class: str,
    route: Path,
    speeds: SpeedKnots,
    *,
    start_s: float = 0.0,
    end_s: float,
    size: tuple[float, float, float] | None = None,
) -> TruthObject:
    """Return an object moving along ``route`` with speed ``speeds`` (times relative to
    ``start_s``) from ``start_s`` until ``end_s`` or the path's end, sampled at 100 Hz.

    ``size``: (length m, width m, RCS dBsm), by default the class's ``DIMENSIONS``.

    Raises:
        ValueError: an unknown class, bad speed knots, or less than two samples of life.
    """
    if object_class not in DIMENSIONS:
        raise ValueError(f"unknown object class {object_class!r}")
    start_s = round(start_s / SAMPLE_S) * SAMPLE_S  # on the scene's grid
    times = np.arange(0.0, end_s - start_s + SAMPLE_S / 2, SAMPLE_S)
    knot_t = np.array([k[0] for k in speeds], dtype=np.float64)
    knot_v = np.array([k[1] for k in speeds], dtype=np.float64)
    if knot_t.size == 0 or (np.diff(knot_t) < 0).any() or (knot_v < 0).any():
        raise ValueError(f"bad speed knots {speeds!r}")
    speed = np.interp(times, knot_t, knot_v)
    # Exact for piecewise-linear speed when knots fall on samples (the trapezoid rule).
    distance = np.concatenate(([0.0], np.cumsum((speed[1:] + speed[:-1]) / 2 * SAMPLE_S)))
    inside = distance <= route.length_m
    times, speed, distance = times[inside], speed[inside], distance[inside]
    pos, heading = route.poses(distance)
    vel = np.stack((speed * np.sin(heading), speed * np.cos(heading)), axis=1)
    length, width, rcs = DIMENSIONS[object_class] if size is None else size
    return TruthObject(
        object_id=object_id,
        object_class=object_class,
        length_m=length,
        width_m=width,
        rcs_dbsm=rcs,
        times_s=times + start_s,
        positions=pos,
        velocities=vel,
    )


def rotated(start: tuple[float, float], angle_rad: float) -> tuple[float, float]:
    """``start`` turned clockwise by ``angle_rad`` about the reference point."""
    e, n = start
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return e * c + n * s, -e * s + n * c
