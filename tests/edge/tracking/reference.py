"""Straightforward per-track reference implementations (plain loops) to test the batched roles."""

from __future__ import annotations

import math

import numpy as np

from edge.tracking.track_set import FloatArray


def cv_predict_one(
    x: FloatArray, p: FloatArray, dt: float, q: float
) -> tuple[FloatArray, FloatArray]:
    f = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    block = q * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
    qm = np.zeros((4, 4))
    qm[np.ix_([0, 2], [0, 2])] = block
    qm[np.ix_([1, 3], [1, 3])] = block
    return f @ x, f @ p @ f.T + qm


def ctrv_move_one(x: FloatArray, dt: float) -> FloatArray:
    px, py, v, psi, w = x
    if abs(w) > 1e-6:
        px += v / w * (math.sin(psi + w * dt) - math.sin(psi))
        py += v / w * (math.cos(psi) - math.cos(psi + w * dt))
    else:
        px += v * math.cos(psi) * dt
        py += v * math.sin(psi) * dt
    heading = (psi + w * dt + math.pi) % (2 * math.pi) - math.pi
    return np.array([px, py, v, heading, w])


def ctrv_jacobian_numeric(x: FloatArray, dt: float) -> FloatArray:
    """The Jacobian of the CTRV move by central differences (heading differences unwrapped)."""
    f = np.eye(5)
    for j in range(5):
        # The yaw-rate step crosses the straight-line threshold (1e-6), whose branch would
        # see no dependence on the yaw rate at all.
        h = 1e-4 if j == 4 else 1e-6 * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        diff = ctrv_move_one(up, dt) - ctrv_move_one(down, dt)
        diff[3] = (diff[3] + math.pi) % (2 * math.pi) - math.pi
        f[:, j] = diff / (2 * h)
    return f


def ctrv_jacobian_one(x: FloatArray, dt: float) -> FloatArray:
    _, _, v, psi, w = x
    f = np.eye(5)
    f[3, 4] = dt
    if abs(w) > 1e-6:
        s0, c0 = math.sin(psi), math.cos(psi)
        s1, c1 = math.sin(psi + w * dt), math.cos(psi + w * dt)
        f[0, 2] = (s1 - s0) / w
        f[0, 3] = v / w * (c1 - c0)
        f[0, 4] = v * dt * c1 / w - v / w**2 * (s1 - s0)
        f[1, 2] = (c0 - c1) / w
        f[1, 3] = v / w * (s1 - s0)
        f[1, 4] = v * dt * s1 / w - v / w**2 * (c0 - c1)
    else:
        f[0, 2] = math.cos(psi) * dt
        f[0, 3] = -v * math.sin(psi) * dt
        f[0, 4] = -v * math.sin(psi) * dt * dt / 2
        f[1, 2] = math.sin(psi) * dt
        f[1, 3] = v * math.cos(psi) * dt
        f[1, 4] = v * math.cos(psi) * dt * dt / 2
    return f


def ctrv_predict_one(
    x: FloatArray, p: FloatArray, dt: float, sa: float, sw: float
) -> tuple[FloatArray, FloatArray]:
    f = ctrv_jacobian_one(x, dt)
    g = np.zeros((5, 2))
    g[0, 0] = dt * dt / 2 * math.cos(x[3]) * sa
    g[1, 0] = dt * dt / 2 * math.sin(x[3]) * sa
    g[2, 0] = dt * sa
    g[3, 1] = dt * dt / 2 * sw
    g[4, 1] = dt * sw
    return ctrv_move_one(x, dt), f @ p @ f.T + g @ g.T


def update_one(
    x: FloatArray, p: FloatArray, z: FloatArray, r: FloatArray
) -> tuple[FloatArray, FloatArray]:
    d = x.shape[0]
    h = np.zeros((2, d))
    h[0, 0] = h[1, 1] = 1.0
    s = h @ p @ h.T + r
    k = p @ h.T @ np.linalg.inv(s)
    x_new = x + k @ (z - h @ x)
    i_kh = np.eye(d) - k @ h
    return x_new, i_kh @ p @ i_kh.T + k @ r @ k.T
