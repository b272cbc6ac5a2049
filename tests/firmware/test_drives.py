"""The simulated drives are what they claim: consistent truth, sensors with the stated errors,
GNSS with the stated noise and outages, deliveries in arrival order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_py.simulation import drives
from firmware_py.simulation.drives import START_S, SensorModel, tunnel_exit_s


@pytest.fixture(scope="module")
def tunnel() -> drives.Drive:
    return drives.tunnel(seed=1)


def test_the_truth_moves_as_its_speed_and_heading_say(tunnel: drives.Drive) -> None:
    truth = tunnel.truth
    step = np.hypot(np.diff(truth.east_m), np.diff(truth.north_m))
    mid_speed = (truth.speed_mps[:-1] + truth.speed_mps[1:]) / 2
    np.testing.assert_allclose(step, mid_speed * drives.TRUTH_STEP_S, rtol=1e-6, atol=1e-9)
    heading_change = np.remainder(np.diff(truth.heading_rad) + math.pi, math.tau) - math.pi
    # Each step turns at the yaw rate it ends with.
    expected = -truth.yaw_rate_rad_s[1:] * drives.TRUTH_STEP_S
    np.testing.assert_allclose(heading_change, expected, atol=1e-12)
    assert truth.speed_mps.min() == pytest.approx(15.0)  # the tunnel drive holds its speed


def test_can_samples_carry_the_stated_scale_bias_and_noise(tunnel: drives.Drive) -> None:
    sensors = SensorModel()
    can = tunnel.can
    assert np.mean(np.diff(can.time_s)) == pytest.approx(1 / sensors.can_rate_hz, rel=1e-3)
    speed = np.interp(can.time_s, tunnel.truth.time_s, tunnel.truth.speed_mps)
    yaw = np.interp(can.time_s, tunnel.truth.time_s, tunnel.truth.yaw_rate_rad_s)
    assert np.mean(can.wheel_speed_mps / speed) == pytest.approx(sensors.wheel_scale, abs=5e-4)
    yaw_error = can.yaw_rate_rad_s - yaw
    assert np.mean(yaw_error) == pytest.approx(sensors.yaw_rate_bias_rad_s, abs=3e-4)
    assert np.std(yaw_error) == pytest.approx(sensors.yaw_rate_sigma_rad_s, rel=0.1)


def test_gnss_has_the_stated_noise_and_none_in_the_tunnel(tunnel: drives.Drive) -> None:
    frame = tunnel.frame
    errors, epochs = [], []
    for received, fix in tunnel.fixes:
        assert fix.time is not None
        epoch = fix.time.timestamp()
        assert 0 < received - epoch < 0.2
        assert fix.latitude_deg is not None
        assert fix.longitude_deg is not None
        east, north, _ = frame.geodetic_to_enu(fix.latitude_deg, fix.longitude_deg, 0.0)
        true_east, true_north, _, _ = tunnel.truth.at(epoch)
        errors.append((float(east) - true_east, float(north) - true_north))
        epochs.append(epoch)
    spread = np.std(np.array(errors), axis=0)
    np.testing.assert_allclose(spread, SensorModel().gnss_sigma_m, rtol=0.15)
    exit_s = tunnel_exit_s(tunnel)
    times = np.array(epochs)
    assert not np.any((times > exit_s - 30.0) & (times < exit_s - 0.01))
    assert np.any(times > exit_s)
    assert exit_s - START_S == pytest.approx(45.0 + 30.0)


def test_deliveries_arrive_in_order_and_late_ones_out_of_sensing_order(
    tunnel: drives.Drive,
) -> None:
    on_time = tunnel.deliveries()
    late = tunnel.deliveries(late_fraction=0.3, seed=2)
    for batch in (on_time, late):
        arrivals = [d.arrival_s for d in batch]
        assert arrivals == sorted(arrivals)
        assert sum(len(d.can.time_s) for d in batch if d.can is not None) == len(tunnel.can.time_s)
        assert sum(d.fix is not None for d in batch) == len(tunnel.fixes)

    def sensed(batch: list[drives.Delivery]) -> list[float]:
        return [float(d.can.time_s[0]) for d in batch if d.can is not None]

    assert sensed(on_time) == sorted(sensed(on_time))
    assert sensed(late) != sorted(sensed(late))
