"""The truth scenes: smooth, self-consistent trajectories, turns as built, two radars that see
every object, and a truck that really hides the car."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.roadside.radar_noise import RADAR_NOISE
from edge.tracking.track_set import BoolArray, FloatArray
from firmware_py.simulation.radar import CYCLE_S
from firmware_py.simulation.radar_model import ClutterAndMisses, RadarModel
from firmware_py.simulation.scenes import (
    LEFT,
    NORTH,
    RIGHT,
    SAMPLE_S,
    SCENES,
    STOP_LINE_M,
    WEST,
    RadarMount,
    Scene,
    TruthObject,
    crowd,
    cruise,
    moving,
    path,
    stop_at,
    through,
)

PERFECT = ClutterAndMisses(
    detection_probability=1.0, clutter_per_scan=0.0, split_probability=0.0, merge_distance_m=0.0
)
UNHIDDEN = dataclasses.replace(PERFECT, occlusion=False)
VEHICLES = {"car", "truck", "motorcycle"}


def perfect_models(scene: Scene) -> list[RadarModel]:
    return [
        RadarModel(m, RADAR_NOISE[m.kind], PERFECT, np.random.default_rng(0)) for m in scene.radars
    ]


@pytest.fixture(scope="module")
def scenes() -> dict[str, Scene]:
    return {name: build() for name, build in SCENES.items()}


def test_the_named_scenes_exist(scenes: dict[str, Scene]) -> None:
    assert set(scenes) >= {
        "turning-cars",
        "crossing-pedestrians",
        "stopped-queue",
        "truck-occlusion",
        "intersection",
    }
    assert 25.0 <= scenes["intersection"].duration_s <= 35.0
    for name, scene in scenes.items():
        assert scene.name == name
        ids = [o.object_id for o in scene.objects]
        assert len(set(ids)) == len(ids), name
        kinds = {o.object_class for o in scene.objects}
        assert kinds <= {"car", "truck", "pedestrian", "bicycle", "motorcycle"}
    assert {o.object_class for o in scenes["intersection"].objects} >= {
        "car",
        "truck",
        "pedestrian",
    }


def central_difference(obj: TruthObject) -> FloatArray:
    dt = np.diff(obj.times_s)
    assert np.allclose(dt, SAMPLE_S)
    return (obj.positions[2:] - obj.positions[:-2]) / (2 * SAMPLE_S)


def test_velocity_is_the_derivative_of_position(scenes: dict[str, Scene]) -> None:
    for scene in [*scenes.values(), crowd(30, seed=3)]:
        for obj in scene.objects:
            derivative = central_difference(obj)
            # A central difference is off by about a * dt at a change of acceleration.
            error = np.abs(derivative - obj.velocities[1:-1]).max()
            assert error < 0.05, (scene.name, obj.object_id, error)
            # Smooth: no jumps in position or velocity between samples.
            assert np.abs(np.diff(obj.velocities, axis=0)).max() < 10.0 * SAMPLE_S


def test_state_at_interpolates_within_life_and_is_none_outside() -> None:
    obj = SCENES["turning-cars"]().objects[1]
    state = obj.state_at(obj.times_s[100])
    assert state is not None
    np.testing.assert_allclose(state[0], obj.positions[100])
    np.testing.assert_allclose(state[1], obj.velocities[100])
    mid = obj.state_at(float(obj.times_s[100] + SAMPLE_S / 2))
    assert mid is not None
    np.testing.assert_allclose(mid[0], (obj.positions[100] + obj.positions[101]) / 2)
    assert obj.state_at(obj.start_s - 0.001) is None
    assert obj.state_at(obj.end_s + 0.001) is None
    assert obj.state_at(math.nan) is None
    assert obj.state_at(obj.end_s) is not None


def test_truth_at_agrees_with_each_object(scenes: dict[str, Scene]) -> None:
    rng = np.random.default_rng(0)
    for scene in scenes.values():
        for t in rng.uniform(-1.0, scene.duration_s + 1.0, 25):
            ids, pos, vel = scene.truth_at(float(t))
            expected = {o.object_id: o.state_at(float(t)) for o in scene.objects}
            present = {i: s for i, s in expected.items() if s is not None}
            assert sorted(ids.tolist()) == sorted(present)
            for i, p, v in zip(ids, pos, vel, strict=True):
                np.testing.assert_allclose(p, present[int(i)][0], atol=1e-9)
                np.testing.assert_allclose(v, present[int(i)][1], atol=1e-9)
    empty = scenes["intersection"].truth_at(math.inf)
    assert empty[0].size == 0
    assert empty[1].shape == (0, 2)


def test_a_path_turns_on_the_circle_it_was_built_with() -> None:
    radius = 8.0
    route = path((0.0, 0.0), NORTH, [("straight", 10.0), ("turn", radius, LEFT), ("straight", 5.0)])
    arc = np.linspace(10.0, 10.0 + radius * math.pi / 2, 50)
    pos, _ = route.poses(arc)
    np.testing.assert_allclose(np.hypot(*(pos - (-radius, 10.0)).T), radius, atol=1e-9)
    end, end_heading = route.poses(np.array([route.length_m]))
    np.testing.assert_allclose(end[0], (-radius - 5.0, 10.0 + radius), atol=1e-9)
    assert end_heading[0] == pytest.approx(WEST)
    # Turning right from north the centre lies east.
    right = path((0.0, 0.0), NORTH, [("turn", 5.0, RIGHT)])
    pos, _ = right.poses(np.linspace(0, 5.0 * math.pi / 2, 20))
    np.testing.assert_allclose(np.hypot(*(pos - (5.0, 0.0)).T), 5.0, atol=1e-9)


@pytest.mark.parametrize(
    ("arm", "move", "radius"), [("north", "left", 12.0), ("east", "left", 12.0)]
)
def test_a_sampled_turn_has_the_built_radius(arm: str, move: str, radius: float) -> None:
    # Curvature |v x a| / |v|^3 from finite differences of the sampled positions alone.
    obj = moving(1, "car", through(arm, move), ((0.0, 6.0),), end_s=20.0)
    v = central_difference(obj)
    a = (obj.positions[2:] - 2 * obj.positions[1:-1] + obj.positions[:-2]) / SAMPLE_S**2
    curvature = np.abs(v[:, 0] * a[:, 1] - v[:, 1] * a[:, 0]) / np.hypot(*v.T) ** 3
    turning = curvature > 0.5 / radius
    assert turning.sum() * SAMPLE_S * 6.0 == pytest.approx(radius * math.pi / 2, rel=0.02)
    assert np.median(1 / curvature[turning]) == pytest.approx(radius, rel=0.01)


def test_a_car_stops_where_asked_and_pulls_away_on_time() -> None:
    route = path((0.0, 0.0), NORTH, [("straight", 100.0)])
    obj = moving(1, "car", route, stop_at(10.0, 30.0, go_at_s=9.0, go_speed_mps=8.0), end_s=15.0)
    speed = np.hypot(*obj.velocities.T)
    stopped = obj.times_s[speed < 1e-9]
    assert stopped[0] == pytest.approx(5.0, abs=0.02)  # 1 s cruise (10 m), 4 s braking (20 m)
    assert stopped[-1] == pytest.approx(9.0, abs=0.02)
    at_rest = obj.positions[speed < 1e-9]
    np.testing.assert_allclose(at_rest, [[0.0, 30.0]] * len(at_rest), atol=0.01)
    assert speed[-1] == pytest.approx(8.0)
    with pytest.raises(ValueError, match="cannot stop"):
        stop_at(20.0, 10.0)


def test_queued_cars_stop_behind_the_line_in_order_and_go_again(scenes: dict[str, Scene]) -> None:
    scene = scenes["stopped-queue"]
    northbound = [o for o in scene.objects if o.velocities[0, 1] > 0]
    assert len(northbound) >= 3
    stops, restarts = [], []
    for obj in northbound:
        speed = np.hypot(*obj.velocities.T)
        rest = np.flatnonzero(speed < 1e-9)
        assert rest.size * SAMPLE_S > 2.0, obj.object_id  # waits a while
        stops.append(obj.positions[rest[0], 1])
        restarts.append(obj.times_s[rest[-1]])
        assert speed[-1] > 5.0  # and drives on
    assert max(stops) < -STOP_LINE_M  # behind the stop line
    assert np.all(np.diff(stops) < -5.0)  # one behind the other
    assert np.all(np.diff(restarts) > 0.5)  # starting one after the other


def test_every_scene_has_two_radars_on_different_poles_with_overlapping_views(
    scenes: dict[str, Scene],
) -> None:
    east, north = np.meshgrid(np.arange(-60, 60, 1.0), np.arange(-60, 60, 1.0))
    grid = np.stack((east.ravel(), north.ravel()), axis=1)
    for scene in scenes.values():
        assert len(scene.radars) == 2
        a, b = scene.radars
        assert a.sensor_id != b.sensor_id
        assert math.hypot(a.east_m - b.east_m, a.north_m - b.north_m) > 10.0
        assert all(4.0 <= r.height_m <= 6.0 for r in scene.radars)
        assert a.height_m != b.height_m
        assert abs(math.remainder(a.yaw_rad - b.yaw_rad, math.tau)) > math.radians(90)
        seen = [field_of_view(r, grid) for r in scene.radars]
        assert (seen[0] & seen[1]).sum() > 300  # m² seen by both


def field_of_view(mount: RadarMount, grid: FloatArray) -> BoolArray:
    model = RadarModel(mount, RADAR_NOISE[mount.kind], PERFECT, np.random.default_rng(0))
    s, c = math.sin(mount.yaw_rad), math.cos(mount.yaw_rad)
    e, n = grid[:, 0] - mount.east_m, grid[:, 1] - mount.north_m
    return model.in_field_of_view(e * s + n * c, -e * c + n * s)


def seen_fractions(scene: Scene, effects: ClutterAndMisses) -> dict[int, float]:
    """For each object, the fraction of the scans during its life where some radar reports it."""
    models = [
        RadarModel(m, RADAR_NOISE[m.kind], effects, np.random.default_rng(0)) for m in scene.radars
    ]
    present: dict[int, int] = {}
    seen: dict[int, int] = {}
    for t in np.arange(0.0, scene.duration_s, CYCLE_S):
        reported = set().union(*(m.scan(scene, float(t)).truth_ids.tolist() for m in models))
        for i in scene.truth_at(float(t))[0].tolist():
            present[i] = present.get(i, 0) + 1
            seen[i] = seen.get(i, 0) + (i in reported)
    return {i: seen[i] / present[i] for i in present}


def test_each_object_is_seen_by_some_radar_for_most_of_its_life(scenes: dict[str, Scene]) -> None:
    for scene in scenes.values():
        unhidden = seen_fractions(scene, UNHIDDEN)
        assert min(unhidden.values()) > 0.95, (scene.name, unhidden)
        # Objects do hide one another in the full intersection, but never for most of a life.
        with_occlusion = seen_fractions(scene, PERFECT)
        assert min(with_occlusion.values()) > 0.6, (scene.name, with_occlusion)


def test_road_users_keep_apart(scenes: dict[str, Scene]) -> None:
    for scene in scenes.values():
        classes = {o.object_id: o.object_class for o in scene.objects}
        for t in np.arange(0.0, scene.duration_s, 0.05):
            ids, pos, _ = scene.truth_at(float(t))
            for a, b in itertools.combinations(range(ids.size), 2):
                kinds = {classes[int(ids[a])], classes[int(ids[b])]}
                gap = math.dist(pos[a], pos[b])
                if kinds <= VEHICLES:
                    assert gap > 3.0, (scene.name, t, ids[a], ids[b])
                elif kinds & VEHICLES:
                    assert gap > 2.5, (scene.name, t, ids[a], ids[b])


def test_the_truck_hides_the_waiting_car_from_one_radar_for_over_a_second(
    scenes: dict[str, Scene],
) -> None:
    scene = scenes["truck-occlusion"]
    car = next(o for o in scene.objects if o.object_class == "car")
    models = perfect_models(scene)
    times = np.arange(0.0, scene.duration_s, CYCLE_S)
    reported = np.array(
        [[car.object_id in m.scan(scene, float(t)).truth_ids for m in models] for t in times]
    )
    unhidden = RadarModel(
        scene.radars[1], RADAR_NOISE["ars408"], UNHIDDEN, np.random.default_rng(0)
    )
    in_view = np.array([car.object_id in unhidden.scan(scene, float(t)).truth_ids for t in times])
    hidden = in_view & ~reported[:, 1]
    longest = max((len(list(run)) for value, run in itertools.groupby(hidden) if value), default=0)
    assert longest * CYCLE_S >= 1.0
    assert reported[:, 0].all()  # the other radar sees it all along


@pytest.mark.parametrize(("n", "radars"), [(20, 1), (200, 1), (200, 2), (1000, 4)])
def test_a_crowd_is_covered_and_reproducible(n: int, radars: int) -> None:
    scene = crowd(n, seed=5, radars=radars)
    assert len(scene.objects) == n
    assert len(scene.radars) == radars
    again = crowd(n, seed=5, radars=radars)
    for a, b in zip(scene.objects, again.objects, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
    other = crowd(n, seed=6, radars=radars)
    assert not np.array_equal(scene.objects[0].positions, other.objects[0].positions)
    models = perfect_models(scene)
    seen_count = np.zeros(n)
    times = np.arange(0.0, scene.duration_s, 0.5)
    for t in times:
        ids, pos, _ = scene.truth_at(float(t))
        assert ids.size == n
        seen = np.zeros(n, dtype=bool)
        for mount, model in zip(scene.radars, models, strict=True):
            s, c = math.sin(mount.yaw_rad), math.cos(mount.yaw_rad)
            e, nn = pos[:, 0] - mount.east_m, pos[:, 1] - mount.north_m
            seen |= model.in_field_of_view(e * s + nn * c, -e * c + nn * s)
        seen_count += seen
    assert (seen_count / times.size).min() >= 0.9


def test_crowd_targets_stay_in_their_area_and_bad_requests_are_refused() -> None:
    scene = crowd(300, seed=1, area_m=30.0, radars=2)
    for obj in scene.objects:
        assert np.abs(obj.positions).max() <= 15.0 + 1e-9
    assert crowd(0).objects == ()
    with pytest.raises(ValueError, match="bad crowd"):
        crowd(-1)
    with pytest.raises(ValueError, match="radar"):
        crowd(3, radars=0)


segments = st.lists(
    st.one_of(
        st.tuples(st.just("straight"), st.floats(0.5, 30.0)),
        st.tuples(st.just("turn"), st.floats(2.0, 30.0), st.floats(-math.pi, math.pi)),
    ),
    min_size=1,
    max_size=4,
)


@given(segments=segments, heading=st.floats(0.0, math.tau))
def test_any_path_is_continuous_and_moves_along_its_heading(
    segments: list[tuple[str, float] | tuple[str, float, float]], heading: float
) -> None:
    route = path((3.0, -4.0), heading, [("straight", 0.5), *segments])
    step = 0.001
    arc = np.linspace(0.0, route.length_m - step, 400)
    pos, headings = route.poses(arc)
    ahead, _ = route.poses(arc + step)
    _, mid_heading = route.poses(arc + step / 2)
    np.testing.assert_allclose(pos[0], (3.0, -4.0), atol=1e-9)
    chords = ahead - pos
    # Each short chord is the step long and points along the heading halfway (a chord across
    # a joint bends by up to step / (2 radius), radii 2 m or more).
    np.testing.assert_allclose(np.hypot(*chords.T), step, rtol=1e-4)
    direction = np.stack((np.sin(mid_heading), np.cos(mid_heading)), axis=1)
    np.testing.assert_allclose(chords / step, direction, atol=1e-3)
    assert np.all((headings >= 0.0) & (headings < math.tau))


def test_bad_builder_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="segment"):
        path((0.0, 0.0), NORTH, [])
    for bad in (("straight", -1.0), ("turn", 0.0, LEFT), ("turn", 5.0), ("spiral", 3.0)):
        with pytest.raises(ValueError, match="segment"):
            path((0.0, 0.0), NORTH, [bad])
    with pytest.raises(ValueError, match="positive"):
        stop_at(0.0, 10.0)
    with pytest.raises(ValueError, match="before the stop"):
        stop_at(10.0, 30.0, go_at_s=2.0)
    route = path((0.0, 0.0), NORTH, [("straight", 10.0)])
    with pytest.raises(ValueError, match="class"):
        moving(1, "tram", route, cruise(1.0), end_s=5.0)
    with pytest.raises(ValueError, match="knots"):
        moving(1, "car", route, ((2.0, 1.0), (1.0, 1.0)), end_s=5.0)
    with pytest.raises(ValueError, match="lane"):
        through("up", "left")
    with pytest.raises(ValueError, match="move"):
        through("north", "u-turn")
