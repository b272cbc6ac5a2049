"""Scenario files: a complete file loads into the model; every mistake is a ScenarioError that
names the file and the key; no input at all makes the loader raise anything else."""

from __future__ import annotations

import copy
import math
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.geo import GeoPoint
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from firmware_py.simulation.world import INTERSECTION
from hil.commands import SCENARIO_DIR
from hil.errors import HilError, ScenarioError
from hil.scenario_engine import (
    Ars408Spec,
    CanReplaySpec,
    ExpectCanReceived,
    ExpectCounter,
    ExpectEvent,
    ExpectGnssReceived,
    ExpectMessages,
    ExpectNoLoss,
    ExpectObjectsNear,
    ExpectRecovery,
    ExpectSpat,
    ExpectTracks,
    ExpectVehicleState,
    FaultSpec,
    GnssSpec,
    Scenario,
    SignalControllerSpec,
    load_scenario,
    parse_scenario,
    scenario_files,
)

VALID = """
[scenario]
name = "everything"
description = "every emulator, fault and expectation kind"
duration_s = 20.0
box = "configs/box.toml"
settle_s = 2.0
vcan = ["vcan0", "vcan1", "vcan9"]

[world]
origin = { latitude_deg = 34.2235, longitude_deg = 108.8905, altitude_m = 410.0 }

[[world.actor]]
name = "ego"
kind = "car"
start_east_m = 1.75
start_north_m = -160.0
heading_deg = 0.0
speed_mps = 13.3
length_m = 4.6
width_m = 1.8
rcs_dbsm = 10.0
phases = [
  { duration_s = 4.0 },
  { duration_s = 1.2, accel_mps2 = -6.0, brake = true },
  { duration_s = 2.0, turn_signal = "left", hazard = true },
]

[[world.actor]]
name = "bike"
kind = "bicycle"
start_east_m = -40.0
start_north_m = -30.0
heading_deg = 90.0
speed_mps = 4.5

[[emulator]]
kind = "can_replay"
name = "powertrain"
channel = "vcan0"
log = "data/drive.blf"
speed = 2.0
start_s = 0.5
loop = true

[[emulator]]
kind = "ars408"
name = "radar0"
channel = "vcan1"
sensor_id = 3
latitude_deg = 34.2237
longitude_deg = 108.8906
altitude_m = 415.0
heading_deg = 180.0
cycle_s = 0.08

[[emulator]]
kind = "gnss"
name = "gnss0"
actor = "ego"
rate_hz = 10

[[emulator]]
kind = "gnss"
name = "gnss-fixed"
latitude_deg = 34.0
longitude_deg = 108.0
quality = "dgnss"

[[emulator]]
kind = "signal_controller"
name = "controller0"
port = 16053
rate_hz = 5
intersection_id = 101
cycle_s = 20
groups = [
  { signal_group = 1, green_start_s = 0, green_s = 7, amber_s = 3 },
  { signal_group = 2, green_start_s = 10, green_s = 7 },
]

[[fault]]
kind = "interface_down"
target = "vcan0"
at_s = 1.0
duration_s = 1.0

[[fault]]
kind = "bus_off"
target = "vcan1"
at_s = 2.0
duration_s = 1.0

[[fault]]
kind = "gnss_unplug"
target = "gnss0"
at_s = 3.0
duration_s = 1.0

[[fault]]
kind = "gnss_no_fix"
target = "gnss0"
at_s = 4.0
duration_s = 1.0

[[fault]]
kind = "gnss_garbage"
target = "gnss-fixed"
at_s = 5.0
duration_s = 0.5
bytes = 300

[[fault]]
kind = "broker_outage"
at_s = 6.0
duration_s = 2.0

[[fault]]
kind = "daemon_kill"
target = ""
at_s = 9.0
duration_s = 2.0

[[fault]]
kind = "controller_silent"
target = "controller0"
at_s = 12.0
duration_s = 2.0

[[expect]]
kind = "messages"
name = "state rate"
stream = "state"
min_count = 5
min_rate_hz = 8
after_s = 2
until_s = 21.5
max_gap_s = 0.5

[[expect]]
kind = "tracks"
sensor = "radar0"
count = 2
after_s = 1.0
position_tolerance_m = 2.5
min_fraction = 0.9
latency_s = 0.2

[[expect]]
kind = "vehicle_state"
actor = "ego"
speed_tolerance_mps = 0.4
position_tolerance_m = 2.0

[[expect]]
kind = "event"
event_type = "EMERGENCY_BRAKE"
within_s = [4, 5.5]
min_count = 2

[[expect]]
kind = "event"
event_type = "SPEEDING"
absent = true

[[expect]]
kind = "no_loss"

[[expect]]
kind = "can_received"
channel = "vcan0"
bus = "powertrain"
max_lost = 3

[[expect]]
kind = "gnss_received"
emulator = "gnss0"

[[expect]]
kind = "recovery"
fault = 0
counter = "can.powertrain.rx_frames"
within_s = 1.5

[[expect]]
kind = "recovery"
fault = 5
stream = "state"
within_s = 4

[[expect]]
kind = "counter"
counter = "nmea.rejects.checksum"
min = 1
max = 10

[[expect]]
kind = "spat"
after_s = 1.0
min_fraction = 0.9
latency_s = 0.5
end_tolerance_s = 0.4
"""


