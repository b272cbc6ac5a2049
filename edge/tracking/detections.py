"""Position detections (x, y) with a measurement covariance each, and their input checks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from edge.tracking.track_set import BoolArray, FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class Detections:
    """M detections: ``positions`` (M, 2) in metres, ``covariances`` (M, 2, 2) in square metres."""

    positions: FloatArray
    covariances: FloatArray

    def __post_init__(self) -> None:
        p, c = self.positions, self.covariances
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"positions must have shape (M, 2), not {p.shape}")
        if c.shape != (p.shape[0], 2, 2):
            raise ValueError(f"covariances must have shape ({p.shape[0]}, 2, 2), not {c.shape}")

    @classmethod
    def from_positions(cls, positions: object, std_m: float) -> Detections:
        """Return detections at ``positions`` (anything numpy reads as (M, 2)), each with an
        isotropic covariance of standard deviation ``std_m``.

        Raises:
            ValueError: the positions do not have shape (M, 2).
        """
        p = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        cov = np.broadcast_to(np.eye(2) * std_m**2, (p.shape[0], 2, 2)).copy()
        return cls(p, cov)

    @classmethod
    def empty(cls) -> Detections:
        """Return no detections."""
        return cls(np.empty((0, 2)), np.empty((0, 2, 2)))

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def select(self, rows: BoolArray) -> Detections:
        """Return the detections where ``rows`` is true."""
        return Detections(self.positions[rows], self.covariances[rows])

    def select_rows(self, rows: IntArray) -> Detections:
        """Return the detections at row indices ``rows``, in that order."""
        return Detections(self.positions[rows], self.covariances[rows])


@dataclass(frozen=True, slots=True)
class DetectionLimits:
    """What a usable detection looks like.

    ``max_abs_position_m``: farther from the local origin is out of range; ``min_variance_m2``,
    ``max_variance_m2``: bounds of each variance (a zero variance would make the gain singular);
    ``max_count``: a larger list is cut to its first ``max_count`` (no radar reports thousands of
    objects; the gate's cost grows with tracks x detections).
    """

    max_abs_position_m: float = 1.0e5
    min_variance_m2: float = 1.0e-6
    max_variance_m2: float = 1.0e6
    max_count: int = 1024

    def __post_init__(self) -> None:
        if not (self.max_abs_position_m > 0 and 0 < self.min_variance_m2 < self.max_variance_m2):
            raise ValueError(f"inconsistent detection limits: {self}")
        if self.max_count < 1:
            raise ValueError(f"max_count must be at least 1, not {self.max_count}")


def usable(
    detections: Detections, limits: DetectionLimits, rejected: Counter[str]
) -> tuple[Detections, IntArray]:
    """Return the detections ``limits`` accept and their rows in ``detections``; count each one
    dropped in ``rejected`` by reason.

    Reasons: ``too_many_detections``, ``non_finite_position``, ``position_out_of_range``,
    ``bad_covariance`` (non-finite, variances out of bounds, or not positive definite).
    """
    if len(detections) > limits.max_count:
        rejected["too_many_detections"] += len(detections) - limits.max_count
        detections = Detections(
            detections.positions[: limits.max_count], detections.covariances[: limits.max_count]
        )
    p, c = detections.positions, detections.covariances
    finite = np.isfinite(p)
    finite_p = finite.all(axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        # Non-finite entries are zeroed so the checks below stay quiet (when there are any).
        finite_only = p if finite_p.all() else np.where(finite, p, 0.0)
        in_range = (np.abs(finite_only) <= limits.max_abs_position_m).all(axis=1)
        good_c = np.asarray(np.isfinite(c).all(axis=(1, 2)))
        cs = c if good_c.all() else np.where(good_c[:, None, None], c, 0.0)
        a, b1, b2, d = cs[:, 0, 0], cs[:, 0, 1], cs[:, 1, 0], cs[:, 1, 1]
        good_c &= (a >= limits.min_variance_m2) & (a <= limits.max_variance_m2)
        good_c &= (d >= limits.min_variance_m2) & (d <= limits.max_variance_m2)
        good_c &= np.abs(b1 - b2) <= 1e-9 * (a + d)
        # Positive definite with some margin: a correlation of 1 makes S singular with P = 0.
        good_c &= a * d - b1 * b1 > 1e-9 * a * d
    keep = finite_p & in_range & good_c
    if keep.all():
        return detections, np.arange(len(detections), dtype=np.int64)
    rejected["non_finite_position"] += int((~finite_p).sum())
    rejected["position_out_of_range"] += int((finite_p & ~in_range).sum())
    rejected["bad_covariance"] += int((finite_p & in_range & ~good_c).sum())
    return detections.select(keep), np.flatnonzero(keep).astype(np.int64)
