"""Checks on what the cooperative associator is given: a vehicle's report (refused by reason,
never raised) and the tracker's arrays (a programming error: ``ValueError``)."""

from __future__ import annotations

import math

import numpy as np

from edge.roadside.cooperative_reports import MAX_SIZE_M, CooperativeReport
from edge.tracking.kalman import symmetric
from edge.tracking.track_set import BoolArray, FloatArray, IntArray

_MAX_ID_LENGTH = 128


def checked_report(
    report: CooperativeReport,
    *,
    max_distance_m: float,
    max_speed_mps: float,
    max_position_std_m: float,
    max_velocity_std_mps: float,
) -> CooperativeReport | str:
    """A private copy of ``report`` (float64 arrays), or the reason to refuse it: ``malformed``
    (missing or mistyped fields, wrong shapes), ``bad_id``, ``non_finite``, ``bad_covariance``
    (not symmetric positive definite), ``imprecise`` (a standard deviation over its maximum),
    ``too_far`` (from the intersection) or ``out_of_range``. Never raises."""
    try:
        vehicle_id = report.vehicle_id
        time_s = float(report.time_s)
        position = _array(report.position, (2,))
        velocity = _array(report.velocity, (2,))
        p_cov = _array(report.position_covariance, (2, 2))
        v_cov = _array(report.velocity_covariance, (2, 2))
        size = (float(report.length_m), float(report.width_m))
    except (AttributeError, TypeError, ValueError, OverflowError):
        return "malformed"
    if not isinstance(vehicle_id, str) or not 0 < len(vehicle_id) <= _MAX_ID_LENGTH:
        return "bad_id"
    arrays = (position, velocity, p_cov, v_cov)
    if not (math.isfinite(time_s) and all(np.isfinite(a).all() for a in arrays)):
        return "non_finite"
    if not all(math.isfinite(v) for v in size):
        return "non_finite"
    if not (_positive_definite(p_cov) and _positive_definite(v_cov)):
        return "bad_covariance"
    if max(np.diag(p_cov)) > max_position_std_m**2 or max(np.diag(v_cov)) > max_velocity_std_mps**2:
        return "imprecise"
    if float(np.hypot(*position)) > max_distance_m:
        return "too_far"
    if (
        time_s <= 0.0
        or float(np.hypot(*velocity)) > max_speed_mps
        or not all(0.0 <= v <= MAX_SIZE_M for v in size)
    ):
        return "out_of_range"
    return CooperativeReport(
        vehicle_id=vehicle_id,
        time_s=time_s,
        position=position,
        velocity=velocity,
        position_covariance=p_cov,
        velocity_covariance=v_cov,
        length_m=size[0],
        width_m=size[1],
    )


def _array(value: object, shape: tuple[int, ...]) -> FloatArray:
    out = np.array(value, dtype=np.float64)  # a copy: the caller may reuse its arrays
    if out.shape != shape:
        raise ValueError(f"expected shape {shape}, got {out.shape}")
    return out


def _positive_definite(m: FloatArray) -> bool:
    """Whether a finite 2x2 matrix is symmetric (to rounding) and positive definite."""
    a, b, c, d = (float(v) for v in m.ravel())  # Python floats: no overflow warnings
    if not (a > 0.0 and d > 0.0) or abs(b - c) > 1e-9 * max(a, d):
        return False
    return abs(b) < math.sqrt(a) * math.sqrt(d)


def checked_tracks(
    time_s: float, track_ids: IntArray, means: FloatArray, covariances: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray]:
    """The tracks as int64 / float64 arrays. Raises ``ValueError`` for a non-finite time,
    arrays not shaped (N,), (N, 4), (N, 4, 4), or repeated ids."""
    if not math.isfinite(time_s):
        raise ValueError(f"time_s must be finite, not {time_s}")
    ids = np.asarray(track_ids, dtype=np.int64)
    m = np.asarray(means, dtype=np.float64)
    p = np.asarray(covariances, dtype=np.float64)
    n = ids.shape[0] if ids.ndim == 1 else -1
    if n < 0 or m.shape != (n, 4) or p.shape != (n, 4, 4):
        raise ValueError(
            f"expected track ids (N,), means (N, 4), covariances (N, 4, 4); got "
            f"{ids.shape}, {m.shape}, {p.shape}"
        )
    if np.unique(ids).size != n:
        raise ValueError("track ids must be unique")
    return ids, m, p


def usable_rows(means: FloatArray, covariances: FloatArray) -> IntArray:
    """The rows whose mean is finite and covariance symmetric positive definite."""
    ok: BoolArray = np.asarray(
        np.isfinite(means).all(axis=1) & np.isfinite(covariances).all(axis=(1, 2))
    )
    rows = np.flatnonzero(ok)
    if rows.size:
        p = covariances[rows]
        asymmetry = np.abs(p - p.transpose(0, 2, 1)).max(axis=(1, 2))
        symmetric_enough = asymmetry <= 1e-9 * np.abs(p).max(axis=(1, 2))
        ok[rows] = symmetric_enough & (np.linalg.eigvalsh(symmetric(p)).min(axis=1) > 0.0)
    out: IntArray = np.flatnonzero(ok).astype(np.int64)
    return out
