"""Plane geometry of road users in a local east/north frame (m), vectorised over the others.

Headings are radians clockwise from north (the BSM's and ``pb.VehicleState``'s convention).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def velocity(speed_mps: npt.ArrayLike, heading_rad: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """(east, north) velocity of speeds along headings."""
    speed = np.asarray(speed_mps, dtype=np.float64)
    heading = np.asarray(heading_rad, dtype=np.float64)
    return speed * np.sin(heading), speed * np.cos(heading)


def wrap(angle_rad: npt.ArrayLike) -> FloatArray:
    """Angles wrapped into [-pi, pi)."""
    return (np.asarray(angle_rad, dtype=np.float64) + math.pi) % (2 * math.pi) - math.pi


def in_frame_of(
    east_m: float,
    north_m: float,
    heading_rad: float,
    others_east: FloatArray,
    others_north: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """(ahead, left) of points in the frame of a road user at (east, north) facing
    ``heading_rad``: metres ahead of it (negative behind) and to its left."""
    de, dn = others_east - east_m, others_north - north_m
    sin_h, cos_h = math.sin(heading_rad), math.cos(heading_rad)
    return de * sin_h + dn * cos_h, -de * cos_h + dn * sin_h


def closest_approach(
    rel_east: FloatArray, rel_north: FloatArray, rel_ve: FloatArray, rel_vn: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(time, distance) of closest approach of relative positions moving at relative
    velocities; the time is clipped at 0 (receding: now is the closest)."""
    speed2 = rel_ve * rel_ve + rel_vn * rel_vn
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(speed2 > 1e-9, -(rel_east * rel_ve + rel_north * rel_vn) / speed2, 0.0)
    t = np.maximum(t, 0.0)
    return t, np.hypot(rel_east + rel_ve * t, rel_north + rel_vn * t)


def path_crossing(
    east_m: float,
    north_m: float,
    heading_rad: float,
    others_east: FloatArray,
    others_north: FloatArray,
    others_heading: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Where straight paths cross: (distance along ours, distance along theirs) to the crossing
    point, NaN where the paths are (nearly) parallel. Negative distances lie behind."""
    ue, un = math.sin(heading_rad), math.cos(heading_rad)
    oe, on = np.sin(others_heading), np.cos(others_heading)
    de, dn = others_east - east_m, others_north - north_m
    # Solve p + s*u = q + r*o for s (ours) and r (theirs).
    det = ue * -on - un * -oe
    with np.errstate(divide="ignore", invalid="ignore"):
        ours = (de * -on - dn * -oe) / det
        theirs = (ue * dn - un * de) / det
    parallel = np.abs(det) < math.sin(math.radians(10.0))
    return np.where(parallel, np.nan, ours), np.where(parallel, np.nan, theirs)


def time_to_cover(
    distance_m: FloatArray, speed_mps: FloatArray, accel_mps2: FloatArray
) -> FloatArray:
    """Time to travel ``distance_m`` from ``speed_mps`` at constant ``accel_mps2`` (inf when
    the road user stops first; 0 for a distance at or behind it)."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), 0.0)
    v = np.maximum(np.asarray(speed_mps, dtype=np.float64), 0.0)
    a = np.asarray(accel_mps2, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = v * v + 2 * a * d
        accelerating = np.where(disc >= 0, (-v + np.sqrt(np.maximum(disc, 0.0))) / a, np.inf)
        steady = np.where(v > 1e-6, d / v, np.inf)
    t = np.where(np.abs(a) < 1e-6, steady, accelerating)
    return np.where(d <= 0, 0.0, t)
