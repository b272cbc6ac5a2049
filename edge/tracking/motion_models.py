"""Motion models: state transition, its Jacobian and process noise, for all tracks at once.

State vectors are rows; ``dt_s`` is one interval per track (tracks may refer to different times).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.tracking.track_set import FloatArray

_MIN_SPEED_FOR_HEADING = 0.5
"""Below this speed (m/s) a new track's heading is taken as unknown, not from its velocity."""

_SMALL_YAW_RATE = 1e-6
"""Below this |yaw rate| (rad/s) CTRV uses its straight-line limit: v/omega loses precision."""

_CV_NOISE_LAYOUT = np.array([[0, 3, 1, 3], [3, 0, 3, 1], [1, 3, 2, 3], [3, 1, 3, 2]])
"""Constant velocity's process noise from its terms (dt^3 q/3, dt^2 q/2, dt q, 0): each axis
has [[dt^3 q/3, dt^2 q/2], [dt^2 q/2, dt q]] over its position and velocity, the axes apart."""


@dataclass(frozen=True, slots=True)
class ConstantVelocity:
    """Constant velocity in the plane, state (x, y, vx, vy), driven by white acceleration noise.

    ``accel_noise_m_s2``: standard deviation of the acceleration per axis (continuous white noise
    of spectral density ``accel_noise_m_s2**2``).
    """

    accel_noise_m_s2: float = 1.0
    dim: int = 4

    def transition(self, means: FloatArray, dt_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return the means moved by ``dt_s`` (N, 4) and the transition matrices (N, 4, 4)."""
        n = means.shape[0]
        f = np.broadcast_to(np.eye(4), (n, 4, 4)).copy()
        f[:, 0, 2] = dt_s
        f[:, 1, 3] = dt_s
        moved = means.copy()
        moved[:, 0] += means[:, 2] * dt_s
        moved[:, 1] += means[:, 3] * dt_s
        return moved, f

    def propagate(
        self, means: FloatArray, covariances: FloatArray, dt_s: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Return the means moved by ``dt_s`` and their covariances F P F^T + Q (N, 4, 4),
        made exactly symmetric (rounding drifts it).

        F is the identity but for dt at (0, 2) and (1, 3): F P adds dt times rows 2, 3 to rows
        0, 1, and (F P) F^T the same with columns, in place of two stacked matmuls. The work
        is done with the track axis last (the covariances returned are a view of that layout):
        numpy's passes then run one long loop each, not N loops of 4.
        """
        moved = means.copy()
        moved[:, 0] += means[:, 2] * dt_s
        moved[:, 1] += means[:, 3] * dt_s
        covs = covariances.transpose(1, 2, 0).copy()  # (4, 4, N)
        covs[:2] += covs[2:] * dt_s
        covs[:, :2] += covs[:, 2:] * dt_s
        q = self.accel_noise_m_s2**2
        terms = np.zeros((4, dt_s.size))  # Q's terms, as process_noise lays them out
        squared = dt_s * dt_s
        np.multiply(squared * dt_s, q / 3.0, out=terms[0])
        np.multiply(squared, q / 2.0, out=terms[1])
        np.multiply(dt_s, q, out=terms[2])
        covs += terms[_CV_NOISE_LAYOUT]
        covs += covs.transpose(1, 0, 2)
        covs *= 0.5
        return moved, covs.transpose(2, 0, 1)

    def process_noise(self, means: FloatArray, dt_s: FloatArray) -> FloatArray:
        """Return the process noise covariances (N, 4, 4) over ``dt_s``."""
        q = self.accel_noise_m_s2**2
        t1, t2, t3 = dt_s * q, dt_s**2 * q / 2.0, dt_s**3 * q / 3.0
        terms = np.stack((t3, t2, t1, np.zeros_like(t1)), axis=-1)
        out: FloatArray = terms[:, _CV_NOISE_LAYOUT]
        return out

    def initial_state(
        self,
        positions: FloatArray,
        position_covariances: FloatArray,
        velocities: FloatArray,
        velocity_covariances: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Return means (M, 4) and covariances (M, 4, 4) of tracks born at ``positions`` with
        ``velocities`` (M, 2), position and velocity independent."""
        m = positions.shape[0]
        means = np.concatenate((positions, velocities), axis=1)
        covs = np.zeros((m, 4, 4))
        covs[:, :2, :2] = position_covariances
        covs[:, 2:, 2:] = velocity_covariances
        return means, covs


@dataclass(frozen=True, slots=True)
class ConstantTurnRate:
    """Constant turn rate and velocity (CTRV), state (x, y, speed, heading, yaw rate).

    Heading is counter-clockwise from the x axis in radians, kept in [-pi, pi). Noise: white
    longitudinal acceleration (``accel_noise_m_s2``) and yaw acceleration
    (``yaw_accel_noise_rad_s2``), as in Schubert et al., "Comparison and evaluation of advanced
    motion models for vehicle tracking" (2008).
    """

    accel_noise_m_s2: float = 2.0
    yaw_accel_noise_rad_s2: float = 0.5
    initial_yaw_rate_std_rad_s: float = 0.5
    dim: int = 5

    def transition(self, means: FloatArray, dt_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return the means moved by ``dt_s`` (N, 5) and the Jacobians of the move (N, 5, 5)."""
        v, psi, w = means[:, 2], means[:, 3], means[:, 4]
        t = dt_s
        s0, c0 = np.sin(psi), np.cos(psi)
        psi1 = psi + w * t
        s1, c1 = np.sin(psi1), np.cos(psi1)
        turning = np.abs(w) > _SMALL_YAW_RATE
        w_safe = np.where(turning, w, 1.0)
        # Turning: exact arc. Straight: its limit as the yaw rate goes to zero.
        dx_dv = np.where(turning, (s1 - s0) / w_safe, c0 * t)
        dy_dv = np.where(turning, (c0 - c1) / w_safe, s0 * t)
        dx_dpsi = np.where(turning, v * (c1 - c0) / w_safe, -v * s0 * t)
        dy_dpsi = np.where(turning, v * (s1 - s0) / w_safe, v * c0 * t)
        dx_dw = np.where(
            turning, v * t * c1 / w_safe - v * (s1 - s0) / w_safe**2, -v * s0 * t * t / 2.0
        )
        dy_dw = np.where(
            turning, v * t * s1 / w_safe - v * (c0 - c1) / w_safe**2, v * c0 * t * t / 2.0
        )
        moved = means.copy()
        moved[:, 0] += v * dx_dv
        moved[:, 1] += v * dy_dv
        moved[:, 3] = wrap_angle(psi1)
        n = means.shape[0]
        f = np.broadcast_to(np.eye(5), (n, 5, 5)).copy()
        f[:, 0, 2], f[:, 0, 3], f[:, 0, 4] = dx_dv, dx_dpsi, dx_dw
        f[:, 1, 2], f[:, 1, 3], f[:, 1, 4] = dy_dv, dy_dpsi, dy_dw
        f[:, 3, 4] = t
        return moved, f

    def process_noise(self, means: FloatArray, dt_s: FloatArray) -> FloatArray:
        """Return the process noise covariances (N, 5, 5) over ``dt_s``: G diag(qa, qw) G^T."""
        n = means.shape[0]
        psi, t = means[:, 3], dt_s
        g = np.zeros((n, 5, 2))
        g[:, 0, 0] = t * t / 2.0 * np.cos(psi)
        g[:, 1, 0] = t * t / 2.0 * np.sin(psi)
        g[:, 2, 0] = t
        g[:, 3, 1] = t * t / 2.0
        g[:, 4, 1] = t
        g[:, :, 0] *= self.accel_noise_m_s2
        g[:, :, 1] *= self.yaw_accel_noise_rad_s2
        out: FloatArray = g @ g.transpose(0, 2, 1)
        return out

    def initial_state(
        self,
        positions: FloatArray,
        position_covariances: FloatArray,
        velocities: FloatArray,
        velocity_covariances: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Return means (M, 5) and covariances (M, 5, 5) of tracks born at ``positions`` with
        ``velocities`` (M, 2), yaw rate zero; speed and heading take the velocity's covariance
        through the Jacobian of the polar conversion (heading unknown when nearly at rest)."""
        m = positions.shape[0]
        vx, vy = velocities[:, 0], velocities[:, 1]
        speed = np.hypot(vx, vy)
        moving = speed > _MIN_SPEED_FOR_HEADING
        s_safe = np.where(moving, speed, 1.0)
        j = np.zeros((m, 2, 2))
        j[:, 0, 0], j[:, 0, 1] = vx / s_safe, vy / s_safe
        j[:, 1, 0], j[:, 1, 1] = -vy / s_safe**2, vx / s_safe**2
        polar = j @ velocity_covariances @ j.transpose(0, 2, 1)
        means = np.zeros((m, 5))
        means[:, :2] = positions
        means[:, 2] = speed
        means[:, 3] = np.arctan2(vy, vx)
        covs = np.zeros((m, 5, 5))
        covs[:, :2, :2] = position_covariances
        covs[:, 2:4, 2:4] = polar
        at_rest = ~moving
        covs[at_rest, 2:4, 2:4] = 0.0
        covs[at_rest, 2, 2] = np.trace(velocity_covariances[at_rest], axis1=1, axis2=2)
        covs[at_rest, 3, 3] = np.pi**2 / 3.0  # uniform heading
        covs[:, 4, 4] = self.initial_yaw_rate_std_rad_s**2
        return means, covs


def wrap_angle(angle: FloatArray) -> FloatArray:
    """Return ``angle`` (radians) wrapped into [-pi, pi)."""
    out: FloatArray = (angle + np.pi) % (2.0 * np.pi) - np.pi
    return out
