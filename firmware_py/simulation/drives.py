"""Simulated drives with ground truth, for judging the vehicle state estimator.

A drive is a list of ``Leg``s (duration, target acceleration and yaw rate, GNSS on or off),
integrated at 100 Hz with limited jerk and yaw acceleration into the true motion. From it come
what a car's sensors would report: CAN wheel speed (with a scale error), yaw rate (with a
bias), longitudinal acceleration, each with white noise, at ``can_rate_hz`` with timestamps;
and GNSS fixes (``protocols.nmea.GnssFix``) at ``gnss_rate_hz`` with position noise of the
1-sigma the fix reports (through GST when ``report_gst``, else only HDOP), speed and course
noise, received ``gnss_latency_s`` after their epoch. ``deliveries`` interleaves both by
arrival, optionally late and out of order.

Positions are metres east/north of ``ORIGIN``; times are Unix seconds from ``START_S``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from edge.geodesy import LocalFrame
from protocols.nmea.fix import AltitudeReference, ErrorEstimate, FixQuality, GnssFix

FloatArray = NDArray[np.float64]

ORIGIN = (34.2235, 108.8905, 410.0)
"""Latitude, longitude (degrees) and height (m) the drives start from."""
START_S = 1_800_000_000.0
TRUTH_STEP_S = 0.01
MAX_JERK_MPS3 = 3.0
MAX_YAW_ACCEL_RAD_S2 = 0.3


@dataclass(frozen=True)
class Leg:
    """A stretch of a drive: steer towards ``accel_mps2`` and ``yaw_rate_rad_s`` (positive
    anticlockwise) for ``duration_s``; ``gnss`` False for a tunnel."""

    duration_s: float
    accel_mps2: float = 0.0
    yaw_rate_rad_s: float = 0.0
    gnss: bool = True


@dataclass(frozen=True)
class SensorModel:
    """The car's sensors and its GNSS receiver."""

    wheel_scale: float = 1.012  # worn tyres: wheel speed reads 1.2 % high
    yaw_rate_bias_rad_s: float = math.radians(0.25)
    wheel_speed_sigma_mps: float = 0.03
    yaw_rate_sigma_rad_s: float = 0.004
    accel_sigma_mps2: float = 0.1
    can_rate_hz: float = 50.0
    gnss_rate_hz: float = 5.0
    gnss_quality: FixQuality = FixQuality.DGNSS
    gnss_sigma_m: float = 0.7  # per axis, the noise actually added
    hdop: float = 0.8
    report_gst: bool = True  # the fix carries GST's per-axis sigmas (= gnss_sigma_m)
    gnss_speed_sigma_mps: float = 0.1
    gnss_latency_s: float = 0.08


@dataclass(frozen=True)
class Truth:
    """The true motion, one row per ``TRUTH_STEP_S``."""

    time_s: FloatArray
    east_m: FloatArray
    north_m: FloatArray
    heading_rad: FloatArray  # clockwise from north
    speed_mps: FloatArray
    yaw_rate_rad_s: FloatArray
    accel_mps2: FloatArray
    gnss: NDArray[np.bool_]  # sky visible

    def at(self, time_s: float) -> tuple[float, float, float, float]:
        """(east, north, heading, speed) at ``time_s``, linearly interpolated."""
        i = int(np.clip(np.searchsorted(self.time_s, time_s) - 1, 0, len(self.time_s) - 2))
        f = (time_s - self.time_s[i]) / (self.time_s[i + 1] - self.time_s[i])
        f = min(max(f, 0.0), 1.0)

        def lerp(a: FloatArray) -> float:
            return float(a[i] + f * (a[i + 1] - a[i]))

        dh = math.remainder(self.heading_rad[i + 1] - self.heading_rad[i], math.tau)
        heading = float(self.heading_rad[i] + f * dh)
        return lerp(self.east_m), lerp(self.north_m), heading, lerp(self.speed_mps)


@dataclass(frozen=True)
class CanSamples:
    """One CAN message's worth of samples: timestamps and the three motion signals (SI)."""

    time_s: FloatArray
    wheel_speed_mps: FloatArray
    yaw_rate_rad_s: FloatArray
    accel_mps2: FloatArray

    def between(self, start_s: float, end_s: float) -> CanSamples:
        rows = (self.time_s >= start_s) & (self.time_s < end_s)
        return CanSamples(
            self.time_s[rows],
            self.wheel_speed_mps[rows],
            self.yaw_rate_rad_s[rows],
            self.accel_mps2[rows],
        )


@dataclass(frozen=True)
class Delivery:
    """What reaches the gateway at ``arrival_s``: a CAN batch or a GNSS fix."""

    arrival_s: float
    can: CanSamples | None = None
    fix: GnssFix | None = None