def write_files(directory: Path) -> Path:
    """The files VALID refers to, and VALID itself; returns the scenario's path."""
    (directory / "configs").mkdir(parents=True, exist_ok=True)
    (directory / "configs" / "box.toml").write_text("[device]\n")
    (directory / "data").mkdir(exist_ok=True)
    (directory / "data" / "drive.blf").write_bytes(b"LOGG")
    path = directory / "everything.toml"
    path.write_text(VALID)
    return path


@pytest.fixture
def valid_path(tmp_path: Path) -> Path:
    return write_files(tmp_path)


def valid_data() -> dict[str, Any]:
    return tomllib.loads(VALID)


def test_a_complete_file_loads_every_kind(valid_path: Path) -> None:
    s = load_scenario(valid_path)
    assert (s.name, s.description, s.path) == ("everything", s.description, valid_path)
    assert (s.duration_s, s.settle_s) == (20.0, 2.0)
    assert s.box_template == (valid_path.parent / "configs" / "box.toml").resolve()
    assert s.vcan == ("vcan0", "vcan1", "vcan9")
    assert s.can_channels == ("vcan0", "vcan1")
    assert s.truth.origin == GeoPoint(34.2235, 108.8905, 410.0)
    assert sorted(s.truth.actors) == ["bike", "ego"]
    braking = s.truth.state("ego", 4.5)
    assert braking.brake
    assert braking.accel_mps2 == -6.0
    assert s.truth.state("ego", 6.0).hazard
    assert s.truth.state("bike", 10.0).speed_mps == 4.5  # default: constant speed all run

    powertrain, radar, gnss, fixed, controller = s.emulators
    assert powertrain == CanReplaySpec(
        "powertrain", "vcan0", (valid_path.parent / "data/drive.blf").resolve(), 2.0, 0.5, True
    )
    assert radar == Ars408Spec(
        "radar0", "vcan1", 3, GeoPoint(34.2237, 108.8906, 415.0), 180.0, 0.08
    )
    assert gnss == GnssSpec("gnss0", "ego", None, 10.0, "rtk_fixed")
    assert fixed == GnssSpec("gnss-fixed", None, GeoPoint(34.0, 108.0, 0.0), 5.0, "dgnss")
    assert s.emulator("gnss0") is gnss
    plan = FixedTimePlan(
        101, 20.0, (SignalGroupPlan(1, 0.0, 7.0, 3.0), SignalGroupPlan(2, 10.0, 7.0))
    )
    assert controller == SignalControllerSpec("controller0", plan, port=16053, rate_hz=5.0)

    assert [f.kind for f in s.faults] == [
        "interface_down",
        "bus_off",
        "gnss_unplug",
        "gnss_no_fix",
        "gnss_garbage",
        "broker_outage",
        "daemon_kill",
        "controller_silent",
    ]
    assert s.faults[7] == FaultSpec("controller_silent", "controller0", 12.0, 2.0, 0)
    assert s.faults[4] == FaultSpec("gnss_garbage", "gnss-fixed", 5.0, 0.5, 300)
    assert s.faults[5] == FaultSpec("broker_outage", "", 6.0, 2.0, 0)
    assert s.faults[6].end_s == 11.0

    e = s.expectations
    assert e[0] == ExpectMessages(
        name="state rate",
        stream="state",
        min_count=5,
        min_rate_hz=8.0,
        after_s=2.0,
        until_s=21.5,
        max_gap_s=0.5,
    )
    assert e[0].label().startswith("state rate: ")
    assert e[1] == ExpectTracks(
        sensor="radar0",
        count=2,
        after_s=1.0,
        until_s=20.0,
        position_tolerance_m=2.5,
        min_fraction=0.9,
        latency_s=0.2,
    )
    assert e[2] == ExpectVehicleState(
        actor="ego", until_s=20.0, speed_tolerance_mps=0.4, position_tolerance_m=2.0
    )
    assert e[3] == ExpectEvent(event_type="EMERGENCY_BRAKE", within_s=(4.0, 5.5), min_count=2)
    assert e[4] == ExpectEvent(event_type="SPEEDING", absent=True)
    assert e[5] == ExpectNoLoss()
    assert e[6] == ExpectCanReceived(channel="vcan0", bus="powertrain", max_lost=3)
    assert e[7] == ExpectGnssReceived(emulator="gnss0")
    assert e[8] == ExpectRecovery(
        fault=0,
        within_s=1.5,
        counter="can.powertrain.rx_frames",
        fault_label="interface_down vcan0 at 1 s",
    )
    assert isinstance(e[9], ExpectRecovery)
    assert (e[9].stream, e[9].fault_label) == ("state", "broker_outage at 6 s")
    assert e[10] == ExpectCounter(counter="nmea.rejects.checksum", min_value=1, max_value=10)
    assert e[11] == ExpectSpat(
        emulator="controller0",  # the only signal controller: not named in the file
        plan=plan,
        after_s=1.0,
        until_s=20.0,
        min_fraction=0.9,
        latency_s=0.5,
        end_tolerance_s=0.4,
    )
    assert all(x.describe() for x in e)


