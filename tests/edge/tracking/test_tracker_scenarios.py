"""The standard tracker on small scenarios: crossing targets, M-of-N confirmation, deletion."""

from __future__ import annotations

import numpy as np
import pytest

from edge.tracking.builders import gnn_tracker
from edge.tracking.detections import Detections
from edge.tracking.motion_models import ConstantTurnRate, ConstantVelocity

DT = 0.1


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("model", [ConstantVelocity(), ConstantTurnRate()], ids=["cv", "ctrv"])
def test_two_crossing_targets_keep_their_ids(seed: int, model: ConstantVelocity) -> None:
    # Two cars meet at the origin at t = 5 s at right angles, seen with 0.2 m noise.
    rng = np.random.default_rng(seed)
    tracker = gnn_tracker(model)
    ids_of: dict[str, int] = {}
    for k in range(1, 101):
        t = k * DT
        a = np.array([-50.0 + 10.0 * t, 0.0])
        b = np.array([0.0, -50.0 + 10.0 * t])
        noisy = np.stack((a, b)) + rng.normal(scale=0.2, size=(2, 2))
        tracks = tracker.step(Detections.from_positions(noisy, 0.2), t)
        if k < 4:
            continue  # not yet confirmed (3 of 4, the first a candidate)
        assert len(tracks) == 2
        nearest_to_a = int(tracks.ids[np.argmin(np.hypot(*(tracks.means[:, :2] - a).T))])
        nearest_to_b = int(tracks.ids[np.argmin(np.hypot(*(tracks.means[:, :2] - b).T))])
        if abs(t - 5.0) > 0.35:  # away from the crossing the nearest track is unambiguous
            assert ids_of.setdefault("a", nearest_to_a) == nearest_to_a
            assert ids_of.setdefault("b", nearest_to_b) == nearest_to_b
    assert ids_of["a"] != ids_of["b"]


def test_a_track_is_confirmed_on_its_third_hit_of_four() -> None:
    tracker = gnn_tracker(ConstantVelocity(), m=3, n=4)
    here = Detections.from_positions([(10.0, 5.0)], 0.3)
    pattern = [True, True, False, True]
    seen = [
        len(tracker.step(here if hit else Detections.empty(), k * DT))
        for k, hit in enumerate(pattern, start=1)
    ]
    assert seen == [0, 0, 0, 1]
    assert tracker.confirmed.ids.tolist() == [1]


def test_a_tentative_track_that_cannot_reach_m_of_n_is_dropped() -> None:
    tracker = gnn_tracker(ConstantVelocity(), m=3, n=4)
    here = Detections.from_positions([(10.0, 5.0)], 0.3)
    tracker.step(here, DT)
    assert len(tracker.tracks) == 0  # a candidate: one detection gives no velocity
    tracker.step(here, 2 * DT)
    assert len(tracker.tracks) == 1  # two hits: a tentative track
    tracker.step(Detections.empty(), 3 * DT)
    assert len(tracker.tracks) == 1  # two hits, one chance left: still possible
    tracker.step(Detections.empty(), 4 * DT)
    assert len(tracker.tracks) == 0  # two hits, no chance left: 3 of 4 is out of reach
    tracker.step(here, 5 * DT)
    assert tracker.step(here, 6 * DT).ids.tolist() == []  # a new tentative track
    assert tracker.tracks.ids.tolist() == [2]


def test_a_confirmed_track_is_deleted_after_its_kth_consecutive_miss() -> None:
    tracker = gnn_tracker(ConstantVelocity(), max_misses=4)
    for k in range(1, 6):
        tracker.step(Detections.from_positions([(10.0 * k * DT, 0.0)], 0.3), k * DT)
    alive = [len(tracker.step(Detections.empty(), k * DT)) for k in range(6, 11)]
    assert alive == [1, 1, 1, 0, 0]


def test_a_coasting_track_is_deleted_once_its_position_is_too_uncertain() -> None:
    tracker = gnn_tracker(ConstantVelocity(), max_misses=1000, max_position_variance_m2=25.0)
    for k in range(1, 6):
        tracker.step(Detections.from_positions([(0.0, 0.0)], 0.3), k * DT)
    t = 0.5
    while len(tracker.tracks) and t < 60.0:
        t += 0.5
        tracker.step(Detections.empty(), t)
    assert len(tracker.tracks) == 0
    assert t < 60.0
