"""The batched Kalman predictor (linear or extended, per the motion model) and the position
updater (z = (x, y), a measurement covariance per detection), both over all tracks at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.tracking.motion_models import ConstantVelocity, wrap_angle
from edge.tracking.roles import MotionModel
from edge.tracking.track_set import FloatArray, TrackSet


def inverse_2x2(m: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the inverses (K, 2, 2) and determinants (K,) of the matrices ``m`` (K, 2, 2)."""
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    det = a * d - b * c
    inv = np.empty_like(m)
    inv[:, 0, 0] = d
    inv[:, 0, 1] = -b
    inv[:, 1, 0] = -c
    inv[:, 1, 1] = a
    inv /= det[:, None, None]
    return inv, det


def symmetric(p: FloatArray) -> FloatArray:
    """Return ``p`` (K, d, d) made exactly symmetric (rounding drifts it)."""
    out: FloatArray = 0.5 * (p + p.transpose(0, 2, 1))
    return out


@dataclass(frozen=True, slots=True)
class KalmanPredictor:
    """Predicts every track to a time with ``model``: P' = F P F^T + Q, F the transition matrix
    (constant velocity) or the Jacobian of the move (CTRV: an extended Kalman filter)."""

    model: MotionModel

    def predict(self, tracks: TrackSet, time_s: float) -> TrackSet:
        """Return ``tracks`` predicted to ``time_s`` (never backwards: a later track stays put)."""
        if len(tracks) == 0:
            return tracks
        dt = np.maximum(time_s - tracks.time_s, 0.0)
        if isinstance(self.model, ConstantVelocity):
            means, covs = self.model.propagate(tracks.means, tracks.covariances, dt)
        else:
            means, f = self.model.transition(tracks.means, dt)
            q = self.model.process_noise(tracks.means, dt)
            covs = symmetric(f @ tracks.covariances @ f.transpose(0, 2, 1) + q)
        later = np.maximum(tracks.time_s, time_s)
        return tracks.replace(means=means, covariances=covs, time_s=later)


@dataclass(frozen=True, slots=True)
class KalmanUpdater:
    """Updates tracks with position measurements; the measurement matrix picks the state's first
    two components (x, y), so the update is linear for both motion models.

    ``angle_index``: the state component that is an angle, wrapped after the update (3 for CTRV).
    """

    angle_index: int | None = None

    def update(self, tracks: TrackSet, positions: FloatArray, covariances: FloatArray) -> TrackSet:
        """Return ``tracks`` updated row by row with ``positions`` (K, 2) of covariance
        ``covariances`` (K, 2, 2), in the Joseph form (keeps P symmetric positive definite)."""
        if len(tracks) == 0:
            return tracks
        # Worked with the track axis last, (d, d, K): each elementwise pass below is then one
        # long loop, not K loops of d. With H picking (x, y) every product has an inner
        # dimension of 2, written out as columns instead of a stack of small matmuls.
        p = np.ascontiguousarray(tracks.covariances.transpose(1, 2, 0))
        r = covariances.transpose(1, 2, 0)
        s00, s01 = p[0, 0] + r[0, 0], p[0, 1] + r[0, 1]  # S = H P H^T + R
        s10, s11 = p[1, 0] + r[1, 0], p[1, 1] + r[1, 1]
        det = s00 * s11 - s01 * s10
        i00, i01, i10, i11 = s11 / det, -s01 / det, -s10 / det, s00 / det  # S^-1
        # The gain K = P H^T S^-1, as its two columns k0, k1 (d, K).
        k0 = p[:, 0] * i00 + p[:, 1] * i10
        k1 = p[:, 0] * i01 + p[:, 1] * i11
        innovation = positions - tracks.means[:, :2]
        means = tracks.means + (k0 * innovation[:, 0] + k1 * innovation[:, 1]).T
        # Joseph form (I - KH) P (I - KH)^T + K R K^T, one side at a time.
        left = p - k0[:, None] * p[0] - k1[:, None] * p[1]
        covs = left - left[:, :1] * k0 - left[:, 1:2] * k1
        kr0 = k0 * r[0, 0] + k1 * r[1, 0]  # the columns of K R
        kr1 = k0 * r[0, 1] + k1 * r[1, 1]
        covs += kr0[:, None] * k0
        covs += kr1[:, None] * k1
        covs = 0.5 * (covs + covs.transpose(1, 0, 2))  # exactly symmetric (rounding drifts it)
        if self.angle_index is not None:
            means[:, self.angle_index] = wrap_angle(means[:, self.angle_index])
        return tracks.replace(means=means, covariances=covs.transpose(2, 0, 1))
