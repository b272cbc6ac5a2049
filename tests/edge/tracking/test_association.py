"""The gate and the global assignment, against brute force on small cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chi2

from edge.tracking.association import (
    GnnAssociator,
    candidate_pairs,
    chi2_2dof_quantile,
    mahalanobis_pairs,
)
from edge.tracking.detections import Detections
from edge.tracking.track_set import FloatArray, TrackSet


def tracks_at(points: list[tuple[float, float]], var: float = 1.0) -> TrackSet:
    means = np.zeros((len(points), 4))
    means[:, :2] = points
    return TrackSet.born(means, np.tile(np.eye(4) * var, (len(points), 1, 1)), 0.0)


def test_the_gate_quantile_is_chi_square_with_two_degrees_of_freedom() -> None:
    for p in (0.9, 0.99, 0.999):
        assert chi2_2dof_quantile(p) == pytest.approx(chi2.ppf(p, 2), rel=1e-12)


def all_pairs(tracks: TrackSet, dets: Detections) -> tuple[FloatArray, FloatArray]:
    ti, di = np.meshgrid(np.arange(len(tracks)), np.arange(len(dets)), indexing="ij")
    d2, log_det = mahalanobis_pairs(tracks, dets, ti.ravel(), di.ravel())
    return d2.reshape(ti.shape), log_det.reshape(ti.shape)


def test_pairwise_distance_matches_the_matrix_formula() -> None:
    rng = np.random.default_rng(7)
    tracks = tracks_at([(0.0, 0.0), (5.0, 1.0), (-3.0, 2.0)], var=2.0)
    dets = Detections(rng.normal(size=(4, 2)) * 3, np.tile([[1.0, 0.3], [0.3, 0.5]], (4, 1, 1)))
    d2, log_det = all_pairs(tracks, dets)
    for i, j in itertools.product(range(3), range(4)):
        s = tracks.covariances[i, :2, :2] + dets.covariances[j]
        e = dets.positions[j] - tracks.means[i, :2]
        assert d2[i, j] == pytest.approx(e @ np.linalg.inv(s) @ e, rel=1e-12)
        assert log_det[i, j] == pytest.approx(np.log(np.linalg.det(s)), rel=1e-12)


def test_the_assignment_is_the_cheapest_of_all_within_the_gate() -> None:
    # The cost: each pair's Mahalanobis distance d, each track left unassigned the gate's d:
    # no pair on the gate's edge is forced to make one more pair.
    rng = np.random.default_rng(11)
    associator = GnnAssociator(0.999)
    gate = chi2_2dof_quantile(0.999)
    for _ in range(30):
        tracks = tracks_at([tuple(p) for p in rng.uniform(0, 8, (4, 2))])
        dets = Detections.from_positions(rng.uniform(0, 8, (4, 2)), 1.0)
        d2, _ = all_pairs(tracks, dets)
        cost = np.sqrt(d2)
        gated = d2 <= gate
        miss = np.where(gated.any(axis=1), np.sqrt(gate), 0.0)
        best = min(
            sum(min(cost[i, j], miss[i]) if gated[i, j] else miss[i] for i, j in enumerate(perm))
            for perm in itertools.permutations(range(4))
        )
        a = associator.associate(tracks, dets)
        unassigned = np.ones(4, np.bool_)
        unassigned[a.track_rows] = False
        got = cost[a.track_rows, a.detection_rows].sum() + miss[unassigned].sum()
        assert got == pytest.approx(best)
        assert np.all(d2[a.track_rows, a.detection_rows] <= gate)


def test_detections_outside_every_gate_stay_unassigned() -> None:
    a = GnnAssociator().associate(
        tracks_at([(0.0, 0.0), (100.0, 0.0)]), Detections.from_positions([(0.5, 0), (50, 50)], 1.0)
    )
    assert a.track_rows.tolist() == [0]
    assert a.detection_rows.tolist() == [0]
    assert a.unassigned_tracks.tolist() == [1]
    assert a.unassigned_detections.tolist() == [1]


def test_the_candidate_pairs_hold_every_gated_pair() -> None:
    rng = np.random.default_rng(13)
    gate = chi2_2dof_quantile(0.999)
    for _ in range(20):
        tracks = tracks_at([tuple(p) for p in rng.uniform(0, 60, (30, 2))])
        a = rng.normal(size=(30, 4, 4))
        tracks = tracks.replace(covariances=a @ a.transpose(0, 2, 1) + 0.1 * np.eye(4))
        dets = Detections.from_positions(rng.uniform(0, 60, (40, 2)), float(rng.uniform(0.1, 3)))
        d2, _ = all_pairs(tracks, dets)
        wanted = set(zip(*np.nonzero(d2 <= gate), strict=True))
        ti, di = candidate_pairs(tracks, dets, gate)
        found = set(zip(ti.tolist(), di.tolist(), strict=True))
        assert wanted <= found
        assert len(found) == len(ti)  # no pair twice
        assert len(found) < 30 * 40  # and the pre-gate does prune


def confirmed(tracks: TrackSet) -> TrackSet:
    return tracks.replace(confirmed=np.ones(len(tracks), np.bool_))


def test_a_confirmed_track_whose_detection_another_took_is_shadowed() -> None:
    # Two objects 0.6 m apart, crossing at 8 m/s, reported as one (their midpoint); a third
    # far from any detection; a fourth on the first one's object, moving alike (a duplicate).
    tracks = confirmed(tracks_at([(0.0, 0.0), (0.6, 0.0), (30.0, 0.0), (-0.1, 0.0)], var=0.2))
    means = tracks.means.copy()
    means[1, 3] = 8.0
    tracks = tracks.replace(means=means)
    a = GnnAssociator().associate(tracks, Detections.from_positions([(0.25, 0.0)], 0.3))
    assert a.track_rows.tolist() == [0]
    assert a.unassigned_tracks.tolist() == [1, 2, 3]
    assert a.shadowed_tracks.tolist() == [1]  # not 2: nothing in its gate; not 3: a twin of 0
    assert a.shadowing_detections.tolist() == [0]  # the merged return it lost


def test_the_assignment_minimises_the_sum_of_distances_not_of_their_squares() -> None:
    # S = I for every pair. Track A sits on detection 1 (d^2 0) and is 2 m from detection 2
    # (d^2 4); track B is 2 m from detection 1 (4) and 3.46 m from detection 2 (12, in the
    # gate). Squares: A2 + B1 = 8 beats A1 + B2 = 12; distances (Stone Soup's): A1 + B2 = 3.46
    # beats A2 + B1 = 4.
    tracks = confirmed(tracks_at([(0.0, 0.0), (-1.0, np.sqrt(3.0))], var=0.5))
    a = GnnAssociator().associate(
        tracks, Detections.from_positions([(0.0, 0.0), (2.0, 0.0)], np.sqrt(0.5))
    )
    assert a.track_rows.tolist() == [0, 1]
    assert a.detection_rows.tolist() == [0, 1]


def test_a_tentative_track_cannot_take_a_confirmed_tracks_detection() -> None:
    # The tentative track sits right on the detection, the confirmed one 1 m off: still the
    # confirmed track's, and a tentative track left out is never reported shadowed.
    tracks = tracks_at([(1.0, 0.0), (0.0, 0.0)])
    tracks = tracks.replace(confirmed=np.array([True, False]))
    a = GnnAssociator().associate(tracks, Detections.from_positions([(0.0, 0.0)], 0.5))
    assert a.track_rows.tolist() == [0]
    assert a.detection_rows.tolist() == [0]
    assert a.shadowed_tracks.tolist() == []


def test_a_tangle_of_six_confirmed_tracks_gets_the_cheapest_assignment() -> None:
    # Six tracks and six detections in a 5 m square: every gate holds several detections, so
    # the solver (not the pairs alone in their gates) decides; the optimum, by brute force.
    rng = np.random.default_rng(23)
    associator = GnnAssociator(0.999)
    gate = chi2_2dof_quantile(0.999)
    for _ in range(10):
        tracks = confirmed(tracks_at([tuple(p) for p in rng.uniform(0, 5, (6, 2))], var=0.5))
        dets = Detections.from_positions(rng.uniform(0, 5, (6, 2)), 0.7)
        d2, _ = all_pairs(tracks, dets)
        cost = np.sqrt(d2)
        gated = d2 <= gate
        miss = np.where(gated.any(axis=1), np.sqrt(gate), 0.0)
        best = min(
            sum(min(cost[i, j], miss[i]) if gated[i, j] else miss[i] for i, j in enumerate(perm))
            for perm in itertools.permutations(range(6))
        )
        a = associator.associate(tracks, dets)
        unassigned = np.ones(6, np.bool_)
        unassigned[a.track_rows] = False
        got = cost[a.track_rows, a.detection_rows].sum() + miss[unassigned].sum()
        assert got == pytest.approx(best)
        assert np.all(d2[a.track_rows, a.detection_rows] <= gate)
        assert len(set(a.detection_rows.tolist())) == a.detection_rows.size
