"""The vehicle's motion model: its state, prediction and measurement updates (an EKF).

State (``STATE_NAMES``): east, north (m, in a local ENU frame), heading (rad clockwise from
north), speed (m/s), yaw rate (rad/s, positive anticlockwise), longitudinal acceleration
(m/s^2), the wheel-speed scale factor (wheel speed = scale x speed) and the yaw-rate sensor's
bias (measured = true + bias). The motion is CTRV-like with a random-walk acceleration and yaw
rate; scale and bias random-walk slowly. Because scale and bias are states, their uncertainty
(learnt while GNSS is good) feeds the position's covariance through a tunnel: dead reckoning
says how wrong it may be.

Until measured, position, heading and speed are *unknown* (no fix, no course, no speed yet):
their states are held, and a known position then grows its uncertainty by the farthest the car
could have gone instead of integrating an unknown heading or speed. The first measurement of
each sets it. GNSS positions and courses are gated (chi-square, 99.99 %); after
``MAX_OUTLIERS_IN_ROW`` gated positions the next one is believed (the filter was wrong).

``edge.vehicle.state_filter`` runs this model over time-stamped, possibly late measurements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
from numpy.typing import NDArray

from edge.tracking.motion_models import wrap_angle

FloatArray = NDArray[np.float64]

E, N, PSI, V, W, A, K, B = range(8)
STATE_NAMES: Final = (
    "east_m",
    "north_m",
    "heading_rad",
    "speed_mps",
    "yaw_rate_rad_s",
    "accel_mps2",
    "wheel_scale",
    "yaw_rate_bias_rad_s",
)
DIM: Final = len(STATE_NAMES)
MAX_OUTLIERS_IN_ROW: Final = 5
_GATE_1DOF: Final = 15.137  # chi-square 99.99 % quantiles: a consistent filter rarely gates
_GATE_2DOF: Final = 18.421
_UNKNOWN_POSITION_VAR: Final = 1e8
_UNKNOWN_SPEED_VAR: Final = 100.0**2
_UNKNOWN_HEADING_VAR: Final = math.pi**2


@dataclass(frozen=True)
class FilterSettings:
    """Noise and limits. Spectral densities are per second of prediction."""

    accel_jerk_psd: float = 1.0  # (m/s^3)^2 s: longitudinal acceleration's random walk
    yaw_accel_psd: float = 0.005  # (rad/s^2)^2 s: yaw rate's random walk
    position_psd: float = 0.0005  # m^2/s: what the model misses (slip, bumps)
    heading_psd: float = 1e-7  # rad^2/s
    scale_psd: float = 1e-8  # 1/s: tyre wear and pressure drift slowly
    bias_psd: float = 1e-9  # (rad/s)^2/s: a gyro's bias instability
    initial_scale_sigma: float = 0.03  # wheel speed is 3 % off on a car we do not know
    initial_bias_sigma_rad_s: float = math.radians(0.5)
    initial_yaw_rate_sigma_rad_s: float = 0.5
    initial_accel_sigma_mps2: float = 3.0
    wheel_speed_sigma_mps: float = 0.03
    yaw_rate_sigma_rad_s: float = 0.005
    accel_sigma_mps2: float = 0.3  # gravity on slopes and pitch while braking included
    standstill_yaw_sigma_rad_s: float = 0.002  # a car not moving is not turning
    max_speed_mps: float = 70.0
    max_yaw_rate_rad_s: float = 3.0
    max_accel_mps2: float = 30.0
    history_s: float = 2.0
    max_gap_s: float = 10.0
    max_step_s: float = 0.05

    def __post_init__(self) -> None:
        values = [getattr(self, name) for name in self.__dataclass_fields__]
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"filter settings must be finite and positive: {self}")


@dataclass(frozen=True)
class Measurement:
    """One sensed value at ``time_s``: ``kind`` is one of ``wheel_speed``, ``yaw_rate``,
    ``accel``, ``gnss_speed``, ``gnss_course`` (value, sigma) or ``gnss_position``
    (value = (east, north), sigma = (east, north) 1-sigmas)."""

    kind: str
    time_s: float
    value: tuple[float, ...]
    sigma: tuple[float, ...]


@dataclass(frozen=True)
class FilterState:
    """The filter at ``time_s``; flags say which parts are measured yet."""

    time_s: float
    mean: FloatArray
    covariance: FloatArray
    position_known: bool = False
    heading_known: bool = False
    speed_known: bool = False
    last_position_fix_s: float | None = None
    outliers_in_row: int = 0

    @property
    def horizontal_sigma_m(self) -> float:
        """sqrt of the position covariance's largest eigenvalue: the 1-sigma of its major axis."""
        p = self.covariance
        a, b, c = p[E, E], p[E, N], p[N, N]
        largest = (a + c) / 2 + math.sqrt(((a - c) / 2) ** 2 + b * b)
        return math.sqrt(max(largest, 0.0))

    def sigma(self, index: int) -> float:
        return math.sqrt(max(float(self.covariance[index, index]), 0.0))


