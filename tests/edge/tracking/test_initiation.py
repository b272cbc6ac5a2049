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


def test_the_velocity_prior_gives_a_kalman_filters_first_two_steps() -> None:
    # Born at the first detection at rest with the prior, predicted DT, updated with the second.
    std = 16.0
    born = born_from_two(MOfNSettings(velocity_prior_std_m_s=std))
    x0 = np.array([*Z1, 0.0, 0.0])
    p0 = np.zeros((4, 4))
    p0[:2, :2] = R1
    p0[2:, 2:] = np.eye(2) * std**2
    x, p = update_one(*cv_predict_one(x0, p0, DT, 0.0), Z2, R2)
    assert born.means[0] == pytest.approx(x, rel=1e-9, abs=1e-12)
    assert born.covariances[0, :2, :2] == pytest.approx(p[:2, :2], rel=1e-9)
    assert born.covariances[0, 2:, 2:] == pytest.approx(p[2:, 2:], rel=1e-9)
    # The prior holds the speed well below the pair's difference (8 m/s here).
    assert np.hypot(*x[2:]) < np.hypot(*(Z2 - Z1)) / DT


def test_without_a_prior_the_velocity_is_the_pairs_difference() -> None:
    born = born_from_two(MOfNSettings(velocity_prior_std_m_s=math.inf))
    assert born.means[0, :2] == pytest.approx(Z2)
    assert born.means[0, 2:] == pytest.approx((Z2 - Z1) / DT)
    assert born.covariances[0, :2, :2] == pytest.approx(R2)
    assert born.covariances[0, 2:, 2:] == pytest.approx((R1 + R2) / DT**2)


def test_a_velocity_prior_must_be_positive() -> None:
    with pytest.raises(ValueError, match="velocity_prior"):
        MOfNSettings(velocity_prior_std_m_s=0.0)


@pytest.mark.parametrize("width", [1, 4, 8, 9, 17, 62])
def test_hits_are_counted_in_the_latest_width_cycles_only(width: int) -> None:
    from edge.tracking.initiation import _popcount

    bits = np.random.default_rng(width).integers(0, 1 << 62, 500, dtype=np.int64)
    expected = [bin(int(b) & ((1 << width) - 1)).count("1") for b in bits]
    assert _popcount(bits, width).tolist() == expected
