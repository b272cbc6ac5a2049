"""Bad input never crashes the tracker nor puts a NaN in a track; it is counted."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.tracking.builders import gnn_tracker
from edge.tracking.detections import Detections
from edge.tracking.motion_models import ConstantTurnRate, ConstantVelocity
from edge.tracking.track_set import TrackSet

coordinate = st.one_of(
    st.floats(-200.0, 200.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 1e5 + 1]),
)
variance = st.one_of(st.floats(0.01, 10.0), st.floats(allow_nan=True, allow_infinity=True))
detection = st.tuples(coordinate, coordinate, variance, variance, st.floats(-1.0, 1.0))
cycle = st.tuples(
    st.lists(detection, max_size=30),
    st.one_of(st.floats(-0.5, 2.0), st.sampled_from([math.nan, math.inf, 1e9, -1e9])),
)


def as_detections(rows: list[tuple[float, float, float, float, float]]) -> Detections:
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    cov = np.zeros((arr.shape[0], 2, 2))
    cov[:, 0, 0], cov[:, 1, 1] = arr[:, 2], arr[:, 3]
    with np.errstate(all="ignore"):
        cov[:, 0, 1] = cov[:, 1, 0] = arr[:, 4] * np.sqrt(np.abs(arr[:, 2] * arr[:, 3]))
    return Detections(arr[:, :2], cov)


def assert_sound(tracks: TrackSet) -> None:
    assert np.isfinite(tracks.means).all()
    assert np.isfinite(tracks.covariances).all()
    assert len(np.unique(tracks.ids)) == len(tracks)
    assert (tracks.ids > 0).all()


@settings(max_examples=150, deadline=None)
@given(st.lists(cycle, max_size=12), st.booleans())
def test_any_detection_lists_and_times_are_survived_and_counted(
    cycles: list[tuple[list[tuple[float, float, float, float, float]], float]], turn: bool
) -> None:
    tracker = gnn_tracker(ConstantTurnRate() if turn else ConstantVelocity(), m=2, n=2)
    t, last = 0.0, -math.inf
    expected_non_finite = 0
    for rows, dt in cycles:
        t = t + dt if math.isfinite(dt) else dt
        dets = as_detections(rows)
        if math.isfinite(t) and t >= last:
            last = t
            expected_non_finite += int((~np.isfinite(dets.positions).all(axis=1)).sum())
        assert_sound(tracker.step(dets, t))
        assert_sound(tracker.tracks)
        if not math.isfinite(t):
            t = last if math.isfinite(last) else 0.0
    assert tracker.rejected.get("non_finite_position", 0) == expected_non_finite


def test_ten_thousand_detections_are_cut_to_the_limit_and_counted() -> None:
    rng = np.random.default_rng(3)
    tracker = gnn_tracker(ConstantVelocity(), m=2, n=2, max_tracks=1024)
    for k in range(3):
        dets = Detections.from_positions(rng.uniform(-500, 500, (10_000, 2)), 0.5)
        assert_sound(tracker.step(dets, k * 0.1))
    assert tracker.rejected["too_many_detections"] == 3 * (10_000 - 1024)
    assert len(tracker.tracks) <= 1024


def test_an_empty_list_and_a_silent_radar_only_age_the_tracks() -> None:
    tracker = gnn_tracker(ConstantVelocity(), max_misses=100, max_position_variance_m2=1e4)
    for k in range(1, 5):
        tracker.step(Detections.from_positions([(1.0, 2.0)], 0.3), k * 0.1)
    for t in (0.5, 3.0, 10.0):  # seconds of silence
        tracks = tracker.step(Detections.empty(), t)
        assert_sound(tracks)
    assert tracks.ids.tolist() == [1]
    assert tracks.misses.tolist() == [3]
    assert tracker.rejected == {}


def test_each_bad_detection_is_counted_by_its_reason() -> None:
    tracker = gnn_tracker(ConstantVelocity())
    positions = np.array([[0, 0], [np.nan, 0], [np.inf, 1], [2e5, 0], [5, 5], [6, 6]], float)
    cov = np.tile(np.eye(2), (6, 1, 1))
    cov[4] = [[1.0, 1.0], [1.0, 1.0]]  # singular
    cov[5, 0, 0] = np.nan
    tracker.step(Detections(positions, cov), 0.0)
    assert tracker.rejected == {
        "non_finite_position": 2,
        "position_out_of_range": 1,
        "bad_covariance": 2,
    }
    tracker.step(Detections(positions[:1], cov[:1]), 0.1)
    assert len(tracker.tracks) == 1  # the one good detection was kept as a candidate
