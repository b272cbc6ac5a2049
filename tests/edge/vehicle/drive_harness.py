"""Runs the state estimator over a simulated drive and measures it against the truth."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from edge.vehicle.motion_model import FilterSettings
from edge.vehicle.state_estimator import VehicleDimensions, VehicleStateEstimator
from firmware_py.simulation.drives import CanSamples, Drive
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.vss import SignalMapping, VssMapping

MAPPING = VssMapping(
    Path("drive"),
    (
        SignalMapping("Vehicle.Speed", "VEH", "SPEED", unit="m/s"),
        SignalMapping("Vehicle.AngularVelocity.Yaw", "VEH", "YAW", unit="rad/s"),
        SignalMapping("Vehicle.Acceleration.Longitudinal", "VEH", "AX", unit="m/s^2"),
    ),
)
PUBLISH_PERIOD_S = 0.1
COVERAGE_K = math.sqrt(stats.chi2.ppf(0.95, 2))
"""2.4477: |error| <= k x major-axis sigma holds at least 95 % of the time for a consistent
2-D Gaussian, since |e|^2 / sigma_major^2 <= e' P^-1 e ~ chi-square(2)."""


@dataclass
class Columns:
    timestamp: Any
    signals: Mapping[str, Any]


def decoded(samples: CanSamples) -> dict[str, Columns]:
    return {
        "VEH": Columns(
            samples.time_s,
            {
                "SPEED": samples.wheel_speed_mps,
                "YAW": samples.yaw_rate_rad_s,
                "AX": samples.accel_mps2,
            },
        )
    }


@dataclass
class Published:
    """What the estimator published at each tick, with the truth at its capture time."""

    capture_s: list[float] = field(default_factory=list)
    error_en: list[tuple[float, float]] = field(default_factory=list)
    covariance: list[Any] = field(default_factory=list)
    accuracy_m: list[float] = field(default_factory=list)
    fix_quality: list[int] = field(default_factory=list)
    speed_error: list[float] = field(default_factory=list)
    speed_accuracy: list[float] = field(default_factory=list)
    heading_error: list[float] = field(default_factory=list)
    heading_accuracy: list[float] = field(default_factory=list)
    states: list[pb.VehicleState] = field(default_factory=list)

    def errors_m(self) -> np.ndarray:
        errors: np.ndarray = np.hypot(*np.array(self.error_en).T)
        return errors

    def rmse_m(self) -> float:
        return float(np.sqrt(np.mean(self.errors_m() ** 2)))

    def coverage(self) -> float:
        """Fraction of ticks with |error| <= ``COVERAGE_K`` x the published accuracy."""
        return float(np.mean(self.errors_m() <= COVERAGE_K * np.array(self.accuracy_m)))

    def nees(self) -> np.ndarray:
        """Each tick's position NEES, e' P^-1 e (chi-square with 2 dof when consistent)."""
        pairs = zip(np.array(self.error_en), self.covariance, strict=True)
        return np.array([float(e @ np.linalg.solve(p, e)) for e, p in pairs])

    def error_at(self, time_s: float) -> tuple[float, float]:
        """(|error|, published accuracy) at the last tick at or before ``time_s``."""
        i = int(np.searchsorted(np.array(self.capture_s), time_s, side="right")) - 1
        return float(self.errors_m()[i]), self.accuracy_m[i]


def run(
    drive: Drive,
    *,
    settings: FilterSettings | None = None,
    late_fraction: float = 0.0,
    seed: int = 0,
) -> tuple[VehicleStateEstimator, Published]:
    """Feed the drive's deliveries in arrival order, publish every ``PUBLISH_PERIOD_S``."""
    estimator = VehicleStateEstimator(MAPPING, VehicleDimensions(), settings)
    out = Published()
    frame = drive.frame
    next_tick = None
    for delivery in drive.deliveries(late_fraction=late_fraction, seed=seed):
        if delivery.can is not None:
            estimator.update_can(decoded(delivery.can))
        if delivery.fix is not None:
            estimator.update_gnss(delivery.fix, delivery.arrival_s)
        if next_tick is None:
            next_tick = delivery.arrival_s
        if delivery.arrival_s < next_tick:
            continue
        next_tick += PUBLISH_PERIOD_S
        state = estimator.state(delivery.arrival_s)
        motion = estimator.filter_state
        if not state.HasField("position") or motion is None:
            continue
        capture = estimator.capture_time_s
        assert capture is not None
        east, north, heading, speed = drive.truth.at(capture)
        pos = state.position
        e, n, _ = frame.geodetic_to_enu(pos.latitude_deg, pos.longitude_deg, pos.altitude_m)
        out.states.append(state)
        out.capture_s.append(capture)
        out.error_en.append((float(e) - east, float(n) - north))
        out.covariance.append(motion.covariance[:2, :2].copy())
        out.accuracy_m.append(pos.horizontal_accuracy_m)
        out.fix_quality.append(pos.fix_quality)
        out.speed_error.append(state.speed_mps - speed)
        out.speed_accuracy.append(state.speed_accuracy_mps)
        out.heading_error.append(math.remainder(state.heading_rad - heading, math.tau))
        out.heading_accuracy.append(state.heading_accuracy_rad)
    return estimator, out
