"""Scenario files for the perception bench: ``[world] scene``, ARS408 emulators mounted on the
scene's radars (``mount``, ``model``, ``seed``) and the ``fused_tracks`` expectation, their
defaults, every mistake naming its key, and the shipped scenarios' box configs agreeing with
the scenes' mounts."""

from __future__ import annotations

import math
import re
import string
import tomllib
from pathlib import Path

import pytest

from edge.geo import GeoPoint
from edge.geodesy import LocalFrame
from firmware_py.config.loader import parse_box_config
from firmware_py.config.reader import Table
from firmware_py.simulation.scenes import turning_cars
from firmware_py.simulation.world import INTERSECTION
from hil.commands import SCENARIO_DIR
from hil.errors import ScenarioError
from hil.scenario_engine import Ars408Spec, ExpectFusedTracks, Scenario, load_scenario

HEAD = """
[scenario]
duration_s = 10
box = "box.toml"
"""
SCENE = '\n[world]\nscene = "turning-cars"\n'
RADAR = '\n[[emulator]]\nkind = "ars408"\nname = "ne"\nchannel = "vcan1"\nsensor_id = 0\n'
MOUNTED = RADAR + 'mount = "radar-ne"\n'
FUSED = '\n[[expect]]\nkind = "fused_tracks"\n'


def load(tmp_path: Path, text: str) -> Scenario:
    (tmp_path / "box.toml").write_text("[device]\n")
    path = tmp_path / "perception.toml"
    path.write_text(HEAD + text)
    return load_scenario(path)


def test_a_scene_its_mounted_radars_and_fused_tracks_load_with_their_defaults(
    tmp_path: Path,
) -> None:
    scenario = load(
        tmp_path,
        SCENE
        + MOUNTED
        + RADAR.replace('"ne"', '"sw"').replace("= 0", "= 1")
        + 'mount = "radar-sw"\nmodel = "realistic"\nseed = 7\ncycle_s = 0.05\n'
        + FUSED
        + FUSED
        + "after_s = 2\nuntil_s = 12\nposition_tolerance_m = 1.5\nmin_coverage = 0.8\n"
        + "max_id_switches = 3\nmax_gospa = 2.5\nmax_false_mean = 0.5\n",
    )
    scene = scenario.truth.scene
    assert scene is not None
    assert scene.name == "turning-cars"
    assert scenario.truth.actors == {}
    assert scenario.truth.origin == INTERSECTION
    frame = LocalFrame.of(INTERSECTION)
    ne, sw = scenario.emulators
    for spec, mount, model, seed, cycle in (
        (ne, scene.radars[0], "ideal", 0, 0.072),
        (sw, scene.radars[1], "realistic", 7, 0.05),
    ):
        assert isinstance(spec, Ars408Spec)
        assert (spec.mount, spec.model, spec.seed, spec.cycle_s) == (
            mount.sensor_id,
            model,
            seed,
            cycle,
        )
        # The pose is the mount's, about the world's origin.
        east, north, up = frame.geodetic_to_enu(
            spec.position.latitude_deg, spec.position.longitude_deg, spec.position.altitude_m
        )
        assert math.hypot(east - mount.east_m, north - mount.north_m) < 1e-6
        assert up == pytest.approx(mount.height_m, abs=1e-6)
        assert spec.heading_deg == pytest.approx(math.degrees(mount.yaw_rad))
    default, custom = scenario.expectations
    assert default == ExpectFusedTracks(until_s=10.0)
    assert custom == ExpectFusedTracks(
        after_s=2.0,
        until_s=12.0,
        position_tolerance_m=1.5,
        min_coverage=0.8,
        max_id_switches=3,
        max_gospa=2.5,
        max_false_mean=0.5,
    )


def test_a_scene_about_another_origin_moves_the_radars_with_it(tmp_path: Path) -> None:
    origin = GeoPoint(48.1, 11.5, 520.0)
    scenario = load(
        tmp_path,
        SCENE.replace(
            "\nscene",
            "\norigin = { latitude_deg = 48.1, longitude_deg = 11.5, altitude_m = 520 }\nscene",
        )
        + MOUNTED,
    )
    (spec,) = scenario.emulators
    assert isinstance(spec, Ars408Spec)
    mount = turning_cars().radars[0]
    east, north, _ = LocalFrame.of(origin).geodetic_to_enu(
        spec.position.latitude_deg, spec.position.longitude_deg, spec.position.altitude_m
    )
    assert (float(east), float(north)) == pytest.approx((mount.east_m, mount.north_m), abs=1e-6)


def test_radars_with_their_own_pose_still_load_in_a_world_of_actors(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        '\n[[world.actor]]\nname = "car"\nstart_east_m = 0\nstart_north_m = 30\n'
        + RADAR
        + "latitude_deg = 34.2235\nlongitude_deg = 108.8905\nheading_deg = 0\n",
    )
    (spec,) = scenario.emulators
    assert isinstance(spec, Ars408Spec)
    assert (spec.mount, spec.model, spec.seed) == (None, "ideal", 0)
    assert scenario.truth.scene is None