def test_defaults(tmp_path: Path) -> None:
    write_files(tmp_path)
    path = tmp_path / "minimal-run.toml"
    path.write_text(
        '[scenario]\nduration_s = 5\nbox = "configs/box.toml"\n'
        '[[emulator]]\nkind = "ars408"\nname = "r"\nchannel = "vcan3"\nsensor_id = 0\n'
        "latitude_deg = 34.0\nlongitude_deg = 108.0\nheading_deg = 90\n"
    )
    s = load_scenario(path)
    assert (s.name, s.description, s.settle_s) == ("minimal-run", "", 3.0)
    assert s.vcan == s.can_channels == ("vcan3",)
    assert s.truth.origin == INTERSECTION
    assert s.faults == ()
    assert s.expectations == ()
    radar = s.emulators[0]
    assert isinstance(radar, Ars408Spec)
    assert (radar.cycle_s, radar.position.altitude_m) == (0.072, 0.0)


def test_the_example_in_the_readme_loads(tmp_path: Path) -> None:
    readme = Path(__file__).resolve().parents[2] / "hil" / "scenarios" / "README.md"
    example = readme.read_text().split("```toml\n")[1].split("```")[0]
    write_files(tmp_path)
    (tmp_path / "data" / "toyota-eebl.blf").write_bytes(b"LOGG")
    (tmp_path / "configs" / "vehicle-toyota.toml").write_text("")
    path = tmp_path / "example.toml"
    path.write_text(example)
    assert len(load_scenario(path).expectations) == 3


