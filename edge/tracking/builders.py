"""Ready-made trackers: the standard roles put together for each motion model."""

from __future__ import annotations

import math

from edge.tracking.association import GnnAssociator, chi2_2dof_quantile
from edge.tracking.deletion import MissDeleter
from edge.tracking.detections import DetectionLimits
from edge.tracking.initiation import MOfNInitiator, MOfNSettings
from edge.tracking.kalman import KalmanPredictor, KalmanUpdater
from edge.tracking.motion_models import ConstantTurnRate, ConstantVelocity
from edge.tracking.roles import MotionModel
from edge.tracking.tracker import Tracker, TrackerSettings


def gnn_tracker(
    model: MotionModel,
    *,
    gate_probability: float = 0.999,
    m: int = 3,
    n: int = 4,
    max_speed_m_s: float = 60.0,
    max_misses: int = 5,
    max_position_variance_m2: float = 100.0,
    max_tracks: int = 1024,
    detection_limits: DetectionLimits | None = None,
    unresolved_spread_m2: float = 0.1,
) -> Tracker:
    """Return a Kalman (EKF for CTRV) tracker with Mahalanobis-gated global nearest-neighbour
    assignment, M-of-N initiation and deletion after misses, for ``model`` (the settings'
    meanings: :class:`~edge.tracking.tracker.TrackerSettings` and the roles)."""
    angle_index = 3 if isinstance(model, ConstantTurnRate) else None
    return Tracker(
        predictor=KalmanPredictor(model),
        updater=KalmanUpdater(angle_index=angle_index),
        associator=GnnAssociator(gate_probability),
        initiator=MOfNInitiator(
            model,
            MOfNSettings(
                m,
                n,
                max_speed_m_s,
                # A speed of max_speed_m_s lies on the gate of the velocity prior.
                velocity_prior_std_m_s=max_speed_m_s
                / math.sqrt(chi2_2dof_quantile(gate_probability)),
            ),
        ),
        deleter=MissDeleter(max_misses, max_position_variance_m2),
        settings=TrackerSettings(
            state_dim=model.dim,
            max_tracks=max_tracks,
            detection_limits=detection_limits or DetectionLimits(),
            unresolved_spread_m2=unresolved_spread_m2,
        ),
    )


__all__ = ["ConstantTurnRate", "ConstantVelocity", "gnn_tracker"]