@dataclass(frozen=True)
class Drive:
    name: str
    truth: Truth
    can: CanSamples
    fixes: tuple[tuple[float, GnssFix], ...]  # (receive time, fix)

    @property
    def frame(self) -> LocalFrame:
        return LocalFrame.at(*ORIGIN)

    def deliveries(
        self,
        *,
        batch_s: float = 0.1,
        late_fraction: float = 0.0,
        max_late_s: float = 0.6,
        seed: int = 0,
    ) -> list[Delivery]:
        """CAN in batches of ``batch_s`` and fixes, in order of arrival; ``late_fraction`` of
        each arrives up to ``max_late_s`` later than it should (so out of order)."""
        rng = np.random.default_rng(seed)

        def delay() -> float:
            return float(rng.uniform(0, max_late_s)) if rng.random() < late_fraction else 0.0

        out: list[Delivery] = []
        end = float(self.can.time_s[-1]) + batch_s
        t = float(self.can.time_s[0])
        while t < end:
            batch = self.can.between(t, t + batch_s)
            if len(batch.time_s):
                out.append(Delivery(t + batch_s + 0.002 + delay(), can=batch))
            t += batch_s
        out.extend(Delivery(received + delay(), fix=fix) for received, fix in self.fixes)
        out.sort(key=lambda d: d.arrival_s)
        return out


def simulate(
    name: str,
    legs: Sequence[Leg],
    *,
    speed_mps: float,
    heading_deg: float = 60.0,
    sensors: SensorModel = SensorModel(),
    seed: int = 0,
) -> Drive:
    """Drive ``legs`` from ``speed_mps`` heading ``heading_deg``; sensors with ``seed``."""
    truth = _integrate(legs, speed_mps, math.radians(heading_deg))
    rng = np.random.default_rng(seed)
    return Drive(name, truth, _can(truth, sensors, rng), _fixes(truth, sensors, rng))


def _integrate(legs: Sequence[Leg], speed: float, heading: float) -> Truth:
    rows: list[tuple[float, ...]] = []
    t, east, north, yaw, accel = 0.0, 0.0, 0.0, 0.0, 0.0
    dt = TRUTH_STEP_S
    for leg in legs:
        for _ in range(round(leg.duration_s / dt)):
            rows.append((t, east, north, heading % math.tau, speed, yaw, accel, float(leg.gnss)))
            accel += float(np.clip(leg.accel_mps2 - accel, -MAX_JERK_MPS3 * dt, MAX_JERK_MPS3 * dt))
            yaw += float(
                np.clip(
                    leg.yaw_rate_rad_s - yaw, -MAX_YAW_ACCEL_RAD_S2 * dt, MAX_YAW_ACCEL_RAD_S2 * dt
                )
            )
            if speed <= 0 and accel < 0:
                accel = 0.0  # stopped: braking holds the car, it does not reverse
            new_speed = max(0.0, speed + accel * dt)
            mid_speed, mid_heading = (speed + new_speed) / 2, heading - yaw * dt / 2
            east += mid_speed * dt * math.sin(mid_heading)
            north += mid_speed * dt * math.cos(mid_heading)
            heading -= yaw * dt  # clockwise heading, anticlockwise yaw rate
            speed, t = new_speed, t + dt
    table = np.array(rows)
    return Truth(
        START_S + table[:, 0],
        table[:, 1],
        table[:, 2],
        table[:, 3],
        table[:, 4],
        table[:, 5],
        table[:, 6],
        table[:, 7] > 0.5,
    )


def _can(truth: Truth, sensors: SensorModel, rng: np.random.Generator) -> CanSamples:
    times = np.arange(truth.time_s[0], truth.time_s[-1], 1.0 / sensors.can_rate_hz)
    times = times + rng.normal(0.0, 0.0005, times.shape)  # kernel timestamps jitter a little
    times.sort()

    def sample(a: FloatArray) -> FloatArray:
        return np.interp(times, truth.time_s, a)

    n = times.shape
    speed = sample(truth.speed_mps)
    wheel = np.maximum(
        0.0, speed * sensors.wheel_scale + rng.normal(0.0, sensors.wheel_speed_sigma_mps, n)
    )
    wheel[speed == 0.0] = 0.0  # wheel pulses stop with the car
    yaw = (
        sample(truth.yaw_rate_rad_s)
        + sensors.yaw_rate_bias_rad_s
        + rng.normal(0.0, sensors.yaw_rate_sigma_rad_s, n)
    )
    accel = sample(truth.accel_mps2) + rng.normal(0.0, sensors.accel_sigma_mps2, n)
    return CanSamples(times, wheel, yaw, accel)


