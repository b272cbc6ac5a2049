"""Mahalanobis gating and global nearest-neighbour assignment (scipy's linear_sum_assignment)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.assignment import linear_sum_assignment
from edge.tracking.detections import Detections
from edge.tracking.kinematics import position_velocity
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

    Since d^2 >= ex^2 / Sxx (and ey^2 / Syy), a gated pair has |ex| <= sqrt(gate * Sxx) with
    Sxx <= Pxx of the track + the largest Rxx: detections sorted by x give each track its own
    window with two binary searches (one uncertain track does not widen everyone's); the
    same bound on y then thins the pairs before the full distance is computed.
    """
    p_xx = tracks.covariances[:, 0, 0]
    p_yy = tracks.covariances[:, 1, 1]
    r_xx = detections.covariances[:, 0, 0]
    half_width = np.sqrt(gate * (p_xx + float(r_xx.max())))
    order = np.argsort(detections.positions[:, 0], kind="stable")
    xs = detections.positions[order, 0]
    tx = tracks.means[:, 0]
    lo = np.searchsorted(xs, tx - half_width, side="left")
    hi = np.searchsorted(xs, tx + half_width, side="right")
    counts = np.maximum(hi - lo, 0)  # a NaN bound makes an empty window, never a negative one
    total = int(counts.sum())
    track_rows = np.repeat(np.arange(len(tracks), dtype=np.int64), counts)
    # Rows in the x order of each pair's detection; the windows hold several times the pairs
    # the y bound keeps, so the detections' own rows are looked up only for those. In place,
    # with take: these arrays are the association's largest.
    in_order = np.arange(total)
    in_order += np.repeat(lo - (np.cumsum(counts) - counts), counts)
    ey = detections.positions[order, 1].take(in_order)
    ey -= tracks.means[:, 1].take(track_rows)
    ey *= ey
    bound = p_yy.take(track_rows)
    bound += detections.covariances[order, 1, 1].take(in_order)
    bound *= gate
    near = np.flatnonzero(ey <= bound)
    return track_rows.take(near), order.take(in_order.take(near)).astype(np.int64, copy=False)


