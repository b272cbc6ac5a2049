# Stone Soup ships no type information: its classes are Any here.
"""The peer of ``roadgate benchmark fusion``: Stone Soup's standard multi-target tracker, built
as its tutorials 9 ("Initiators & Deleters") and 10 ("Simulation & Tracking Components") build
it, from the same settings as ours.

Constant velocity per axis (a ``CombinedLinearGaussianTransitionModel`` of two
``ConstantVelocity``, the same q), a ``LinearGaussian`` measurement model per detection
carrying that detection's covariance (so both trackers weigh every detection alike),
``KalmanPredictor`` and ``KalmanUpdater``, ``DistanceHypothesiser`` with the ``Mahalanobis``
measure and our gate as ``missed_distance``, ``GNNWith2DAssignment``,
``MultiMeasurementInitiator`` and a ``CompositeDeleter`` of ``UpdateTimeStepsDeleter`` and
``CovarianceBasedDeleter``, all in a ``MultiTargetTracker`` fed by a detector yielding
``(time, set of Detection)``.

The Stone Soup objects (detections and their models) are built before the clock starts; each
cycle's time is the tracker's ``__next__``.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
from stonesoup.deleter.error import CovarianceBasedDeleter
from stonesoup.deleter.multi import CompositeDeleter
from stonesoup.deleter.time import UpdateTimeStepsDeleter
from stonesoup.hypothesiser.distance import DistanceHypothesiser
from stonesoup.initiator.simple import MultiMeasurementInitiator
from stonesoup.measures import Mahalanobis
from stonesoup.models.measurement.linear import LinearGaussian
from stonesoup.models.transition.linear import (
    CombinedLinearGaussianTransitionModel,
    ConstantVelocity,
)
from stonesoup.predictor.kalman import KalmanPredictor
from stonesoup.tracker.simple import MultiTargetTracker
from stonesoup.types.detection import Detection
from stonesoup.types.state import GaussianState
from stonesoup.updater.kalman import KalmanUpdater

from firmware_py.benchmarks.fusion_runs import Objects, Scan, SharedSettings, TrackerRun

_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def run_stone_soup(
    scans: Sequence[Scan], settings: SharedSettings, max_cycles: int | None = None
) -> TrackerRun:
    """Run Stone Soup's tracker over the first ``max_cycles`` of ``scans`` (all when None)."""
    used = list(scans if max_cycles is None else scans[:max_cycles])
    feed = [_detections(scan) for scan in used]
    tracker = _build(settings, feed)
    ids: dict[object, int] = {}
    estimates: list[Objects] = []
    cycle_s: list[float] = []
    cycles = iter(tracker)
    for _ in feed:
        start = time.perf_counter()
        _, tracks = next(cycles)
        cycle_s.append(time.perf_counter() - start)
        estimates.append(_estimates(tracks, ids))
    return TrackerRun(estimates, cycle_s)


def _detections(scan: Scan) -> tuple[datetime.datetime, set[Any]]:
    """The scan as Stone Soup detections; state (x, vx, y, vy), so positions map to (0, 2)."""
    when = _EPOCH + datetime.timedelta(seconds=scan.time_s)
    detections = {
        Detection(
            position.reshape(2, 1),
            timestamp=when,
            measurement_model=LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=r),
        )
        for position, r in zip(scan.positions, scan.covariances, strict=True)
    }
    return when, detections


def _build(settings: SharedSettings, feed: list[tuple[datetime.datetime, set[Any]]]) -> Any:
    q = settings.accel_noise_m_s2**2
    transition = CombinedLinearGaussianTransitionModel([ConstantVelocity(q), ConstantVelocity(q)])
    predictor = KalmanPredictor(transition)
    updater = KalmanUpdater(measurement_model=None)  # each detection carries its own
    hypothesiser = DistanceHypothesiser(
        predictor, updater, measure=Mahalanobis(), missed_distance=settings.gate_distance
    )
    # The velocity prior reaches max_speed at the gate, as our initiator's distance bound.
    velocity_var = (settings.max_speed_m_s / settings.gate_distance) ** 2
    prior = GaussianState(np.zeros((4, 1)), np.diag([0.0, velocity_var, 0.0, velocity_var]))
    initiator = MultiMeasurementInitiator(
        prior_state=prior,
        deleter=UpdateTimeStepsDeleter(time_steps_since_update=settings.n - settings.m + 1),
        data_associator=GNNWith2DAssignment(hypothesiser),
        updater=updater,
        min_points=settings.m,
    )
    deleter = CompositeDeleter(
        [
            UpdateTimeStepsDeleter(time_steps_since_update=settings.max_misses),
            # A list: CovarianceBasedDeleter indexes the diagonal with it.
            CovarianceBasedDeleter(settings.max_position_variance_m2, mapping=[0, 2]),
        ],
        intersect=False,
    )
    return MultiTargetTracker(
        initiator=initiator,
        deleter=deleter,
        detector=feed,
        data_associator=GNNWith2DAssignment(hypothesiser),
        updater=updater,
    )


def _estimates(tracks: set[Any], ids: dict[object, int]) -> Objects:
    """The confirmed tracks' positions, with Stone Soup's string ids numbered from 1."""
    rows = [(ids.setdefault(track.id, len(ids) + 1), track.state_vector) for track in tracks]
    if not rows:
        return Objects(np.empty(0, np.int64), np.empty((0, 2)))
    numbers = np.array([number for number, _ in rows], dtype=np.int64)
    positions = np.array([[float(sv[0, 0]), float(sv[2, 0])] for _, sv in rows])
    return Objects(numbers, positions)
