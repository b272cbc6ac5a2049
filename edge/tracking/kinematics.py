"""Any motion model's state as position and velocity, with their joint covariance."""

from __future__ import annotations

import numpy as np

from edge.tracking.track_set import FloatArray


def position_velocity(means: FloatArray, covariances: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return states (N, 4) ``[x, y, vx, vy]`` and their covariances (N, 4, 4) from a constant
    velocity state (x, y, vx, vy) or a CTRV state (x, y, speed, heading anticlockwise from x,
    yaw rate), the latter through the Jacobian of the polar velocity.

    Raises:
        ValueError: the state dimension is neither 4 nor 5.
    """
    dim = means.shape[1]
    if dim == 4:
        return means, covariances
    if dim != 5:
        raise ValueError(f"no position-velocity form for a state of dimension {dim}")
    n = means.shape[0]
    v, psi = means[:, 2], means[:, 3]
    c, s = np.cos(psi), np.sin(psi)
    out = np.empty((n, 4))
    out[:, :2] = means[:, :2]
    out[:, 2], out[:, 3] = v * c, v * s
    jac = np.zeros((n, 4, 5))
    jac[:, 0, 0] = jac[:, 1, 1] = 1.0
    jac[:, 2, 2], jac[:, 2, 3] = c, -v * s
    jac[:, 3, 2], jac[:, 3, 3] = s, v * c
    return out, jac @ covariances @ jac.transpose(0, 2, 1)