def initial_state(settings: FilterSettings, time_s: float) -> FilterState:
    """Nothing measured yet: unknown position, heading and speed; scale 1, bias 0."""
    mean = np.zeros(DIM)
    mean[K] = 1.0
    var = np.array(
        [
            _UNKNOWN_POSITION_VAR,
            _UNKNOWN_POSITION_VAR,
            _UNKNOWN_HEADING_VAR,
            _UNKNOWN_SPEED_VAR,
            settings.initial_yaw_rate_sigma_rad_s**2,
            settings.initial_accel_sigma_mps2**2,
            settings.initial_scale_sigma**2,
            settings.initial_bias_sigma_rad_s**2,
        ]
    )
    return FilterState(time_s, mean, np.diag(var))


def predict(settings: FilterSettings, state: FilterState, time_s: float) -> FilterState:
    """``state`` predicted to ``time_s`` (itself when ``time_s`` is not later)."""
    dt_total = time_s - state.time_s
    if dt_total <= 0:
        return state
    steps = max(1, math.ceil(dt_total / settings.max_step_s))
    x, p = state.mean.copy(), state.covariance.copy()
    for _ in range(steps):
        x, p = _predict_step(settings, state, x, p, dt_total / steps)
    x[PSI] = float(wrap_angle(np.asarray(x[PSI])))
    return replace(state, time_s=time_s, mean=x, covariance=_held(state, _symmetric(p)))


def _predict_step(
    settings: FilterSettings, flags: FilterState, x: FloatArray, p: FloatArray, dt: float
) -> tuple[FloatArray, FloatArray]:
    s = settings
    f = np.eye(DIM)
    q = np.zeros((DIM, DIM))
    psi, v, w, a = x[PSI], x[V], x[W], x[A]
    if flags.speed_known:
        x[V] = v + a * dt
        f[V, A] = dt
    x[PSI] = psi - w * dt  # heading is clockwise, yaw rate anticlockwise
    f[PSI, W] = -dt
    moving = flags.position_known and flags.heading_known and flags.speed_known
    if moving:
        psi_mid, v_mid = psi - w * dt / 2, v + a * dt / 2
        sin_m, cos_m = math.sin(psi_mid), math.cos(psi_mid)
        x[E] += v_mid * dt * sin_m
        x[N] += v_mid * dt * cos_m
        f[E, PSI], f[N, PSI] = v_mid * dt * cos_m, -v_mid * dt * sin_m
        f[E, V], f[N, V] = dt * sin_m, dt * cos_m
        f[E, W], f[N, W] = -f[E, PSI] * dt / 2, -f[N, PSI] * dt / 2
        f[E, A], f[N, A] = f[E, V] * dt / 2, f[N, V] * dt / 2
    # Integrated random walks: (speed, accel) driven by jerk, (heading, yaw rate) by yaw
    # acceleration (heading = -integral of yaw rate, hence the negative cross terms).
    dt2, dt3 = dt * dt / 2, dt**3 / 3
    q[V, V], q[V, A], q[A, A] = (
        dt3 * s.accel_jerk_psd,
        dt2 * s.accel_jerk_psd,
        dt * s.accel_jerk_psd,
    )
    q[A, V] = q[V, A]
    q[PSI, PSI] = dt3 * s.yaw_accel_psd + dt * s.heading_psd
    q[PSI, W] = q[W, PSI] = -dt2 * s.yaw_accel_psd
    q[W, W] = dt * s.yaw_accel_psd
    q[E, E] = q[N, N] = dt * s.position_psd
    q[K, K] = dt * s.scale_psd
    q[B, B] = dt * s.bias_psd
    p = f @ p @ f.T + q
    if flags.position_known and not moving:
        # Heading or speed unknown: the car may have gone anywhere within its reach.
        reach = (
            abs(v) + 3 * math.sqrt(max(p[V, V], 0.0)) if flags.speed_known else s.max_speed_mps
        ) * dt
        for i in (E, N):
            grown = (math.sqrt(max(p[i, i], 0.0)) + reach) ** 2
            p[i, :] = p[:, i] = 0.0
            p[i, i] = grown
        p[E, N] = p[N, E] = 0.0
    return x, p


def update(
    settings: FilterSettings, state: FilterState, m: Measurement
) -> tuple[FilterState, str | None]:
    """``state`` (at ``m``'s time) updated by ``m``, with a remark when ``m`` was not used as
    such: ``outlier.<kind>`` (gated out) or ``reacquired`` (believed after repeated outliers).
    Raises ``ValueError`` for a kind it does not know."""
    kind, x, z, r = m.kind, state.mean, m.value[0], m.sigma[0] ** 2
    if kind == "gnss_position":
        return _update_position(state, m)
    if kind == "gnss_course":
        return _update_course(state, z, r)
    h = np.zeros(DIM)
    if kind in ("wheel_speed", "gnss_speed") and not state.speed_known:
        scale = x[K] if kind == "wheel_speed" else 1.0
        scale_var = state.covariance[K, K] if kind == "wheel_speed" else 0.0
        return _init_speed(state, z / scale, (r + z * z * scale_var) / scale**2), None
    if kind == "wheel_speed":
        h[V], h[K] = x[K], x[V]
        out = _scalar_update(state, h, z - x[K] * x[V], r)
        if abs(z) < 0.01:  # standing still: the yaw rate is zero
            still = np.zeros(DIM)
            still[W] = 1.0
            out = _scalar_update(out, still, -out.mean[W], settings.standstill_yaw_sigma_rad_s**2)
        return out, None
    if kind == "gnss_speed":
        h[V] = 1.0
        return _scalar_update(state, h, z - x[V], r), None
    if kind == "yaw_rate":
        h[W], h[B] = 1.0, 1.0
        return _scalar_update(state, h, z - x[W] - x[B], r), None
    if kind == "accel":
        h[A] = 1.0
        return _scalar_update(state, h, z - x[A], r), None
    raise ValueError(f"unknown measurement kind {kind!r}")


