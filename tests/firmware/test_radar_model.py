"""The radar measurement model: its errors have the covariance the tracker assumes, and it
misses, clutters, splits, merges and hides objects as configured."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.stats import chi2

from edge.roadside.radar_noise import RADAR_NOISE, RadarNoise
from edge.tracking.track_set import FloatArray
from firmware_py.simulation.radar_model import (
    FIELDS_OF_VIEW,
    ClutterAndMisses,
    RadarModel,
    RadarReturns,
    to_enu,
)
from firmware_py.simulation.scenes import (
    DIMENSIONS,
    NORTH,
    WEST,
    RadarMount,
    Scene,
    TruthObject,
    crowd,
)

PERFECT = ClutterAndMisses(
    detection_probability=1.0, clutter_per_scan=0.0, split_probability=0.0, merge_distance_m=0.0
)
TINY = RadarNoise(1e-9, 1e-12, 1e-9, 1e-9)
MOUNT = RadarMount("r", 0.0, 0.0, 5.0, NORTH)


def still(
    object_id: int,
    east: float,
    north: float,
    object_class: str = "car",
    *,
    velocity: tuple[float, float] = (0.0, 0.0),
    duration_s: float = 100.0,
) -> TruthObject:
    """An object at (east, north) at t = 0 moving with constant ``velocity``."""
    times = np.array([0.0, duration_s])
    start = np.array([east, north])
    v = np.array(velocity)
    length, width, rcs = DIMENSIONS[object_class]
    return TruthObject(
        object_id,
        object_class,
        length,
        width,
        rcs,
        times,
        np.stack((start, start + v * duration_s)),
        np.stack((v, v)),
    )


def scene_of(*objects: TruthObject, mount: RadarMount = MOUNT) -> Scene:
    return Scene("test", 100.0, tuple(objects), (mount,))


def model(
    effects: ClutterAndMisses = PERFECT,
    noise: RadarNoise = TINY,
    mount: RadarMount = MOUNT,
    seed: int = 0,
) -> RadarModel:
    return RadarModel(mount, noise, effects, np.random.default_rng(seed))


def test_returns_are_in_the_sensor_frame_and_to_enu_turns_them_back() -> None:
    # Looking west from (10, 0): a car at the origin 3 m south is 10 m ahead, 3 m to the left;
    # moving north, it moves right (-y).
    mount = RadarMount("west-looking", 10.0, 0.0, 5.0, WEST)
    scene = scene_of(still(4, 0.0, -3.0, velocity=(0.0, 2.0)), mount=mount)
    returns = model(mount=mount).scan(scene, 0.0)
    assert returns.sensor_id == "west-looking"
    assert returns.truth_ids.tolist() == [4]
    assert (returns.x_m[0], returns.y_m[0]) == pytest.approx((10.0, 3.0), abs=1e-6)
    assert (returns.vx_mps[0], returns.vy_mps[0]) == pytest.approx((0.0, -2.0), abs=1e-6)
    pos, vel = to_enu(mount, returns)
    np.testing.assert_allclose(pos, [[0.0, -3.0]], atol=1e-6)
    np.testing.assert_allclose(vel, [[0.0, 2.0]], atol=1e-6)
    assert returns.object_class == ("car",)
    assert returns.length_m.tolist() == [DIMENSIONS["car"][0]]


def polar(rng_m: float, bearing_deg: float) -> tuple[float, float]:
    """East/north of a point ahead of MOUNT, bearing in degrees positive to the left."""
    b = math.radians(bearing_deg)
    return ahead(MOUNT, rng_m * math.cos(b), rng_m * math.sin(b))


@pytest.mark.parametrize(
    ("kind", "inside", "outside"),
    [
        (
            "ars408",
            [(60, 40), (60, -44), (100, 0), (240, 8), (69, 0)],
            [(80, 20), (100, 12), (260, 0), (65, 50), (10, 120), (10, 180)],
        ),
        (
            "delphi_esr",
            [(55, 40), (150, 9), (170, -5)],
            [(65, 30), (150, 12), (180, 0), (10, 180)],
        ),
    ],
)
def test_the_field_of_view_is_the_near_and_far_beams(
    kind: str, inside: list[tuple[float, float]], outside: list[tuple[float, float]]
) -> None:
    mount = dataclasses.replace(MOUNT, kind=kind)
    objects = [still(k, *polar(r, b), "pedestrian") for k, (r, b) in enumerate(inside + outside)]
    returns = model(mount=mount).scan(scene_of(*objects, mount=mount), 0.0)
    assert sorted(returns.truth_ids.tolist()) == list(range(len(inside)))
    assert set(FIELDS_OF_VIEW) == set(RADAR_NOISE)


def ahead(mount: RadarMount, x: float, y: float) -> tuple[float, float]:
    """East/north of the point ``x`` ahead of and ``y`` left of ``mount``."""
    s, c = math.sin(mount.yaw_rad), math.cos(mount.yaw_rad)
    return mount.east_m + x * s - y * c, mount.north_m + x * c + y * s


def grid_of_targets(mount: RadarMount = MOUNT) -> list[TruthObject]:
    """Pedestrians over both beams, near (where the cross-range floor holds) and far, 2+ m
    apart (nothing merges, nothing hides: all the same size)."""
    near, far = FIELDS_OF_VIEW[mount.kind]
    polar = [
        (r, b)
        for r in (3.0, 8.0, 15.0, 0.45 * near.range_m, 0.7 * near.range_m, 0.97 * near.range_m)
        for b in np.linspace(-0.9, 0.9, 9) * near.half_angle_rad
    ]
    polar += [
        (r, b)
        for r in (1.3 * near.range_m, 0.6 * far.range_m, 0.97 * far.range_m)
        for b in np.linspace(-0.9, 0.9, 5) * far.half_angle_rad
    ]
    return [
        still(k, *ahead(mount, r * math.cos(b), r * math.sin(b)), "pedestrian")
        for k, (r, b) in enumerate(polar)
    ]


@pytest.mark.parametrize("kind", sorted(RADAR_NOISE))
@pytest.mark.parametrize("yaw_deg", [0.0, 131.0])
def test_position_errors_have_the_covariance_radar_noise_predicts(
    kind: str, yaw_deg: float
) -> None:
    noise = RADAR_NOISE[kind]
    mount = RadarMount("r", 20.0, -7.0, 5.0, math.radians(yaw_deg), kind)
    targets = grid_of_targets(mount)
    scene = scene_of(*targets, mount=mount)
    radar = model(noise=noise, mount=mount, seed=11)
    truth = np.array([t.positions[0] for t in targets])
    s, c = math.sin(mount.yaw_rad), math.cos(mount.yaw_rad)
    scans = 150
    nees, white, vel_err = [], [], []
    for scan in range(scans):
        returns = radar.scan(scene, 0.1 * scan)
        pos, vel = to_enu(mount, returns)
        t = truth[returns.truth_ids]
        # The covariance at the true sensor-frame position.
        rel = t - (mount.east_m, mount.north_m)
        x, y = rel[:, 0] * s + rel[:, 1] * c, -rel[:, 0] * c + rel[:, 1] * s
        cov = noise.position_covariances(x, y, mount.yaw_rad)
        err = pos - t
        nees.append(np.einsum("mi,mij,mj->m", err, np.linalg.inv(cov), err))
        white.append(np.linalg.solve(np.linalg.cholesky(cov), err[:, :, None])[:, :, 0])
        vel_err.append(vel)
    values = np.concatenate(nees)
    n = values.size
    assert n == scans * len(targets)  # every target in view, every scan
    # The mean of n chi-square(2) values: 2 with standard deviation 2 / sqrt(n).
    assert abs(values.mean() - 2.0) < 5 * 2 / math.sqrt(n)
    inside = (values <= chi2.ppf(0.95, 2)).mean()
    assert abs(inside - 0.95) < 5 * math.sqrt(0.95 * 0.05 / n)
    # Near targets (cross-range floor) and far ones (angular error) each fit on their own.
    near = np.tile(np.hypot(*(truth - (mount.east_m, mount.north_m)).T) < 10.0, scans)
    for part in (values[near], values[~near]):
        assert abs(part.mean() - 2.0) < 5 * 2 / math.sqrt(part.size)
    # Whitened by the predicted covariance, the errors are uncorrelated with unit variance: the
    # shape and orientation of the covariance are right, not only its size.
    w = np.concatenate(white)
    sample = w.T @ w / n
    np.testing.assert_allclose(np.diag(sample), 1.0, atol=5 * math.sqrt(2 / n))
    assert abs(sample[0, 1]) < 5 / math.sqrt(n)
    v = np.concatenate(vel_err)
    for axis in range(2):
        assert v[:, axis].std() == pytest.approx(noise.velocity_std_mps, rel=0.05)
        assert abs(v[:, axis].mean()) < 5 * noise.velocity_std_mps / math.sqrt(n)


def test_misses_happen_at_one_minus_the_detection_probability() -> None:
    effects = dataclasses.replace(PERFECT, detection_probability=0.8)
    targets = grid_of_targets()
    radar = model(effects, seed=3)
    scene = scene_of(*targets)
    reported = sum(len(radar.scan(scene, 0.0)) for _ in range(50))
    trials = 50 * len(targets)
    missed = 1 - reported / trials
    assert abs(missed - 0.2) < 5 * math.sqrt(0.2 * 0.8 / trials)


def test_clutter_falls_uniformly_in_view_at_the_configured_rate() -> None:
    effects = dataclasses.replace(PERFECT, clutter_per_scan=3.0)
    radar = model(effects, seed=5)
    empty = scene_of()
    scans = [radar.scan(empty, 0.0) for _ in range(2000)]
    counts = np.array([len(s) for s in scans])
    assert abs(counts.mean() - 3.0) < 5 * math.sqrt(3.0 / counts.size)
    assert counts.var() == pytest.approx(3.0, rel=0.15)  # Poisson: variance = mean
    x = np.concatenate([s.x_m for s in scans])
    y = np.concatenate([s.y_m for s in scans])
    assert radar.in_field_of_view(x, y).all()
    assert all((s.truth_ids == -1).all() for s in scans)
    assert all(set(s.object_class) <= {"point"} for s in scans)
    # Uniform by area: the far beam's part beyond the near beam holds its share.
    near, far = FIELDS_OF_VIEW["ars408"]
    near_area = near.half_angle_rad * near.range_m**2
    far_only = far.half_angle_rad * (far.range_m**2 - near.range_m**2)
    share = far_only / (near_area + far_only)
    beyond = (np.hypot(x, y) > near.range_m).mean()
    assert abs(beyond - share) < 5 * math.sqrt(share * (1 - share) / x.size)


def test_a_long_vehicle_is_sometimes_reported_as_two_returns_along_its_length() -> None:
    truck = still(1, 0.0, 20.0, "truck", velocity=(8.0, 0.0))  # broadside, heading east
    walker = still(2, -10.0, 25.0, "pedestrian", velocity=(0.0, 1.0))
    scene = scene_of(truck, walker)
    always = model(dataclasses.replace(PERFECT, split_probability=1.0))
    returns = always.scan(scene, 0.0)
    assert sorted(returns.truth_ids.tolist()) == [1, 1, 2]  # a pedestrian never splits
    pos, _ = to_enu(MOUNT, returns)
    halves = pos[returns.truth_ids == 1]
    np.testing.assert_allclose(sorted(halves[:, 0]), [-3.0, 3.0], atol=1e-6)  # a quarter length
    np.testing.assert_allclose(halves[:, 1], 20.0, atol=1e-6)
    assert returns.length_m[returns.truth_ids == 1].tolist() == [6.0, 6.0]
    sometimes = model(dataclasses.replace(PERFECT, split_probability=0.3), seed=2)
    splits = sum(len(sometimes.scan(scene, 0.0)) - 2 for _ in range(1000))
    assert abs(splits / 1000 - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 1000)


def test_two_objects_closer_than_the_merge_distance_are_reported_as_one() -> None:
    a = still(1, -0.4, 20.0, "pedestrian", velocity=(1.0, 0.0))
    b = still(2, 0.4, 20.0, "car", velocity=(3.0, 0.0))
    c = still(3, 10.0, 30.0, "pedestrian")
    scene = scene_of(a, b, c)
    merging = model(dataclasses.replace(PERFECT, merge_distance_m=1.0, occlusion=False))
    returns = merging.scan(scene, 0.0)
    assert sorted(returns.truth_ids.tolist()) == [2, 3]  # named after the larger
    pos, vel = to_enu(MOUNT, returns)
    merged = returns.truth_ids == 2
    np.testing.assert_allclose(pos[merged], [[0.0, 20.0]], atol=1e-6)
    np.testing.assert_allclose(vel[merged], [[2.0, 0.0]], atol=1e-6)
    apart = model(dataclasses.replace(PERFECT, merge_distance_m=0.5, occlusion=False))
    assert sorted(apart.scan(scene, 0.0).truth_ids.tolist()) == [1, 2, 3]


def test_merging_pairs_each_object_at_most_once_closest_first() -> None:
    row = [still(k, 0.7 * k, 30.0, "pedestrian") for k in range(4)]
    radar = model(dataclasses.replace(PERFECT, merge_distance_m=1.0))
    assert len(radar.scan(scene_of(*row), 0.0)) == 2


def test_a_truck_hides_what_is_in_its_shadow() -> None:
    # MOUNT is 5 m up; over a 3.8 m truck 20 m away the sight line reaches a car's 1.5 m
    # roof 58 m out.
    car_behind = still(1, 0.0, 40.0, "car")
    truck = still(2, 0.0, 20.0, "truck", velocity=(0.001, 0.0))  # broadside
    hidden = model().scan(scene_of(car_behind, truck), 0.0)
    assert hidden.truth_ids.tolist() == [2]
    unhidden = model(dataclasses.replace(PERFECT, occlusion=False))
    assert sorted(unhidden.scan(scene_of(car_behind, truck), 0.0).truth_ids.tolist()) == [1, 2]
    # Beyond the shadow: a truck 10 m away hides a car only to 29 m.
    near_truck = still(3, 0.0, 10.0, "truck", velocity=(0.001, 0.0))
    assert sorted(model().scan(scene_of(car_behind, near_truck), 0.0).truth_ids.tolist()) == [
        1,
        3,
    ]
    # A higher radar sees over it: at 12 m the shadow of the 20 m truck ends at 32 m.
    high = dataclasses.replace(MOUNT, height_m=12.0)
    seen = model(mount=high).scan(scene_of(car_behind, truck, mount=high), 0.0)
    assert sorted(seen.truth_ids.tolist()) == [1, 2]


def test_nothing_hides_behind_a_lower_object_or_one_off_the_line_of_sight() -> None:
    car = still(1, 0.0, 40.0, "car")
    walker_behind = still(2, 0.0, 45.0, "pedestrian")
    car_in_front = still(3, 0.0, 20.0, "car", velocity=(0.001, 0.0))
    scene = scene_of(car, walker_behind, car_in_front)
    assert sorted(model().scan(scene, 0.0).truth_ids.tolist()) == [1, 2, 3]
    aside = still(4, 15.0, 20.0, "truck", velocity=(0.001, 0.0))
    assert sorted(model().scan(scene_of(car, aside), 0.0).truth_ids.tolist()) == [1, 4]
    beyond = still(5, 0.0, 60.0, "truck", velocity=(0.001, 0.0))
    assert sorted(model().scan(scene_of(car, beyond), 0.0).truth_ids.tolist()) == [1, 5]


def assert_same(a: RadarReturns, b: RadarReturns) -> None:
    for field in dataclasses.fields(RadarReturns):
        va, vb = getattr(a, field.name), getattr(b, field.name)
        if isinstance(va, np.ndarray):
            np.testing.assert_array_equal(va, vb)
        else:
            assert va == vb


def test_scans_are_deterministic_given_the_generator() -> None:
    scene = crowd(60, seed=2)
    effects = ClutterAndMisses(split_probability=0.2, clutter_per_scan=4.0)
    mount = scene.radars[0]
    noise = RADAR_NOISE["ars408"]
    first = [
        RadarModel(mount, noise, effects, np.random.default_rng(9)).scan(scene, t)
        for t in (0.0, 1.0)
    ]
    again = [
        RadarModel(mount, noise, effects, np.random.default_rng(9)).scan(scene, t)
        for t in (0.0, 1.0)
    ]
    for a, b in zip(first, again, strict=True):
        assert_same(a, b)
    other = RadarModel(mount, noise, effects, np.random.default_rng(10)).scan(scene, 0.0)
    assert not np.array_equal(other.x_m[:5], first[0].x_m[:5])


def test_every_array_has_one_entry_per_return_and_no_value_is_non_finite() -> None:
    scene = crowd(200, seed=4)
    radar = RadarModel(
        scene.radars[0],
        RADAR_NOISE["ars408"],
        ClutterAndMisses(split_probability=0.3, clutter_per_scan=5.0),
        np.random.default_rng(1),
    )
    for t in (0.0, 3.3, 9.99, -5.0, 50.0):
        returns = radar.scan(scene, t)
        m = len(returns)
        arrays: list[FloatArray] = [
            returns.x_m,
            returns.y_m,
            returns.vx_mps,
            returns.vy_mps,
            returns.length_m,
            returns.width_m,
            returns.rcs_dbsm,
        ]
        for values in arrays:
            assert values.shape == (m,)
            assert np.isfinite(values).all()
        assert returns.truth_ids.shape == (m,)
        assert len(returns.object_class) == m
        if not 0.0 <= t <= scene.duration_s:  # nothing there: clutter only
            assert (returns.truth_ids == -1).all()


def test_bad_settings_are_refused() -> None:
    for bad in (
        {"detection_probability": 1.5},
        {"split_probability": -0.1},
        {"clutter_per_scan": math.nan},
        {"merge_distance_m": -1.0},
    ):
        with pytest.raises(ValueError, match="radar effects"):
            ClutterAndMisses(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="field of view"):
        model(mount=dataclasses.replace(MOUNT, kind="lidar"))
    for t in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            model().scan(scene_of(), t)