def _fixes(
    truth: Truth, sensors: SensorModel, rng: np.random.Generator
) -> tuple[tuple[float, GnssFix], ...]:
    frame = LocalFrame.at(*ORIGIN)
    period = 1.0 / sensors.gnss_rate_hz
    epochs = np.arange(math.ceil(truth.time_s[0] / period) * period, truth.time_s[-1], period)
    out: list[tuple[float, GnssFix]] = []
    sigma = sensors.gnss_sigma_m
    for epoch in epochs:
        i = int(np.searchsorted(truth.time_s, epoch))
        if i >= len(truth.time_s) or not truth.gnss[i]:
            continue
        east, north, heading, speed = truth.at(float(epoch))
        lat, lon, _ = frame.enu_to_geodetic(
            east + rng.normal(0.0, sigma), north + rng.normal(0.0, sigma), 0.0
        )
        measured_speed = abs(speed + rng.normal(0.0, sensors.gnss_speed_sigma_mps))
        cross = rng.normal(0.0, sensors.gnss_speed_sigma_mps)
        course = math.degrees(heading + math.atan2(cross, max(speed, 1e-3))) % 360.0
        gst = ErrorEstimate(1.0, sigma, sigma, 0.0, sigma, sigma, 2 * sigma)
        out.append(
            (
                float(epoch) + sensors.gnss_latency_s + float(rng.uniform(0.0, 0.02)),
                GnssFix(
                    time=datetime.fromtimestamp(round(float(epoch), 2), tz=UTC),
                    latitude_deg=float(lat),
                    longitude_deg=float(lon),
                    altitude_m=ORIGIN[2],
                    altitude_reference=AltitudeReference.ELLIPSOID,
                    speed_mps=measured_speed,
                    course_deg=course,
                    quality=sensors.gnss_quality,
                    satellites=14,
                    hdop=sensors.hdop,
                    talker="GN",
                    eph_m=math.hypot(sigma, sigma) if sensors.report_gst else None,
                    errors=gst if sensors.report_gst else None,
                ),
            )
        )
    return tuple(out)


# --- the drives the tests judge the estimator on ----------------------------------------------


def straight(seed: int = 0, sensors: SensorModel = SensorModel()) -> Drive:
    legs = [Leg(10.0), Leg(10.0, accel_mps2=1.0), Leg(30.0), Leg(10.0, accel_mps2=-1.0)]
    return simulate("straight", legs, speed_mps=12.0, sensors=sensors, seed=seed)


def curves(seed: int = 0, sensors: SensorModel = SensorModel()) -> Drive:
    legs = [
        Leg(8.0),
        Leg(15.0, yaw_rate_rad_s=0.12),
        Leg(6.0),
        Leg(12.0, yaw_rate_rad_s=-0.2, accel_mps2=-0.5),
        Leg(8.0, accel_mps2=0.8),
        Leg(15.0, yaw_rate_rad_s=0.08),
        Leg(6.0),
    ]
    return simulate("curves", legs, speed_mps=14.0, sensors=sensors, seed=seed)


def stop_and_go(seed: int = 0, sensors: SensorModel = SensorModel()) -> Drive:
    legs = [
        Leg(5.0),
        Leg(6.0, accel_mps2=-2.0),
        Leg(8.0, accel_mps2=-1.0),  # stopped at a light
        Leg(8.0, accel_mps2=2.0),
        Leg(5.0, yaw_rate_rad_s=0.3),  # a right-angle turn at town speed
        Leg(4.0, accel_mps2=-3.0),
        Leg(6.0, accel_mps2=-1.0),
        Leg(10.0, accel_mps2=1.5),
        Leg(8.0),
    ]
    return simulate("stop_and_go", legs, speed_mps=12.0, sensors=sensors, seed=seed)


def tunnel(
    seed: int = 0,
    sensors: SensorModel = SensorModel(),
    *,
    speed_mps: float = 15.0,
    outage_s: float = 30.0,
) -> Drive:
    """Open road with gentle curves (the filter learns scale and bias), then ``outage_s`` in a
    tunnel with a slight bend, then open road again."""
    legs = [
        Leg(20.0, yaw_rate_rad_s=0.05),
        Leg(15.0, yaw_rate_rad_s=-0.05),
        Leg(10.0),
        Leg(outage_s / 2, gnss=False),
        Leg(outage_s / 2, yaw_rate_rad_s=0.02, gnss=False),
        Leg(15.0),
    ]
    return simulate("tunnel", legs, speed_mps=speed_mps, sensors=sensors, seed=seed)


def tunnel_exit_s(drive: Drive) -> float:
    """When a drive's (first) GNSS outage ends."""
    dark = np.flatnonzero(~drive.truth.gnss)
    return float(drive.truth.time_s[dark[-1]]) + TRUTH_STEP_S


BY_NAME: dict[str, Callable[..., Drive]] = {
    "straight": straight,
    "curves": curves,
    "stop_and_go": stop_and_go,
    "tunnel": tunnel,
}
"""The drives by name; each takes ``seed`` and ``sensors``."""
