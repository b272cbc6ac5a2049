"""The batched predictor and updater agree with a per-track loop to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest

from edge.tracking.kalman import KalmanPredictor, KalmanUpdater
from edge.tracking.motion_models import ConstantTurnRate, ConstantVelocity
from edge.tracking.track_set import FloatArray, TrackSet
from tests.edge.tracking import reference

RNG_SEED = 20261204


def random_covariances(rng: np.random.Generator, n: int, d: int) -> FloatArray:
    a = rng.normal(size=(n, d, d))
    out: FloatArray = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(d)
    return out


def random_tracks(rng: np.random.Generator, n: int, d: int) -> TrackSet:
    means = rng.normal(scale=20.0, size=(n, d))
    if d == 5:
        means[:, 3] = rng.uniform(-np.pi, np.pi, n)
        means[:, 4] = rng.normal(scale=0.5, size=n)
        means[: n // 4, 4] = 0.0  # straight-line branch
        means[n // 4 : n // 2, 4] = 1e-8  # its neighbourhood
    tracks = TrackSet.born(means, random_covariances(rng, n, d), 0.0)
    # Tracks at different times: each one predicts over its own interval.
    return tracks.replace(time_s=rng.uniform(-1.0, 0.0, n))


def test_constant_velocity_prediction_matches_the_per_track_loop() -> None:
    rng = np.random.default_rng(RNG_SEED)
    model = ConstantVelocity(accel_noise_m_s2=1.7)
    tracks = random_tracks(rng, 50, 4)
    predicted = KalmanPredictor(model).predict(tracks, 0.25)
    for i in range(len(tracks)):
        dt = 0.25 - tracks.time_s[i]
        x, p = reference.cv_predict_one(tracks.means[i], tracks.covariances[i], dt, 1.7**2)
        np.testing.assert_allclose(predicted.means[i], x, rtol=0, atol=1e-9)
        np.testing.assert_allclose(predicted.covariances[i], p, rtol=0, atol=1e-9)
    assert np.all(predicted.time_s == 0.25)


def test_ctrv_prediction_matches_the_per_track_loop() -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    model = ConstantTurnRate(accel_noise_m_s2=2.5, yaw_accel_noise_rad_s2=0.3)
    tracks = random_tracks(rng, 80, 5)
    predicted = KalmanPredictor(model).predict(tracks, 0.1)
    for i in range(len(tracks)):
        dt = 0.1 - tracks.time_s[i]
        x, p = reference.ctrv_predict_one(tracks.means[i], tracks.covariances[i], dt, 2.5, 0.3)
        np.testing.assert_allclose(predicted.means[i], x, rtol=0, atol=1e-9)
        np.testing.assert_allclose(predicted.covariances[i], p, rtol=0, atol=1e-9)


def test_ctrv_jacobian_is_the_derivative_of_the_move() -> None:
    rng = np.random.default_rng(RNG_SEED + 2)
    tracks = random_tracks(rng, 40, 5)
    dt = np.full(40, 0.2)
    _, jacobians = ConstantTurnRate().transition(tracks.means, dt)
    for i in range(40):
        numeric = reference.ctrv_jacobian_numeric(tracks.means[i], 0.2)
        np.testing.assert_allclose(jacobians[i], numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("d", [4, 5])
def test_update_matches_the_per_track_loop(d: int) -> None:
    rng = np.random.default_rng(RNG_SEED + d)
    tracks = random_tracks(rng, 60, d)
    z = tracks.means[:, :2] + rng.normal(scale=3.0, size=(60, 2))
    r = random_covariances(rng, 60, 2)
    updated = KalmanUpdater(angle_index=3 if d == 5 else None).update(tracks, z, r)
    for i in range(60):
        x, p = reference.update_one(tracks.means[i], tracks.covariances[i], z[i], r[i])
        if d == 5:
            x[3] = (x[3] + np.pi) % (2 * np.pi) - np.pi
        np.testing.assert_allclose(updated.means[i], x, rtol=0, atol=1e-9)
        np.testing.assert_allclose(updated.covariances[i], p, rtol=0, atol=1e-9)
        assert np.all(np.linalg.eigvalsh(updated.covariances[i]) > 0)


def test_an_empty_track_set_passes_through() -> None:
    empty = TrackSet.empty(4)
    assert len(KalmanPredictor(ConstantVelocity()).predict(empty, 1.0)) == 0
    assert len(KalmanUpdater().update(empty, np.empty((0, 2)), np.empty((0, 2, 2)))) == 0


@pytest.mark.parametrize("d", [4, 5])
def test_covariances_come_out_exactly_symmetric(d: int) -> None:
    # The written-out products round differently on either side of the diagonal; the
    # predictor and updater must still hand on exactly symmetric matrices.
    rng = np.random.default_rng(RNG_SEED + 10 + d)
    tracks = random_tracks(rng, 70, d)
    model = ConstantVelocity() if d == 4 else ConstantTurnRate()
    predicted = KalmanPredictor(model).predict(tracks, 0.3)
    z = predicted.means[:, :2] + rng.normal(scale=2.0, size=(70, 2))
    updated = KalmanUpdater(angle_index=3 if d == 5 else None).update(
        predicted, z, random_covariances(rng, 70, 2)
    )
    for covs in (predicted.covariances, updated.covariances):
        assert np.array_equal(covs, covs.transpose(0, 2, 1))
