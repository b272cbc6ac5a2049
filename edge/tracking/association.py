"""Mahalanobis gating and global nearest-neighbour assignment (scipy's linear_sum_assignment)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.assignment import linear_sum_assignment
from edge.tracking.detections import Detections
from edge.tracking.kinematics import position_velocity
from edge.tracking.roles import Association
from edge.tracking.track_set import BoolArray, FloatArray, IntArray, TrackSet


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
    d2, det = _squared_distances(tracks, detections, track_rows, det_rows)
    return d2, np.log(det)


def _squared_distances(
    tracks: TrackSet, detections: Detections, track_rows: IntArray, det_rows: IntArray
) -> tuple[FloatArray, FloatArray]:
    """:func:`mahalanobis_pairs` with det S instead of its logarithm (the associator needs
    neither it nor the time a logarithm per pair takes)."""
    p, r = tracks.covariances, detections.covariances
    # Only the 2x2 position blocks' entries are gathered, not the whole covariances.
    a = p[:, 0, 0][track_rows] + r[:, 0, 0][det_rows]
    b = p[:, 0, 1][track_rows] + r[:, 0, 1][det_rows]
    d = p[:, 1, 1][track_rows] + r[:, 1, 1][det_rows]
    ex = detections.positions[:, 0][det_rows] - tracks.means[:, 0][track_rows]
    ey = detections.positions[:, 1][det_rows] - tracks.means[:, 1][track_rows]
    det = a * d - b * b
    d2 = (d * ex * ex - 2.0 * b * ex * ey + a * ey * ey) / det
    return d2, det


def chi2_2dof_quantile(probability: float) -> float:
    """Return the chi-square quantile of 2 degrees of freedom: -2 ln(1 - p), exactly."""
    return -2.0 * math.log1p(-probability)


@dataclass(frozen=True, slots=True)
class GnnAssociator:
    """Gates track-detection pairs by squared Mahalanobis distance (the ``gate_probability``
    quantile of chi-square with 2 degrees of freedom) and assigns globally, minimising the sum
    of Mahalanobis distances d (as Stone Soup's ``GNNWith2DAssignment`` with its ``Mahalanobis``
    measure). Not d^2 + ln det S, which with each track's miss charged its own ln det S was in
    effect a sum of d^2: that spares a poor pair by moving a track off a detection it sits on
    (two middling pairs cost less than a close one and a poor one), where the sum of d keeps
    the close pair (``bench fusion``: fewer missed targets in crowds).

    A confirmed track left without a detection though one in its gate went to another confirmed
    track moving differently (velocities apart by more than the gate) is reported shadowed: two
    objects nearer than the radar resolves are reported as one, and the one whose track lost
    that detection has not left. A duplicate track of the same object moves alike and is not.
    With each shadowed track comes the detection it lost (the nearest such), the unresolved
    pair's return, which the tracker uses to keep it near the pair.

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
        # The gated pairs of every track with every detection, once for both passes: a pair's
        # distance does not depend on which others are in the problem.
        pair_tracks, pair_dets = candidate_pairs(tracks, detections, gate)
        d2, _ = _squared_distances(tracks, detections, pair_tracks, pair_dets)
        gated = np.flatnonzero(d2 <= gate)  # NaN compares false
        pairs = _Pairs(pair_tracks[gated], pair_dets[gated], d2[gated])
        first = tracks.confirmed[pairs.tracks]
        confirmed_pairs = pairs.where(first)
        t1, d1 = _assign(confirmed_pairs, n, m, gate)
        shadowed, shadowing = _shadowed(tracks, confirmed_pairs, t1, d1, m, gate)
        taken = np.zeros(m, np.bool_)
        taken[d1] = True
        t2, d2_rows = _assign(pairs.where(~first & ~taken[pairs.detections]), n, m, gate)
        track_rows = np.concatenate((t1, t2))
        det_rows = np.concatenate((d1, d2_rows))
        order = np.argsort(track_rows)
        track_rows, det_rows = track_rows[order], det_rows[order]
        return Association(
            track_rows=track_rows,
            detection_rows=det_rows,
            unassigned_tracks=_others(n, track_rows),
            unassigned_detections=_others(m, det_rows),
            shadowed_tracks=shadowed,
            shadowing_detections=shadowing,
        )


@dataclass(frozen=True, slots=True)
class _Pairs:
    """Gated pairs, grouped by track in ascending track row: their track and detection rows
    and squared Mahalanobis distance."""

    tracks: IntArray
    detections: IntArray
    d2: FloatArray

    def where(self, mask: BoolArray) -> _Pairs:
        rows = np.flatnonzero(mask)
        return _Pairs(
            self.tracks.take(rows),
            self.detections.take(rows),
            self.d2.take(rows),
        )


