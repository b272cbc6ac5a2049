"""The batched Kalman predictor (linear or extended, per the motion model) and the position
updater (z = (x, y), a measurement covariance per detection), both over all tracks at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.tracking.motion_models import wrap_angle
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
        p = tracks.covariances
        d = tracks.dim
        s_inv, _ = inverse_2x2(p[:, :2, :2] + covariances)
        gain = p[:, :, :2] @ s_inv  # (K, d, 2)
        innovation = positions - tracks.means[:, :2]
        means = tracks.means + np.einsum("kij,kj->ki", gain, innovation)
        i_kh = np.broadcast_to(np.eye(d), p.shape).copy()
        i_kh[:, :, :2] -= gain
        covs = i_kh @ p @ i_kh.transpose(0, 2, 1) + gain @ covariances @ gain.transpose(0, 2, 1)
        if self.angle_index is not None:
            means[:, self.angle_index] = wrap_angle(means[:, self.angle_index])
        return tracks.replace(means=means, covariances=symmetric(covs))