def test_scenario_files_lists_toml_files_directly_in_the_directory(tmp_path: Path) -> None:
    for name in ("b.toml", "a.toml", "notes.md"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.toml").write_text("")
    (tmp_path / "dir.toml").mkdir()
    assert scenario_files(tmp_path) == [tmp_path / "a.toml", tmp_path / "b.toml"]


Mutation = Callable[[dict[str, Any]], None]


def _parent(data: dict[str, Any], path: str) -> tuple[Any, Any]:
    """The container holding dotted ``path`` ('emulator.0.name'), and the key in it."""
    parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = data
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def _set(path: str, value: object) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node, key = _parent(data, path)
        node[key] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node, key = _parent(data, path)
        del node[key]

    return mutate


def _all(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for m in mutations:
            m(data)

    return mutate


# (mutation of VALID, the key the error must name)
ERRORS: dict[str, tuple[Mutation, str]] = {
    "unknown top-level key": (_set("expectations", []), "'expectations'"),
    "no [scenario]": (_delete("scenario"), "scenario is required"),
    "unknown scenario key": (_set("scenario.colour", "red"), "scenario.colour"),
    "bad name": (_set("scenario.name", "a b"), "scenario.name"),
    "duration missing": (_delete("scenario.duration_s"), "scenario.duration_s"),
    "duration nan": (_set("scenario.duration_s", math.nan), "scenario.duration_s"),
    "duration infinite": (_set("scenario.duration_s", math.inf), "scenario.duration_s"),
    "duration zero": (_set("scenario.duration_s", 0), "scenario.duration_s"),
    "duration a string": (_set("scenario.duration_s", "20 s"), "scenario.duration_s"),
    "settle negative": (_set("scenario.settle_s", -1), "scenario.settle_s"),
    "box missing": (_set("scenario.box", "configs/nope.toml"), "scenario.box"),
    "box a folder": (_set("scenario.box", "configs"), "scenario.box"),
    "vcan lacks a channel": (_set("scenario.vcan", ["vcan0"]), "scenario.vcan"),
    "vcan bad name": (_set("scenario.vcan", ["vcan0", "vcan1", "a/b"]), "scenario.vcan"),
    "vcan not a list": (_set("scenario.vcan", "vcan0"), "scenario.vcan"),
    "origin latitude": (_set("world.origin.latitude_deg", 91.0), "world.origin.latitude_deg"),
    "origin unknown key": (_set("world.origin.lat", 1.0), "world.origin.lat"),
    "unknown world key": (_set("world.actors", []), "world.actors"),
    "actor unknown key": (_set("world.actor.0.colour", "red"), "world.actor[0].colour"),
    "actor name repeated": (_set("world.actor.1.name", "ego"), "world.actor[1].name"),
    "actor kind": (_set("world.actor.0.kind", "tank"), "world.actor[0].kind"),
    "actor start missing": (_delete("world.actor.1.start_north_m"), "world.actor[1].start_north_m"),
    "actor too fast": (_set("world.actor.0.speed_mps", 1000), "world.actor[0].speed_mps"),
    "actor no phases": (_set("world.actor.0.phases", []), "world.actor[0].phases"),
    "phases not tables": (_set("world.actor.0.phases", [1, 2]), "world.actor[0].phases"),
    "phase too short": (
        _set("world.actor.0.phases.0.duration_s", 0.0),
        "world.actor[0].phases[0].duration_s",
    ),
    "phases too long": (
        _set("world.actor.0.phases", [{"duration_s": 4000.0}, {"duration_s": 4000.0}]),
        "world.actor[0].phases",
    ),
    "phase turn signal": (
        _set("world.actor.0.phases.2.turn_signal", "up"),
        "world.actor[0].phases[2].turn_signal",
    ),
    "phase brake not bool": (
        _set("world.actor.0.phases.1.brake", 1),
        "world.actor[0].phases[1].brake",
    ),
    "emulator not a table": (_set("emulator", [1]), "emulator"),
    "emulator kind": (_set("emulator.0.kind", "lidar"), "emulator[0].kind"),
    "emulator name repeated": (_set("emulator.1.name", "powertrain"), "emulator[1].name"),
    "emulator unknown key": (_set("emulator.0.bitrate", 500000), "emulator[0].bitrate"),
    "log missing": (_set("emulator.0.log", "data/none.blf"), "emulator[0].log"),
    "log with a NUL": (_set("emulator.0.log", "a\x00b"), "emulator[0].log"),
    "log name too long": (_set("emulator.0.log", "x" * 5000), "emulator[0].log"),
    "channel name": (_set("emulator.0.channel", "vcan-with-a-long-name"), "emulator[0].channel"),
    "replay speed": (_set("emulator.0.speed", 0), "emulator[0].speed"),
    "replay start after the end": (_set("emulator.0.start_s", 30.0), "emulator[0].start_s"),
    "sensor id": (_set("emulator.1.sensor_id", 8), "emulator[1].sensor_id"),
    "sensor id a float": (_set("emulator.1.sensor_id", 1.0), "emulator[1].sensor_id"),
    "sensor id repeated on a channel": (
        _set(
            "emulator",
            [*valid_data()["emulator"][:2], {**valid_data()["emulator"][1], "name": "radar1"}],
        ),
        "emulator[2].sensor_id",
    ),
    "radar latitude missing": (_delete("emulator.1.latitude_deg"), "emulator[1].latitude_deg"),
    "gnss unknown actor": (_set("emulator.2.actor", "nobody"), "emulator[2].actor"),
    "gnss actor and position": (_set("emulator.2.latitude_deg", 34.0), "emulator[2].actor"),
    "gnss neither": (_delete("emulator.2.actor"), "emulator[2].actor"),
    "gnss quality": (_set("emulator.2.quality", "perfect"), "emulator[2].quality"),
    "gnss rate": (_set("emulator.2.rate_hz", 0), "emulator[2].rate_hz"),
    "fault kind": (_set("fault.0.kind", "meteor"), "fault[0].kind"),
    "fault on an unused channel": (_set("fault.0.target", "vcan9"), "fault[0].target"),
    "gnss fault on a radar": (_set("fault.2.target", "radar0"), "fault[2].target"),
    "broker outage with a target": (_set("fault.5.target", "vcan0"), "fault[5].target"),
    "fault target missing": (_delete("fault.1.target"), "fault[1].target"),
    "fault before 0": (_set("fault.0.at_s", -1.0), "fault[0].at_s"),
    "fault after the end": (_set("fault.6.at_s", 20.5), "fault[6].at_s"),
    "fault ends after the end": (_set("fault.6.duration_s", 12.0), "fault[6].duration_s"),
    "fault of no duration": (_set("fault.6.duration_s", 0.0), "fault[6].duration_s"),
    "faults overlap": (_set("fault.1.at_s", 1.5), "fault[1].at_s"),
    "bytes on another fault": (_set("fault.0.bytes", 10), "fault[0].bytes"),
    "bytes zero": (_set("fault.4.bytes", 0), "fault[4].bytes"),
    "expect kind": (_set("expect.0.kind", "miracle"), "expect[0].kind"),
    "expect kind missing": (_delete("expect.5.kind"), "expect[5].kind"),
    "expect unknown key": (_set("expect.5.strict", True), "expect[5].strict"),
    "expect name": (_set("expect.0.name", 3), "expect[0].name"),
    "messages stream": (_set("expect.0.stream", "cmd"), "expect[0].stream"),
    "messages until before after": (_set("expect.0.until_s", 1.0), "expect[0].until_s"),
    "messages until after settle": (_set("expect.0.until_s", 22.5), "expect[0].until_s"),
    "messages count negative": (_set("expect.0.min_count", -1), "expect[0].min_count"),
    "tracks count missing": (_delete("expect.1.count"), "expect[1].count"),
    "tracks fraction": (_set("expect.1.min_fraction", 1.5), "expect[1].min_fraction"),
    "tracks tolerance": (
        _set("expect.1.position_tolerance_m", 0),
        "expect[1].position_tolerance_m",
    ),
    "vehicle state actor": (_set("expect.2.actor", "nobody"), "expect[2].actor"),
    "event type": (_set("expect.3.event_type", "ALIENS"), "expect[3].event_type"),
    "event type with prefix": (
        _set("expect.3.event_type", "EVENT_TYPE_EMERGENCY_BRAKE"),
        "expect[3].event_type",
    ),
    "event window reversed": (_set("expect.3.within_s", [5, 4]), "expect[3].within_s"),
    "event window too long": (_set("expect.3.within_s", [0, 1, 2]), "expect[3].within_s"),
    "event window past the end": (_set("expect.3.within_s", [4, 30]), "expect[3].within_s"),
    "event window of booleans": (_set("expect.3.within_s", [True, 2]), "expect[3].within_s"),
    "event min count zero": (_set("expect.3.min_count", 0), "expect[3].min_count"),
    "event max count below min": (_set("expect.3.max_count", 1), "expect[3].max_count"),
    "event absent with a count": (_set("expect.4.min_count", 2), "expect[4].min_count"),
    "can channel": (_set("expect.6.channel", "vcan9"), "expect[6].channel"),
    "can bus missing": (_delete("expect.6.bus"), "expect[6].bus"),
    "can max lost": (_set("expect.6.max_lost", -1), "expect[6].max_lost"),
    "gnss emulator": (_set("expect.7.emulator", "powertrain"), "expect[7].emulator"),
    "recovery fault index": (_set("expect.8.fault", 8), "expect[8].fault"),
    "recovery without faults": (_all(_delete("fault"), _delete("expect.9")), "expect[8].fault"),
    "recovery counter and stream": (_set("expect.8.stream", "state"), "expect[8].counter"),
    "recovery neither": (_delete("expect.8.counter"), "expect[8].counter"),
    "recovery within": (_set("expect.8.within_s", 0), "expect[8].within_s"),
    "recovery stream": (_set("expect.9.stream", "telemetry"), "expect[9].stream"),
    "counter no bounds": (
        _all(_delete("expect.10.min"), _delete("expect.10.max")),
        "expect[10].min",
    ),
    "counter min above max": (_set("expect.10.min", 11), "expect[10].max"),
    "counter name": (_set("expect.10.counter", ""), "expect[10].counter"),
    "controller name not a placeholder": (_set("emulator.4.name", "ctl-0"), "emulator[4].name"),
    "controller port": (_set("emulator.4.port", 70000), "emulator[4].port"),
    "controller port repeated": (
        _set(
            "emulator",
            [*valid_data()["emulator"], {**valid_data()["emulator"][4], "name": "controller1"}],
        ),
        "emulator[5].port",
    ),
    "controller rate": (_set("emulator.4.rate_hz", 0), "emulator[4].rate_hz"),
    "controller intersection": (
        _delete("emulator.4.intersection_id"),
        "emulator[4].intersection_id",
    ),
    "controller cycle": (_set("emulator.4.cycle_s", 0), "emulator[4].cycle_s"),
    "controller no groups": (_set("emulator.4.groups", []), "emulator[4].groups"),
    "controller group repeated": (
        _set("emulator.4.groups.1.signal_group", 1),
        "emulator[4].groups",
    ),
    "controller group not a phase": (
        _set("emulator.4.groups.1.signal_group", 17),
        "emulator[4].groups[1].signal_group",
    ),
    "controller group unknown key": (
        _set("emulator.4.groups.0.red_s", 3),
        "emulator[4].groups[0].red_s",
    ),
    "controller green over the cycle": (
        _set("emulator.4.groups.0.green_s", 18),
        "emulator[4].groups",
    ),
    "controller fault on a gnss": (_set("fault.7.target", "gnss0"), "fault[7].target"),
    "spat emulator not a controller": (_set("expect.11.emulator", "gnss0"), "expect[11].emulator"),
    "spat fraction": (_set("expect.11.min_fraction", 2), "expect[11].min_fraction"),
    "spat end tolerance": (_set("expect.11.end_tolerance_s", 0.01), "expect[11].end_tolerance_s"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_every_mistake_names_the_file_and_the_key(case: str, valid_path: Path) -> None:
    mutate, key = ERRORS[case]
    data = valid_data()
    mutate(data)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, valid_path)
    message = str(caught.value)
    assert message.startswith(str(valid_path)), message
    assert key in message, message


MINIMAL = '[scenario]\nduration_s = 10\nbox = "configs/box.toml"\n'


@pytest.mark.parametrize(
    ("section", "key"),
    [
        (
            '[[fault]]\nkind = "bus_off"\ntarget = "vcan0"\nat_s = 1\nduration_s = 1\n',
            "fault[0].target",
        ),
        (
            '[[fault]]\nkind = "gnss_unplug"\ntarget = "g"\nat_s = 1\nduration_s = 1\n',
            "fault[0].target",
        ),
        ('[[emulator]]\nkind = "gnss"\nname = "g"\nactor = "ego"\n', "emulator[0].actor"),
        ('[[expect]]\nkind = "vehicle_state"\nactor = "ego"\n', "expect[0].actor"),
        ('[[expect]]\nkind = "can_received"\nchannel = "vcan0"\nbus = "b"\n', "expect[0].channel"),
        ('[[expect]]\nkind = "gnss_received"\nemulator = "g"\n', "expect[0].emulator"),
        ('[[expect]]\nkind = "spat"\n', "expect[0].emulator"),
        (
            '[[fault]]\nkind = "controller_silent"\ntarget = "c"\nat_s = 1\nduration_s = 1\n',
            "fault[0].target",
        ),
    ],
)
def test_references_to_nothing_are_errors(tmp_path: Path, section: str, key: str) -> None:
    """With no emulator or actor of a kind, no name can refer to one."""
    write_files(tmp_path)
    path = tmp_path / "empty.toml"
    path.write_text(MINIMAL + section)
    with pytest.raises(ScenarioError, match=re.escape(key)):
        load_scenario(path)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ScenarioError, match=r"missing\.toml"):
        load_scenario(missing)
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\n")
    with pytest.raises(ScenarioError, match=r"bad\.toml: not valid TOML"):
        load_scenario(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"name = '\xff'\n")
    with pytest.raises(ScenarioError, match=r"binary\.toml"):
        load_scenario(binary)
    assert issubclass(ScenarioError, HilError)


def test_the_data_of_a_key_error_is_kept_as_the_cause(valid_path: Path) -> None:
    data = valid_data()
    data["scenario"]["duration_s"] = "long"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data, valid_path)
    assert caught.value.__cause__ is not None


# --- anything TOML can hold: the loader answers with a Scenario or a ScenarioError -----------

TOML_SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.sampled_from([0, 1, 2, 5, 7, 20, 0.5, -1, "", "ego", "vcan0", "gnss0", "state"])
    | st.text(max_size=12)
    | st.datetimes()
    | st.dates()
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """VALID with a few values replaced, keys removed or keys added, anywhere in the tree."""
    data = copy.deepcopy(VALID_DATA)
    for _ in range(draw(st.integers(1, 3))):
        node: Any = data
        while True:
            keys = list(range(len(node))) if isinstance(node, list) else list(node)
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and draw(st.booleans()):
                node = child
                continue
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                node[key] = draw(TOML_VALUES)
            elif action == "delete":
                del node[key]
            elif isinstance(node, dict):
                node[draw(st.text(max_size=8))] = draw(TOML_VALUES)
            else:
                node.append(draw(TOML_VALUES))
            break
    return data


VALID_DATA = tomllib.loads(VALID)


@pytest.fixture(scope="module")
def shared_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_files(tmp_path_factory.mktemp("scenario"))


def _parse_or_scenario_error(data: dict[str, Any], path: Path) -> None:
    try:
        scenario = parse_scenario(data, path)
    except ScenarioError as err:
        message = str(err)
    else:
        assert isinstance(scenario, Scenario)
        return
    assert message.startswith(str(path)), message


@given(mutated_documents())
def test_mutated_files_raise_only_scenario_errors(shared_path: Path, data: dict[str, Any]) -> None:
    _parse_or_scenario_error(data, shared_path)


@given(
    st.dictionaries(
        st.sampled_from(["scenario", "world", "emulator", "fault", "expect", "x"]), TOML_VALUES
    )
)
def test_arbitrary_documents_raise_only_scenario_errors(
    shared_path: Path, data: dict[str, Any]
) -> None:
    _parse_or_scenario_error(data, shared_path)


def test_objects_near_points_load_and_bad_points_name_the_key(tmp_path: Path) -> None:
    shipped = SCENARIO_DIR / "roadside-ars408-capture.toml"
    scenario = load_scenario(shipped)
    near = [e for e in scenario.expectations if isinstance(e, ExpectObjectsNear)]
    assert [e.points for e in near] == [((11.4, 0.2),), ((17.6, -0.4),)]
    # The copy lives elsewhere: make its relative paths absolute.
    text = shipped.read_text()
    for folder in ("configs", "data"):
        text = text.replace(f'"{folder}/', f'"{SCENARIO_DIR / folder}/')
    path = tmp_path / "capture.toml"
    for bad in ("[]", "[[1.0]]", '[["a", 2]]', "[[true, 1]]", "3", "[[1, nan]]"):
        path.write_text(text.replace("points = [[11.4, 0.2]]", f"points = {bad}"))
        with pytest.raises(ScenarioError, match=r"expect\[0\]\.points"):
            load_scenario(path)
