"""The published covariance is honest (NEES), and CTRV follows a turn that CV cuts."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from edge.tracking.builders import gnn_tracker
from edge.tracking.detections import Detections
from edge.tracking.kalman import KalmanPredictor, KalmanUpdater
from edge.tracking.motion_models import ConstantTurnRate, ConstantVelocity
from edge.tracking.track_set import FloatArray, TrackSet

RUNS = 200
STEPS = 80
DT = 0.1
ACCEL = 1.5
MEAS_STD = 0.5


def test_constant_velocity_nees_is_within_its_chi_square_bounds() -> None:
    # Each Monte Carlo run is one track, so the batched filter runs all of them at once.
    rng = np.random.default_rng(42)
    model = ConstantVelocity(accel_noise_m_s2=ACCEL)
    predictor, updater = KalmanPredictor(model), KalmanUpdater()
    first = rng.normal(scale=100.0, size=(RUNS, 2))
    r = np.tile(np.eye(2) * MEAS_STD**2, (RUNS, 1, 1))
    velocity_prior = np.tile(np.eye(2) * 25.0, (RUNS, 1, 1))
    means, covs = model.initial_state(first, r, np.zeros((RUNS, 2)), velocity_prior)
    # The truth is drawn from the prior and moved with the modelled noise: NEES ~ chi2(4).
    truth = means + np.einsum("kij,kj->ki", np.linalg.cholesky(covs), rng.normal(size=(RUNS, 4)))
    tracks = TrackSet.born(means, covs, 0.0)
    q_chol = np.linalg.cholesky(model.process_noise(means, np.full(RUNS, DT)) + 1e-15 * np.eye(4))
    nees = np.empty((STEPS, RUNS))
    for k in range(STEPS):
        t = (k + 1) * DT
        truth, _ = model.transition(truth, np.full(RUNS, DT))
        truth += np.einsum("kij,kj->ki", q_chol, rng.normal(size=(RUNS, 4)))
        z = truth[:, :2] + rng.normal(scale=MEAS_STD, size=(RUNS, 2))
        tracks = updater.update(predictor.predict(tracks, t), z, r)
        error = truth - tracks.means
        nees[k] = np.einsum("ki,kij,kj->k", error, np.linalg.inv(tracks.covariances), error)
    low, high = chi2.ppf([0.025, 0.975], 4 * RUNS) / RUNS
    per_step = nees.mean(axis=1)
    # Each step's average over runs is a chi2(4 R) / R sample; the grand average over steps is
    # at least as concentrated, so the same bounds hold for it.
    assert low <= per_step.mean() <= high
    assert np.mean((per_step >= low) & (per_step <= high)) >= 0.85


def test_a_dishonest_covariance_would_fail_the_nees_bounds() -> None:
    # The check above can fail: the same filter told half the true measurement noise is caught.
    rng = np.random.default_rng(43)
    model = ConstantVelocity(accel_noise_m_s2=ACCEL)
    predictor, updater = KalmanPredictor(model), KalmanUpdater()
    truth = np.zeros((RUNS, 4))
    truth[:, 2] = 10.0
    r_told = np.tile(np.eye(2) * (MEAS_STD / 2) ** 2, (RUNS, 1, 1))
    means, covs = model.initial_state(truth[:, :2], r_told, truth[:, 2:], r_told / DT**2)
    tracks = TrackSet.born(means, covs, 0.0)
    total = 0.0
    for k in range(STEPS):
        truth, _ = model.transition(truth, np.full(RUNS, DT))
        z = truth[:, :2] + rng.normal(scale=MEAS_STD, size=(RUNS, 2))
        tracks = updater.update(predictor.predict(tracks, (k + 1) * DT), z, r_told)
        error = truth - tracks.means
        total += np.einsum("ki,kij,kj->k", error, np.linalg.inv(tracks.covariances), error).mean()
    assert total / STEPS > chi2.ppf(0.975, 4 * RUNS) / RUNS


def circle(t: FloatArray, radius: float = 30.0, speed: float = 10.0) -> FloatArray:
    angle = speed / radius * t
    return np.stack((radius * np.sin(angle), radius * (1.0 - np.cos(angle))), axis=-1)


def position_errors(model: ConstantVelocity | ConstantTurnRate) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(5)
    tracker = gnn_tracker(model, m=2, n=3)
    times = np.arange(1, 151, dtype=np.float64) * DT
    truth = circle(times)
    errors = []
    for t, p in zip(times, truth, strict=True):
        tracks = tracker.step(Detections.from_positions(p + rng.normal(scale=0.3, size=2), 0.3), t)
        assert tracks.ids.tolist() in ([], [1])
        errors.append(np.hypot(*(tracks.means[0, :2] - p)) if len(tracks) else np.inf)
    return np.array(errors), tracker.confirmed.means[0]


def test_ctrv_follows_a_turning_target_and_learns_its_yaw_rate() -> None:
    ctrv_errors, state = position_errors(ConstantTurnRate(accel_noise_m_s2=1.0))
    cv_errors, _ = position_errors(ConstantVelocity(accel_noise_m_s2=1.0))
    settled = slice(50, None)
    assert np.sqrt(np.mean(ctrv_errors[settled] ** 2)) < 0.35
    assert np.sqrt(np.mean(ctrv_errors[settled] ** 2)) < np.sqrt(np.mean(cv_errors[settled] ** 2))
    assert abs(state[4] - 10.0 / 30.0) < 0.03  # yaw rate
    assert abs(abs(state[2]) - 10.0) < 0.5  # speed


def test_the_tracker_s_published_covariance_is_honest_from_birth() -> None:
    # The whole tracker (two-point birth included) on separated constant-velocity targets
    # driven by the modelled noise: NEES of its confirmed tracks against the truth.
    rng = np.random.default_rng(44)
    grid = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0)), axis=-1).reshape(-1, 2)
    targets = len(grid)
    truth = np.concatenate((grid * 100.0, rng.normal(scale=3.0, size=(targets, 2))), axis=1)
    model = ConstantVelocity(accel_noise_m_s2=ACCEL)
    tracker = gnn_tracker(model)
    q_chol = np.linalg.cholesky(model.process_noise(truth, np.full(targets, DT)))
    per_step = []
    for k in range(STEPS):
        t = (k + 1) * DT
        truth, _ = model.transition(truth, np.full(targets, DT))
        truth += np.einsum("kij,kj->ki", q_chol, rng.normal(size=(targets, 4)))
        z = truth[:, :2] + rng.normal(scale=MEAS_STD, size=(targets, 2))
        tracks = tracker.step(Detections.from_positions(z, MEAS_STD), t)
        if k < 10:
            continue
        assert len(tracks) == targets
        # Tracks are born in detection order, one per target: track id i follows target i - 1.
        error = truth[tracks.ids - 1] - tracks.means
        per_step.append(
            np.einsum("ki,kij,kj->k", error, np.linalg.inv(tracks.covariances), error).mean()
        )
    low, high = chi2.ppf([0.025, 0.975], 4 * targets) / targets
    assert low <= np.mean(per_step) <= high