def _assign(pairs: _Pairs, n: int, m: int, gate: float) -> tuple[IntArray, IntArray]:
    """Assign globally over the gated ``pairs`` (of ``n`` tracks, ``m`` detections); return
    (track rows, detection rows) of the pairs made. Only the tracks and detections with a
    gated pair enter the problem: far detections (or clutter) never do."""
    pt, pd = pairs.tracks, pairs.detections
    taker = np.full(m, -1, np.int64)  # the track each detection went to
    # A pair alone in its gates (its track has no other detection, its detection no other
    # track) is its own problem, solved: it is taken. Most pairs are, in all but a crowd, so
    # the solver sees only the tangled rest.
    alone = (np.bincount(pt, minlength=n).take(pt) == 1) & (
        np.bincount(pd, minlength=m).take(pd) == 1
    )
    taker[pd[alone]] = pt[alone]
    tangled = np.flatnonzero(~alone)
    if tangled.size:
        rt, rt_of = _unique_sorted(pt.take(tangled))
        rd, rd_of = _unique_rows(pd.take(tangled), m)
        # Leaving a track missed costs as much as a pair on the gate's edge. Each pair costs
        # what it saves over its track's miss (negative when worth taking); a pair that saves
        # nothing is as good as no pair, 0. Then no track needs a "missed" column of its own: a
        # track given a 0 is missed, and the optimum over the gated pairs is the same, at half
        # the matrix (the solver's time grows with its area).
        saving = np.sqrt(pairs.d2.take(tangled))
        saving -= math.sqrt(gate)
        cost = np.zeros((rt.size, rd.size))
        cost[rt_of, rd_of] = np.minimum(saving, 0.0)
        r, col = linear_sum_assignment(cost)
        ok = cost[r, col] < 0.0
        taker[rd[col[ok]]] = rt[r[ok]]
    made = np.flatnonzero(taker >= 0)
    return taker[made], made


def _shadowed(
    tracks: TrackSet, pairs: _Pairs, track_rows: IntArray, det_rows: IntArray, m: int, gate: float
) -> tuple[IntArray, IntArray]:
    """Return the rows (ascending) of the tracks left unassigned though a gated detection
    went to another track moving differently: their velocities apart by more than the gate
    (squared Mahalanobis distance of the difference); and for each, that detection (the
    nearest, by d^2, when several). Two objects crossing too near to be resolved; a track on
    the same object as the one that took the detection (a duplicate) moves alike and is not
    shadowed, so it is deleted as usual.

    ``pairs``: the gated pairs of the assignment that made (``track_rows``, ``det_rows``).
    """
    taker = np.full(m, -1, np.int64)  # the track each detection went to
    taker[det_rows] = track_rows
    hit = np.zeros(len(tracks), np.bool_)
    hit[track_rows] = True
    pair_taker = taker.take(pairs.detections)
    candidate = np.flatnonzero((pair_taker >= 0) & ~hit.take(pairs.tracks))
    if candidate.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    b, a = pairs.tracks.take(candidate), pair_taker.take(candidate)
    both = np.concatenate((b, a))
    states, covs = position_velocity(tracks.means.take(both, axis=0), tracks.covariances[both])
    n = b.size
    dv = states[:n, 2:] - states[n:, 2:]
    s = covs[:n, 2:, 2:] + covs[n:, 2:, 2:]
    sxx, sxy, syy = s[:, 0, 0], s[:, 0, 1], s[:, 1, 1]
    vx, vy = dv[:, 0], dv[:, 1]
    d2 = (syy * vx * vx - 2.0 * sxy * vx * vy + sxx * vy * vy) / (sxx * syy - sxy * sxy)
    apart = candidate.take(np.flatnonzero(d2 > gate))
    if apart.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # Sorted by track, then by the pair's d^2: each shadowed track's first is its nearest.
    apart = apart.take(np.lexsort((pairs.d2.take(apart), pairs.tracks.take(apart))))
    shadowed = pairs.tracks.take(apart)
    first = np.ones(shadowed.size, np.bool_)
    np.not_equal(shadowed[1:], shadowed[:-1], out=first[1:])
    return shadowed[first], pairs.detections.take(apart[first])


def _unique_sorted(values: IntArray) -> tuple[IntArray, IntArray]:
    """``np.unique(values, return_inverse=True)`` for ``values`` already in ascending order,
    without the sort."""
    starts = np.empty(values.size, np.bool_)
    starts[0] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])
    inverse = np.cumsum(starts) - 1
    return values.take(np.flatnonzero(starts)), inverse.astype(np.int64)


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
    return Association(none, none.copy(), every_track, every_detection, none.copy(), none.copy())
