"""Mahalanobis gating and global nearest-neighbour assignment (scipy's linear_sum_assignment)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.tracking.detections import Detections
from edge.tracking.roles import Association
from edge.tracking.track_set import FloatArray, IntArray, TrackSet

_NOT_ALLOWED = 1.0e9
"""The cost of a pair outside the gate: finite (scipy rejects an infeasible matrix), far above
any gated cost, and filtered out of the answer."""


def candidate_pairs(
    tracks: TrackSet, detections: Detections, gate: float
) -> tuple[IntArray, IntArray]:
    """Return (track rows, detection rows) of every pair that may lie within ``gate`` (a squared
    Mahalanobis distance): a superset of the gated pairs, found without an N x M matrix.

    Since d^2 >= ex^2 / Sxx, a gated pair has |ex| <= sqrt(gate * max Sxx); detections sorted by
    x give each track its window with two binary searches.
    """
    p_xx = tracks.covariances[:, 0, 0]
    r_xx = detections.covariances[:, 0, 0]
    half_width = math.sqrt(gate * (float(p_xx.max()) + float(r_xx.max())))
    order = np.argsort(detections.positions[:, 0], kind="stable")
    xs = detections.positions[order, 0]
    tx = tracks.means[:, 0]
    lo = np.searchsorted(xs, tx - half_width, side="left")
    hi = np.searchsorted(xs, tx + half_width, side="right")
    counts = hi - lo
    total = int(counts.sum())
    track_rows = np.repeat(np.arange(len(tracks), dtype=np.int64), counts)
    starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    det_rows = order[starts + np.arange(total)].astype(np.int64)
    return track_rows, det_rows


def mahalanobis_pairs(
    tracks: TrackSet, detections: Detections, track_rows: IntArray, det_rows: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Return the squared Mahalanobis distances (K,) between each track's predicted position
    and its paired detection, with S = P_xy + R, and ln det S (K,).

    The 2x2 algebra is written out so no (K, 2, 2) array is built.
    """
    p = tracks.covariances[track_rows]
    r = detections.covariances[det_rows]
    a = p[:, 0, 0] + r[:, 0, 0]
    b = p[:, 0, 1] + r[:, 0, 1]
    d = p[:, 1, 1] + r[:, 1, 1]
    e = detections.positions[det_rows] - tracks.means[track_rows, :2]
    ex, ey = e[:, 0], e[:, 1]
    det = a * d - b * b
    d2 = (d * ex * ex - 2.0 * b * ex * ey + a * ey * ey) / det
    return d2, np.log(det)


def chi2_2dof_quantile(probability: float) -> float:
    """Return the chi-square quantile of 2 degrees of freedom: -2 ln(1 - p), exactly."""
    return -2.0 * math.log1p(-probability)


@dataclass(frozen=True, slots=True)
class GnnAssociator:
    """Gates track-detection pairs by squared Mahalanobis distance (the ``gate_probability``
    quantile of chi-square with 2 degrees of freedom) and assigns globally, minimising the sum
    of negative log-likelihoods d^2 + ln det S (so a tight track is not out-bid by a loose one).
    """

    gate_probability: float = 0.999

    def __post_init__(self) -> None:
        if not 0.0 < self.gate_probability < 1.0:
            raise ValueError(f"gate_probability must be in (0, 1), not {self.gate_probability}")

    def associate(self, tracks: TrackSet, detections: Detections) -> Association:
        """Return the global assignment of ``detections`` to ``tracks`` within the gate."""
        n, m = len(tracks), len(detections)
        if n == 0 or m == 0:
            return _nothing_assigned(n, m)
        gate = chi2_2dof_quantile(self.gate_probability)
        pair_tracks, pair_dets = candidate_pairs(tracks, detections, gate)
        d2, log_det = mahalanobis_pairs(tracks, detections, pair_tracks, pair_dets)
        gated = d2 <= gate  # NaN compares false
        if not gated.any():
            return _nothing_assigned(n, m)
        # Solve only over the tracks and detections that have a gated pair: far detections
        # (or clutter) never enter the matrix.
        rows, row_of = np.unique(pair_tracks[gated], return_inverse=True)
        cols, col_of = np.unique(pair_dets[gated], return_inverse=True)
        cost = np.full((rows.size, cols.size), _NOT_ALLOWED)
        cost[row_of, col_of] = (d2 + log_det)[gated]
        r, c = linear_sum_assignment(cost)
        ok = cost[r, c] < _NOT_ALLOWED
        track_rows = rows[r[ok]].astype(np.int64)
        det_rows = cols[c[ok]].astype(np.int64)
        order = np.argsort(track_rows)
        track_rows, det_rows = track_rows[order], det_rows[order]
        return Association(
            track_rows=track_rows,
            detection_rows=det_rows,
            unassigned_tracks=_others(n, track_rows),
            unassigned_detections=_others(m, det_rows),
        )


def _others(n: int, taken: IntArray) -> IntArray:
    mask = np.ones(n, np.bool_)
    mask[taken] = False
    return np.flatnonzero(mask).astype(np.int64)


def _nothing_assigned(n: int, m: int) -> Association:
    none = np.empty(0, np.int64)
    every_track, every_detection = np.arange(n, dtype=np.int64), np.arange(m, dtype=np.int64)
    return Association(none, none.copy(), every_track, every_detection)
