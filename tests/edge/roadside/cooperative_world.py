"""A small simulated intersection for the cooperative associator's tests: vehicles on straight
lines at constant velocity, radar tracks and the vehicles' own reports drawn around the truth
with the covariances they claim."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.roadside.cooperative import CooperativeReport
from edge.tracking.track_set import FloatArray

TRACK_COV = np.diag([0.5**2, 0.5**2, 0.4**2, 0.4**2])
"""What a radar track claims (and, drawn here, is)."""


@dataclass(frozen=True)
class Vehicle:
    """A road user at ``start`` (east, north; m) at time 0 with constant ``velocity`` (m/s).

    ``vehicle_id``: "" for one that reports nothing (a cyclist); ``track_id``: -1 for one the
    radar does not see.
    """

    vehicle_id: str
    track_id: int
    start: tuple[float, float]
    velocity: tuple[float, float]

    def at(self, t: float) -> FloatArray:
        """The true state [e, n, ve, vn] at time ``t``."""
        p = np.array(self.start) + np.array(self.velocity) * t
        return np.concatenate((p, np.array(self.velocity)))


def radar_tracks(
    vehicles: list[Vehicle], t: float, rng: np.random.Generator
) -> tuple[np.ndarray, FloatArray, FloatArray]:
    """Ids (N,), means (N, 4), covariances (N, 4, 4) of the tracked vehicles at ``t``."""
    seen = [v for v in vehicles if v.track_id >= 0]
    ids = np.array([v.track_id for v in seen], np.int64)
    noise = rng.multivariate_normal(np.zeros(4), TRACK_COV, size=len(seen))
    means = np.array([v.at(t) for v in seen]).reshape(-1, 4) + noise
    covs = np.broadcast_to(TRACK_COV, (len(seen), 4, 4)).copy()
    return ids, means, covs


def own_report(
    vehicle: Vehicle,
    t: float,
    rng: np.random.Generator,
    position_std_m: float = 1.0,
    velocity_std_mps: float = 0.3,
) -> CooperativeReport:
    """The vehicle's report captured at ``t``, its errors drawn from what it claims."""
    truth = vehicle.at(t)
    p_cov = position_std_m**2 * np.eye(2)
    v_cov = velocity_std_mps**2 * np.eye(2)
    return CooperativeReport(
        vehicle_id=vehicle.vehicle_id,
        time_s=t,
        position=truth[:2] + rng.multivariate_normal(np.zeros(2), p_cov),
        velocity=truth[2:] + rng.multivariate_normal(np.zeros(2), v_cov),
        position_covariance=p_cov,
        velocity_covariance=v_cov,
        length_m=4.5,
        width_m=1.8,
    )