ACTOR = '\n[[world.actor]]\nname = "car"\nstart_east_m = 0\nstart_north_m = 30\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('\n[world]\nscene = "roundabout"\n', "world.scene"),
        ("\n[world]\nscene = 3\n", "world.scene"),
        (SCENE + ACTOR, "world.actor"),
        (SCENE + RADAR, "emulator[0].mount"),
        (SCENE + RADAR + 'mount = "radar-nw"\n', "emulator[0].mount"),
        (SCENE + MOUNTED + "heading_deg = 90\n", "emulator[0].heading_deg"),
        (SCENE + MOUNTED + "latitude_deg = 34.2\n", "emulator[0].latitude_deg"),
        (SCENE + MOUNTED + 'model = "perfect"\n', "emulator[0].model"),
        (SCENE + MOUNTED + "seed = -1\n", "emulator[0].seed"),
        (SCENE + MOUNTED + 'seed = "1"\n', "emulator[0].seed"),
        (ACTOR + RADAR + 'mount = "radar-ne"\n', "emulator[0].mount"),
        (ACTOR + FUSED, "expect[0].kind"),
        (SCENE + FUSED + "min_coverage = 1.5\n", "expect[0].min_coverage"),
        (SCENE + FUSED + "position_tolerance_m = 0\n", "expect[0].position_tolerance_m"),
        (SCENE + FUSED + "max_id_switches = -1\n", "expect[0].max_id_switches"),
        (SCENE + FUSED + "max_gospa = -0.5\n", "expect[0].max_gospa"),
        (SCENE + FUSED + "max_false_mean = nan\n", "expect[0].max_false_mean"),
        (SCENE + FUSED + "until_s = 0.5\nafter_s = 1\n", "expect[0].until_s"),
        (SCENE + FUSED + "sensor = 'fused'\n", "expect[0].sensor"),
    ],
)
def test_every_mistake_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(key)):
        load(tmp_path, text)


def test_a_scenario_may_not_outlast_its_scene(tmp_path: Path) -> None:
    (tmp_path / "box.toml").write_text("[device]\n")
    path = tmp_path / "long.toml"
    path.write_text(HEAD.replace("duration_s = 10", "duration_s = 18.5") + SCENE)
    with pytest.raises(ScenarioError, match=r"world\.scene.*turning-cars lasts 18 s"):
        load_scenario(path)
    path.write_text(HEAD.replace("duration_s = 10", "duration_s = 18") + SCENE)
    assert load_scenario(path).duration_s == 18.0


FUSED_SCENARIOS = sorted(SCENARIO_DIR.glob("roadside-fused-*.toml"))


def test_three_fused_scenarios_ship() -> None:
    assert [p.stem for p in FUSED_SCENARIOS] == [
        "roadside-fused-occlusion",
        "roadside-fused-pedestrians",
        "roadside-fused-turning",
    ]


@pytest.mark.parametrize("path", FUSED_SCENARIOS, ids=lambda p: p.stem)
def test_the_box_config_places_each_radar_at_its_emulators_mount(path: Path) -> None:
    scenario = load_scenario(path)
    assert any(isinstance(e, ExpectFusedTracks) for e in scenario.expectations)
    text = string.Template(scenario.box_template.read_text()).substitute(
        mqtt_host="127.0.0.1", mqtt_port="1883"
    )
    box = parse_box_config(
        Table.document(tomllib.loads(text), str(scenario.box_template)),
        scenario.box_template.parent,
    )
    buses = {bus.name: bus.channel for bus in box.can}
    radars = {(buses[r.bus], r.sensor_id): r for r in box.radars}
    frame = LocalFrame.of(scenario.truth.origin)
    emulators = [e for e in scenario.emulators if isinstance(e, Ars408Spec)]
    assert len(emulators) == len(radars) == 2
    for spec in emulators:
        assert spec.mount is not None
        mount = scenario.truth.mount(spec.mount)
        radar = radars[spec.channel, spec.sensor_id]
        assert radar.sensor == mount.sensor_id
        east, north, _ = frame.geodetic_to_enu(
            radar.position.latitude_deg, radar.position.longitude_deg, radar.position.altitude_m
        )
        assert math.hypot(east - mount.east_m, north - mount.north_m) < 0.01
        assert radar.heading_deg == pytest.approx(math.degrees(mount.yaw_rad), abs=1e-6)
        assert radar.height_m == pytest.approx(mount.height_m)
    # The fused list's reference point is the world's origin: its x_m/y_m are scene metres.
    assert box.perception.reference == scenario.truth.origin
    assert not box.perception.raw_object_lists


def test_the_scene_example_in_the_readme_loads(tmp_path: Path) -> None:
    readme = SCENARIO_DIR / "README.md"
    example = readme.read_text().split("## Example: a scene")[1].split("```toml\n")[1]
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "roadside-fused.toml").write_text("[device]\n")
    path = tmp_path / "example.toml"
    path.write_text(example.split("```")[0])
    scenario = load_scenario(path)
    assert scenario.truth.scene is not None
    assert scenario.truth.scene.name == "truck-occlusion"
    assert [e.name for e in scenario.emulators] == ["radar_ne", "radar_sw"]
    (expectation,) = scenario.expectations
    assert expectation == ExpectFusedTracks(
        after_s=1.0, until_s=16.0, min_coverage=0.95, max_id_switches=2, max_gospa=0.8
    )