def _update_course(
    state: FilterState, course_rad: float, r: float
) -> tuple[FilterState, str | None]:
    course = float(wrap_angle(np.asarray(course_rad)))
    if not state.heading_known:
        mean, cov = state.mean.copy(), state.covariance.copy()
        mean[PSI] = course
        cov[PSI, :] = cov[:, PSI] = 0.0
        cov[PSI, PSI] = r
        return replace(state, mean=mean, covariance=cov, heading_known=True), None
    h = np.zeros(DIM)
    h[PSI] = 1.0
    innovation = float(wrap_angle(np.asarray(course - state.mean[PSI])))
    if innovation * innovation / (state.covariance[PSI, PSI] + r) > _GATE_1DOF:
        return state, "outlier.gnss_course"
    out = _scalar_update(state, h, innovation, r)
    out.mean[PSI] = float(wrap_angle(np.asarray(out.mean[PSI])))
    return out, None


def _update_position(state: FilterState, m: Measurement) -> tuple[FilterState, str | None]:
    z = np.asarray(m.value, dtype=np.float64)
    r = np.diag(np.square(np.asarray(m.sigma, dtype=np.float64)))
    pos = slice(E, N + 1)
    if not state.position_known or state.outliers_in_row >= MAX_OUTLIERS_IN_ROW:
        mean, cov = state.mean.copy(), state.covariance.copy()
        mean[pos] = z
        cov[pos, :] = cov[:, pos] = 0.0
        cov[pos, pos] = r
        remark = "reacquired" if state.position_known else None
        set_position = replace(
            state,
            mean=mean,
            covariance=cov,
            position_known=True,
            last_position_fix_s=m.time_s,
            outliers_in_row=0,
        )
        return set_position, remark
    p = state.covariance
    innovation = z - state.mean[pos]
    s = p[pos, pos] + r
    s_inv = np.linalg.inv(s)
    if float(innovation @ s_inv @ innovation) > _GATE_2DOF:
        return replace(state, outliers_in_row=state.outliers_in_row + 1), "outlier.gnss_position"
    gain = p[:, pos] @ s_inv
    updated = replace(
        state,
        mean=state.mean + gain @ innovation,
        covariance=_symmetric(p - gain @ s @ gain.T),
        last_position_fix_s=m.time_s,
        outliers_in_row=0,
    )
    return updated, None


def _scalar_update(state: FilterState, h: FloatArray, innovation: float, r: float) -> FilterState:
    p = state.covariance
    ph = p @ h
    s = float(h @ ph) + r
    gain = ph / s
    return replace(
        state, mean=state.mean + gain * innovation, covariance=_symmetric(p - np.outer(gain, ph))
    )


def _symmetric(p: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (p + p.T)
    return out


def _init_speed(state: FilterState, speed: float, variance: float) -> FilterState:
    mean, cov = state.mean.copy(), state.covariance.copy()
    mean[V] = speed
    cov[V, :] = cov[:, V] = 0.0
    cov[V, V] = variance
    return replace(state, mean=mean, covariance=cov, speed_known=True)


def _held(state: FilterState, p: FloatArray) -> FloatArray:
    """``p`` with the unknown parts kept at their unknown variance and uncorrelated."""
    for known, indices, var in (
        (state.position_known, (E, N), _UNKNOWN_POSITION_VAR),
        (state.heading_known, (PSI,), _UNKNOWN_HEADING_VAR),
        (state.speed_known, (V,), _UNKNOWN_SPEED_VAR),
    ):
        if not known:
            for i in indices:
                p[i, :] = p[:, i] = 0.0
                p[i, i] = var
    return p


def keep_calibration(fresh: FilterState, old: FilterState) -> FilterState:
    """``fresh`` with ``old``'s wheel scale and yaw-rate bias (the car's, not the drive's)."""
    mean, cov = fresh.mean.copy(), fresh.covariance.copy()
    mean[K], mean[B] = old.mean[K], old.mean[B]
    cov[K, K], cov[B, B], cov[K, B] = old.covariance[K, K], old.covariance[B, B], 0.0
    cov[B, K] = 0.0
    return replace(fresh, mean=mean, covariance=cov)
