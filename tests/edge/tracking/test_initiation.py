"""Two-point initiation with a velocity prior, against a plain Kalman filter's first steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.tracking.detections import Detections
from edge.tracking.initiation import MOfNInitiator, MOfNSettings
from edge.tracking.motion_models import ConstantVelocity
from edge.tracking.track_set import TrackSet
from tests.edge.tracking.reference import cv_predict_one, update_one

DT = 0.05
R1 = np.array([[0.16, 0.05], [0.05, 0.9]])
R2 = np.array([[0.3, -0.1], [-0.1, 0.2]])
Z1, Z2 = np.array([2.0, 3.0]), np.array([2.4, 2.9])


def born_from_two(settings: MOfNSettings) -> TrackSet:
    initiator = MOfNInitiator(ConstantVelocity(), settings)
    none = TrackSet.empty(4)
    for z, r, t in ((Z1, R1, 1.0), (Z2, R2, 1.0 + DT)):
        dets = Detections(z[None], r[None])
        born = initiator.initiate(none, dets, np.array([0], np.int64), t)
    assert len(born) == 1
    return born


def kalman_after_two(std: float) -> tuple[np.ndarray, np.ndarray]:
    """The state and joint covariance of a Kalman filter born at the first detection at rest
    with the prior, predicted DT and updated with the second."""
    x0 = np.array([*Z1, 0.0, 0.0])
    p0 = np.zeros((4, 4))
    p0[:2, :2] = R1
    p0[2:, 2:] = np.eye(2) * std**2
    return update_one(*cv_predict_one(x0, p0, DT, 0.0), Z2, R2)


def overconfidence(covariance: np.ndarray, bound: np.ndarray) -> float:
    """How far ``bound`` falls short of ``covariance`` in its worst direction (0: it bounds)."""
    return max(0.0, -float(np.linalg.eigvalsh(bound - covariance).min()))


def test_the_velocity_prior_gives_a_kalman_filters_first_two_steps() -> None:
    std = 16.0
    born = born_from_two(MOfNSettings(velocity_prior_std_m_s=std))
    x, p = kalman_after_two(std)
    assert born.means[0] == pytest.approx(x, rel=1e-9, abs=1e-12)
    # The position-velocity correlation the blocks cannot hold widens them instead: never
    # overconfident (dropping it was, by the correlation's size).
    assert overconfidence(p, born.covariances[0]) < 1e-12
    # The prior holds the speed well below the pair's difference (8 m/s here).
    assert np.hypot(*x[2:]) < np.hypot(*(Z2 - Z1)) / DT


@pytest.mark.parametrize(("m", "n"), [(3, 4), (2, 5), (4, 4)])
def test_predicted_to_its_last_chance_the_position_is_least_wide(m: int, n: int) -> None:
    # A tentative track must be hit within n - m + 1 intervals: predicted that far, the
    # position covariance bounds the filter's, and no other widening bounds it more tightly.
    from edge.tracking.initiation import _two_point_state

    std, horizons = 16.0, n - m + 1
    _, p = kalman_after_two(std)
    first, second = Detections(Z1[None], R1[None]), Detections(Z2[None], R2[None])

    def predicted(covariance: np.ndarray) -> np.ndarray:
        _, moved = cv_predict_one(np.zeros(4), covariance, horizons * DT, 0.0)
        return moved[:2, :2]

    def born_with(h: float) -> np.ndarray:
        _, pos_cov, _, vel_cov = _two_point_state(first, second, np.array([DT]), std, h)
        covariance = np.zeros((4, 4))
        covariance[:2, :2], covariance[2:, 2:] = pos_cov[0], vel_cov[0]
        return covariance

    born = born_from_two(MOfNSettings(m, n, velocity_prior_std_m_s=std))
    chosen = predicted(born.covariances[0])
    assert overconfidence(predicted(p), chosen) < 1e-12
    for other in (horizons / 4, horizons / 2, horizons * 2, horizons * 4):
        assert np.trace(predicted(born_with(other))) > np.trace(chosen) * (1 + 1e-6)


def test_without_a_prior_the_velocity_is_the_pairs_difference() -> None:
    born = born_from_two(MOfNSettings(velocity_prior_std_m_s=math.inf))
    assert born.means[0, :2] == pytest.approx(Z2)
    assert born.means[0, 2:] == pytest.approx((Z2 - Z1) / DT)
    # The plain difference's joint covariance, bounded by the blocks.
    joint = np.block([[R2, R2 / DT], [R2 / DT, (R1 + R2) / DT**2]])
    assert overconfidence(joint, born.covariances[0]) < 1e-9


def test_a_velocity_prior_must_be_positive() -> None:
    with pytest.raises(ValueError, match="velocity_prior"):
        MOfNSettings(velocity_prior_std_m_s=0.0)


@pytest.mark.parametrize("width", [1, 4, 8, 9, 17, 62])
def test_hits_are_counted_in_the_latest_width_cycles_only(width: int) -> None:
    from edge.tracking.initiation import _popcount

    bits = np.random.default_rng(width).integers(0, 1 << 62, 500, dtype=np.int64)
    expected = [bin(int(b) & ((1 << width) - 1)).count("1") for b in bits]
    assert _popcount(bits, width).tolist() == expected
