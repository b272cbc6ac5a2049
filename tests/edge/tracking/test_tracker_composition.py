"""The tracker is its roles put together: tiny stub roles show what it asks of each and when."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.tracking.detections import Detections
from edge.tracking.roles import Association
from edge.tracking.track_set import BoolArray, FloatArray, IntArray, TrackSet
from edge.tracking.tracker import Tracker, TrackerSettings


@dataclass
class StepPredictor:
    """Moves every track one metre along x per call."""

    times: list[float] = field(default_factory=list)

    def predict(self, tracks: TrackSet, time_s: float) -> TrackSet:
        self.times.append(time_s)
        means = tracks.means.copy()
        means[:, 0] += 1.0
        return tracks.replace(means=means, time_s=np.full(len(tracks), time_s))


class SnapUpdater:
    """Puts the track where the detection is."""

    def update(self, tracks: TrackSet, positions: FloatArray, covariances: FloatArray) -> TrackSet:
        means = tracks.means.copy()
        means[:, :2] = positions
        return tracks.replace(means=means)


class InOrderAssociator:
    """Track row k gets detection row k."""

    def associate(self, tracks: TrackSet, detections: Detections) -> Association:
        k = min(len(tracks), len(detections))
        return Association(
            np.arange(k, dtype=np.int64),
            np.arange(k, dtype=np.int64),
            np.arange(k, len(tracks), dtype=np.int64),
            np.arange(k, len(detections), dtype=np.int64),
        )


class ConfirmAtOnceInitiator:
    def initiate(
        self, tracks: TrackSet, detections: Detections, unassigned: IntArray, time_s: float
    ) -> TrackSet:
        means = np.zeros((unassigned.size, 2))
        means[:, :] = detections.positions[unassigned]
        born = TrackSet.born(means, np.tile(np.eye(2), (unassigned.size, 1, 1)), time_s)
        return tracks.concat(born.replace(confirmed=np.ones(unassigned.size, np.bool_)))


@dataclass(frozen=True)
class DeleteAfterMisses:
    misses: int

    def keep(self, tracks: TrackSet) -> BoolArray:
        keep: BoolArray = tracks.misses < self.misses
        return keep


def stub_tracker(predictor: StepPredictor | None = None, max_tracks: int = 100) -> Tracker:
    return Tracker(
        predictor=predictor or StepPredictor(),
        updater=SnapUpdater(),
        associator=InOrderAssociator(),
        initiator=ConfirmAtOnceInitiator(),
        deleter=DeleteAfterMisses(2),
        settings=TrackerSettings(state_dim=2, max_tracks=max_tracks),
    )


def at(*points: tuple[float, float]) -> Detections:
    return Detections.from_positions(list(points), 1.0)


def test_unassigned_detections_become_numbered_tracks() -> None:
    tracks = stub_tracker().step(at((1.0, 2.0), (3.0, 4.0)), 0.0)
    assert tracks.ids.tolist() == [1, 2]
    np.testing.assert_array_equal(tracks.means, [[1.0, 2.0], [3.0, 4.0]])


def test_assigned_tracks_keep_their_ids_and_take_the_updater_s_state() -> None:
    tracker = stub_tracker()
    tracker.step(at((1.0, 2.0), (3.0, 4.0)), 0.0)
    tracks = tracker.step(at((10.0, 20.0), (30.0, 40.0), (50.0, 60.0)), 1.0)
    assert tracks.ids.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(tracks.means[:2], [[10.0, 20.0], [30.0, 40.0]])
    assert tracks.hit_history.tolist() == [0b11, 0b11, 0b1]
    assert tracks.ages.tolist() == [1, 1, 0]


def test_unassigned_tracks_coast_on_the_prediction_and_go_after_the_deleter_s_misses() -> None:
    tracker = stub_tracker()
    tracker.step(at((1.0, 2.0), (3.0, 4.0)), 0.0)
    coasting = tracker.step(at((1.0, 2.0)), 1.0)
    np.testing.assert_array_equal(coasting.means[1], [4.0, 4.0])  # predicted, not updated
    assert coasting.misses.tolist() == [0, 1]
    assert coasting.last_update_s.tolist() == [1.0, 0.0]
    gone = tracker.step(at((1.0, 2.0)), 2.0)
    assert gone.ids.tolist() == [1]


def test_ids_are_never_reused() -> None:
    tracker = stub_tracker()
    tracker.step(at((0.0, 0.0), (1.0, 1.0)), 0.0)
    tracker.step(Detections.empty(), 1.0)
    tracker.step(Detections.empty(), 2.0)
    assert len(tracker.tracks) == 0
    assert tracker.step(at((0.0, 0.0)), 3.0).ids.tolist() == [3]


def test_a_cycle_back_in_time_reaches_no_role_and_is_counted() -> None:
    predictor = StepPredictor()
    tracker = stub_tracker(predictor)
    tracker.step(at((0.0, 0.0)), 5.0)
    before = tracker.tracks
    after = tracker.step(at((9.0, 9.0)), 4.0)
    tracker.step(at((9.0, 9.0)), float("nan"))
    assert predictor.times == [5.0]
    np.testing.assert_array_equal(after.means, before.means)
    assert tracker.rejected == {"time_backwards": 1, "non_finite_time": 1}


def test_new_tracks_beyond_capacity_are_not_started_and_are_counted() -> None:
    tracker = stub_tracker(max_tracks=3)
    tracks = tracker.step(at(*[(float(i), 0.0) for i in range(5)]), 0.0)
    assert tracks.ids.tolist() == [1, 2, 3]
    assert tracker.rejected["track_capacity"] == 2