def mahalanobis_pairs(
    tracks: TrackSet, detections: Detections, track_rows: IntArray, det_rows: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Return the squared Mahalanobis distances (K,) between each track's predicted position
    and its paired detection, with S = P_xy + R, and ln det S (K,).

    The 2x2 algebra is written out so no (K, 2, 2) array is built.
    """
    p, r = tracks.covariances, detections.covariances
    # Only the 2x2 position blocks' entries are gathered, not the whole covariances.
    a = p[:, 0, 0][track_rows] + r[:, 0, 0][det_rows]
    b = p[:, 0, 1][track_rows] + r[:, 0, 1][det_rows]
    d = p[:, 1, 1][track_rows] + r[:, 1, 1][det_rows]
    ex = detections.positions[:, 0][det_rows] - tracks.means[:, 0][track_rows]
    ey = detections.positions[:, 1][det_rows] - tracks.means[:, 1][track_rows]
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

    A confirmed track left without a detection though one in its gate went to another confirmed
    track moving differently (velocities apart by more than the gate) is reported shadowed: two
    objects nearer than the radar resolves are reported as one, and the one whose track lost
    that detection has not left. A duplicate track of the same object moves alike and is not.

    Confirmed tracks are assigned first, tentative ones from the detections left (as Stone
    Soup's initiators see only what the tracker left): a young track born of clutter cannot
    take an established track's detection. Leaving a track unassigned costs as much as a pair
    on the gate's edge, so the assignment never forces a poor pair to make one more.
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
        first = np.flatnonzero(tracks.confirmed)
        second = np.flatnonzero(~tracks.confirmed)
        t1, d1, shadowed = _assign(tracks, detections, first, np.arange(m, dtype=np.int64), gate)
        left = _others(m, d1)
        t2, d2, _ = _assign(tracks, detections, second, left, gate)
        track_rows = np.concatenate((t1, t2))
        det_rows = np.concatenate((d1, d2))
        order = np.argsort(track_rows)
        track_rows, det_rows = track_rows[order], det_rows[order]
        return Association(
            track_rows=track_rows,
            detection_rows=det_rows,
            unassigned_tracks=_others(n, track_rows),
            unassigned_detections=_others(m, det_rows),
            shadowed_tracks=np.sort(shadowed),
        )


def _assign(
    tracks: TrackSet, detections: Detections, rows: IntArray, cols: IntArray, gate: float
) -> tuple[IntArray, IntArray, IntArray]:
    """Assign the detections at ``cols`` to the tracks at ``rows``; return (track rows,
    detection rows) of the pairs made, and the rows of the tracks left without a detection
    though one in their gate went to another track (shadowed)."""
    none = np.empty(0, np.int64)
    if rows.size == 0 or cols.size == 0:
        return none, none.copy(), none.copy()
    sub_tracks, sub_dets = tracks.select(rows), detections.select_rows(cols)
    pair_tracks, pair_dets = candidate_pairs(sub_tracks, sub_dets, gate)
    d2, log_det = mahalanobis_pairs(sub_tracks, sub_dets, pair_tracks, pair_dets)
    gated = d2 <= gate  # NaN compares false
    if not gated.any():
        return none, none.copy(), none.copy()
    # Solve only over the tracks and detections that have a gated pair: far detections
    # (or clutter) never enter the matrix.
    pt, pd = pair_tracks[gated], pair_dets[gated]
    cost_of_pair = (d2 + log_det)[gated]
    t_rows, t_of = _unique_sorted(pt)  # pairs come grouped by track, in track order
    d_cols, d_of = _unique_rows(pd, cols.size)
    k, c = t_rows.size, d_cols.size
    # Each track also has a column of its own meaning "missed", at the gate's cost (with the
    # smallest ln det S of its pairs, so the comparison is on d^2).
    miss = np.full(k, np.inf)
    np.minimum.at(miss, t_of, log_det[gated])
    taker = np.full(c, -1, np.int64)  # the local track each detection went to
    # A pair alone in its gates (its track has no other detection, its detection no other
    # track) is its own problem, solved: it is taken. Most pairs are, in all but a crowd, so
    # the solver sees only the tangled rest.
    alone = (np.bincount(t_of, minlength=k)[t_of] == 1) & (
        np.bincount(d_of, minlength=c)[d_of] == 1
    )
    taker[d_of[alone]] = t_of[alone]
    tangled = ~alone
    if tangled.any():
        rt, rt_of = _unique_sorted(t_of[tangled])
        rd, rd_of = _unique_rows(d_of[tangled], c)
        kk, cc = rt.size, rd.size
        cost = np.full((kk, cc + kk), _NOT_ALLOWED)
        cost[rt_of, rd_of] = cost_of_pair[tangled]
        cost[np.arange(kk), cc + np.arange(kk)] = gate + miss[rt]
        r, col = linear_sum_assignment(cost)
        ok = col < cc  # else its own "missed" column
        ok[ok] = cost[r[ok], col[ok]] < _NOT_ALLOWED
        taker[rd[col[ok]]] = rt[r[ok]]
    made = np.flatnonzero(taker >= 0)
    return (
        rows[t_rows[taker[made]]].astype(np.int64),
        cols[d_cols[made]].astype(np.int64),
        rows[t_rows[_shadowed(sub_tracks, t_rows, t_of, taker[d_of], gate)]].astype(np.int64),
    )


def _shadowed(
    tracks: TrackSet, t_rows: IntArray, t_of: IntArray, taker: IntArray, gate: float
) -> IntArray:
    """Return the (local) rows of the tracks left unassigned though a gated detection went to
    another track moving differently: their velocities apart by more than the gate (squared
    Mahalanobis distance of the difference). Two objects crossing too near to be resolved;
    a track on the same object as the one that took the detection (a duplicate) moves alike
    and is not shadowed, so it is deleted as usual.

    ``t_of`` [p] is the local track of gated pair p, ``taker`` [p] the local track its
    detection went to (-1: none).
    """
    hit = np.zeros(t_rows.size, np.bool_)
    hit[taker[taker >= 0]] = True
    candidate = (taker >= 0) & ~hit[t_of]
    if not candidate.any():
        return np.empty(0, np.int64)
    b, a = t_rows[t_of[candidate]], t_rows[taker[candidate]]
    states, covs = position_velocity(
        tracks.means[np.concatenate((b, a))], tracks.covariances[np.concatenate((b, a))]
    )
    n = b.size
    dv = states[:n, 2:] - states[n:, 2:]
    s = covs[:n, 2:, 2:] + covs[n:, 2:, 2:]
    sxx, sxy, syy = s[:, 0, 0], s[:, 0, 1], s[:, 1, 1]
    vx, vy = dv[:, 0], dv[:, 1]
    d2 = (syy * vx * vx - 2.0 * sxy * vx * vy + sxx * vy * vy) / (sxx * syy - sxy * sxy)
    return np.unique(t_of[candidate][d2 > gate]).astype(np.int64)


def _unique_sorted(values: IntArray) -> tuple[IntArray, IntArray]:
    """``np.unique(values, return_inverse=True)`` for ``values`` already in ascending order,
    without the sort."""
    if values.size == 0:
        return values.copy(), values.copy()
    starts = np.empty(values.size, np.bool_)
    starts[0] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    inverse = np.cumsum(starts) - 1
    return values[starts], inverse.astype(np.int64)


def _unique_rows(values: IntArray, size: int) -> tuple[IntArray, IntArray]:
    """``np.unique(values, return_inverse=True)`` for rows ``values`` in [0, ``size``), by a
    mask of the rows rather than a sort."""
    seen = np.zeros(size, np.bool_)
    seen[values] = True
    rank = np.cumsum(seen) - 1
    return np.flatnonzero(seen), rank.take(values)


def _others(n: int, taken: IntArray) -> IntArray:
    mask = np.ones(n, np.bool_)
    mask[taken] = False
    return np.flatnonzero(mask).astype(np.int64)


def _nothing_assigned(n: int, m: int) -> Association:
    none = np.empty(0, np.int64)
    every_track, every_detection = np.arange(n, dtype=np.int64), np.arange(m, dtype=np.int64)
    return Association(none, none.copy(), every_track, every_detection, none.copy())
