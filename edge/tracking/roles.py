"""The roles a :class:`~edge.tracking.tracker.Tracker` is composed of, one method each (but the
motion model, which the predictor and initiator share), every one over all tracks at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge.tracking.detections import Detections
from edge.tracking.track_set import BoolArray, FloatArray, IntArray, TrackSet


class MotionModel(Protocol):
    """How a state moves over ``dt_s`` (one interval per track) and how a track is born."""

    @property
    def dim(self) -> int:
        """The state dimension d."""
        ...

    def transition(self, means: FloatArray, dt_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return the moved means (N, d) and the transition matrices or Jacobians (N, d, d)."""
        ...

    def process_noise(self, means: FloatArray, dt_s: FloatArray) -> FloatArray:
        """Return the process noise covariances (N, d, d)."""
        ...

    def initial_state(
        self,
        positions: FloatArray,
        position_covariances: FloatArray,
        velocities: FloatArray,
        velocity_covariances: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Return means (M, d) and covariances (M, d, d) of tracks born at ``positions`` (M, 2)
        moving at ``velocities`` (M, 2), with their covariances (M, 2, 2)."""
        ...


class Predictor(Protocol):
    def predict(self, tracks: TrackSet, time_s: float) -> TrackSet:
        """Return ``tracks`` predicted to ``time_s``."""
        ...


class Updater(Protocol):
    def update(self, tracks: TrackSet, positions: FloatArray, covariances: FloatArray) -> TrackSet:
        """Return ``tracks`` updated row by row with ``positions`` (K, 2), ``covariances``
        (K, 2, 2)."""
        ...


@dataclass(frozen=True, slots=True)
class Association:
    """Which detection goes with which track: ``track_rows`` [k] with ``detection_rows`` [k];
    ``unassigned_tracks`` and ``unassigned_detections`` are row indices, ascending;
    ``shadowed_tracks`` (ascending, among the unassigned) are tracks whose detection may have
    merged into another track's (an unresolved pair): their cycle counts as neither hit nor
    miss, as outside a sensor's coverage; ``shadowing_detections`` [k] is the merged return
    ``shadowed_tracks`` [k] lost (empty: none given)."""

    track_rows: IntArray
    detection_rows: IntArray
    unassigned_tracks: IntArray
    unassigned_detections: IntArray
    shadowed_tracks: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    shadowing_detections: IntArray = field(default_factory=lambda: np.empty(0, np.int64))


class Associator(Protocol):
    def associate(self, tracks: TrackSet, detections: Detections) -> Association:
        """Return the assignment of ``detections`` to the (predicted) ``tracks``."""
        ...


class Initiator(Protocol):
    def initiate(
        self, tracks: TrackSet, detections: Detections, unassigned: IntArray, time_s: float
    ) -> TrackSet:
        """Return ``tracks`` with tentative tracks confirmed or dropped as their hits say, and
        new tentative tracks (id :data:`~edge.tracking.track_set.NO_ID`) appended from the
        ``unassigned`` rows of ``detections``."""
        ...


class Deleter(Protocol):
    def keep(self, tracks: TrackSet) -> BoolArray:
        """Return a mask (N,) of the tracks to keep."""
        ...
