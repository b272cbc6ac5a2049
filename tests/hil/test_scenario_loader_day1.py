"""Scenario files of the Day-1 applications: the ``vehicle_can`` and ``hmi`` emulators, the
radio's emergency actors and roadside unit (intersection file, signal plan, RSM actors), the
``hmi`` expectation; their defaults, every mistake naming its key, and the shipped scenarios
with their box config."""

from __future__ import annotations

import copy
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_py.config.loader import EXAMPLES_DIR, SHIPPED_DBC_DIR, load_box_config
from hil.clock import ScenarioClock
from hil.commands import SCENARIO_DIR
from hil.errors import ScenarioError
from hil.recording import Recording
from hil.runner import render_box_config
from hil.scenario_engine import (
    CV2xRadioSpec,
    ExpectEvent,
    ExpectHmi,
    HmiSpec,
    Scenario,
    VehicleCanSpec,
    load_scenario,
    parse_scenario,
    scenario_files,
)
from protocols.v2x.intersection_file import read_intersection_file
from tests.hil.test_scenario_loader import TOML_VALUES

DAY1_APPS = ("fcw", "icw", "rlvw", "glosa", "vrucw", "evw")
VALID = """
[scenario]
duration_s = 10
box = "box.toml"

[[world.actor]]
name = "ego"
start_east_m = 5.25
start_north_m = -100

[[world.actor]]
name = "ambulance"
start_east_m = 1.75
start_north_m = -200
speed_mps = 20

[[world.actor]]
name = "walker"
kind = "pedestrian"
start_east_m = -8
start_north_m = -20
heading_deg = 90
speed_mps = 1.4

[[emulator]]
kind = "vehicle_can"
name = "powertrain"
channel = "vcan0"
actor = "ego"

[[emulator]]
kind = "cv2x_radio"
name = "radio0"
remote_actors = ["ambulance"]
emergency_actors = ["ambulance"]
intersection = "intersection.toml"
rsm_actors = ["walker"]

[emulator.signal_plan]
intersection_id = 101
cycle_s = 30
groups = [{ signal_group = 1, green_start_s = 0, green_s = 10 }]

[[emulator]]
kind = "hmi"
name = "hmi0"

[[expect]]
kind = "hmi"
app = "EVW"
within_s = [4, 6]

[[expect]]
kind = "hmi"
app = "FCW"
change = "end"
absent = true
"""


def write_files(directory: Path, text: str = VALID) -> Path:
    (directory / "box.toml").write_text("[device]\n")
    shutil.copy(EXAMPLES_DIR / "intersection-101.toml", directory / "intersection.toml")
    path = directory / "day1.toml"
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str = VALID) -> Scenario:
    return load_scenario(write_files(tmp_path, text))


def test_the_day1_emulators_and_expectations_load_with_their_defaults(tmp_path: Path) -> None:
    scenario = load(tmp_path)
    car, radio, hmi = scenario.emulators
    assert car == VehicleCanSpec(
        "powertrain", "vcan0", "ego", (SHIPPED_DBC_DIR / "toyota_nodsu_pt_generated.dbc").resolve()
    )
    assert scenario.can_channels == scenario.vcan == ("vcan0",)
    assert isinstance(radio, CV2xRadioSpec)
    assert radio.emergency_actors == radio.remote_actors == ("ambulance",)
    assert radio.rsm_actors == ("walker",)
    assert radio.intersection_file == (tmp_path / "intersection.toml").resolve()
    assert radio.intersection == read_intersection_file(tmp_path / "intersection.toml")
    assert radio.signal_plan is not None
    (group,) = radio.signal_plan.groups
    assert (radio.signal_plan.cycle_s, group.amber_s, radio.signal_plan.epoch_s) == (30, 3, 0)
    assert hmi == HmiSpec("hmi0")
    assert scenario.expectations == (
        ExpectHmi(emulator="hmi0", app="EVW", within_s=(4.0, 6.0)),
        ExpectHmi(emulator="hmi0", app="FCW", change="end", absent=True),
    )


def test_a_plain_radio_keeps_its_defaults(tmp_path: Path) -> None:
    text = VALID.split("[[emulator]]")[0] + '[[emulator]]\nkind = "cv2x_radio"\nname = "r"\n'
    (radio,) = load(tmp_path, text).emulators
    assert radio == CV2xRadioSpec("r")


def test_a_dbc_beside_the_scenario_is_found_first(tmp_path: Path) -> None:
    shutil.copy(SHIPPED_DBC_DIR / "toyota_nodsu_pt_generated.dbc", tmp_path / "car.dbc")
    text = VALID.replace('actor = "ego"\n', 'actor = "ego"\ndbc = "car.dbc"\n', 1)
    car = load(tmp_path, text).emulators[0]
    assert isinstance(car, VehicleCanSpec)
    assert car.dbc == (tmp_path / "car.dbc").resolve()


def replaced(old: str, new: str, count: int = 1) -> str:
    assert old in VALID
    return VALID.replace(old, new, count)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (replaced('actor = "ego"\n', 'actor = "nobody"\n'), "emulator[0].actor"),
        (replaced('channel = "vcan0"', 'channel = "vcan/0"'), "emulator[0].channel"),
        (replaced('actor = "ego"\n', 'actor = "ego"\ndbc = "none.dbc"\n'), "emulator[0].dbc"),
        (replaced('actor = "ego"\n', 'actor = "ego"\ndbc = "ars408_id0.dbc"\n'), "emulator[0].dbc"),
        (replaced('actor = "ego"\n', 'actor = "ego"\nrate_hz = 5\n'), "emulator[0].rate_hz"),
        (
            replaced('emergency_actors = ["ambulance"]', 'emergency_actors = ["walker"]'),
            "emulator[1].emergency_actors",
        ),
        (
            replaced('emergency_actors = ["ambulance"]', 'emergency_actors = ["x"]'),
            "emulator[1].emergency_actors",
        ),
        (replaced('rsm_actors = ["walker"]', 'rsm_actors = "walker"'), "emulator[1].rsm_actors"),
        (replaced('"intersection.toml"', '"box.toml"'), "emulator[1].intersection"),
        (replaced('"intersection.toml"', '"nowhere.toml"'), "emulator[1].intersection"),
        (
            replaced("intersection_id = 101", "intersection_id = 102"),
            "emulator[1].signal_plan.intersection_id",
        ),
        (replaced("cycle_s = 30", "cycle_s = 30\nport = 1"), "emulator[1].signal_plan.port"),
        (replaced("cycle_s = 30", "cycle_s = 12"), "emulator[1].signal_plan.groups"),
        (
            replaced("signal_group = 1,", "signal_group = 256,"),
            "emulator[1].signal_plan.groups[0].signal_group",
        ),
        (replaced('name = "hmi0"', 'name = "hmi-0"'), "emulator[2].name"),
        (replaced('name = "hmi0"', 'name = "hmi0"\nport = 4000'), "emulator[2].port"),
        (replaced('app = "EVW"', 'app = "evw"'), "expect[0].app"),
        (replaced('change = "end"', 'change = "stop"'), "expect[1].change"),
        (replaced("within_s = [4, 6]", "within_s = [6, 4]"), "expect[0].within_s"),
        (replaced("within_s = [4, 6]", "within_s = [4, 60]"), "expect[0].within_s"),
        (replaced("absent = true", "absent = true\nmin_count = 2"), "expect[1].min_count"),
        (replaced('app = "EVW"', 'app = "EVW"\nemulator = "radio0"'), "expect[0].emulator"),
    ],
)
def test_every_mistake_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(key)):
        load(tmp_path, text)


def test_an_hmi_expectation_needs_an_hmi(tmp_path: Path) -> None:
    text = VALID.replace('[[emulator]]\nkind = "hmi"\nname = "hmi0"\n', "")
    with pytest.raises(ScenarioError, match=re.escape("expect[0].emulator")):
        load(tmp_path, text)


VALID_DATA = tomllib.loads(VALID)


@pytest.fixture(scope="module")
def shared_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_files(tmp_path_factory.mktemp("day1"))


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """VALID with one value replaced, or one key removed or added, in an emulator or an
    expectation."""
    data = copy.deepcopy(VALID_DATA)
    section = draw(st.sampled_from(["emulator", "expect"]))
    table = draw(st.sampled_from(data[section]))
    if section == "emulator" and "signal_plan" in table and draw(st.booleans()):
        table = table["signal_plan"]
    key = draw(st.sampled_from(sorted(table)))
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        table[key] = draw(TOML_VALUES)
    elif action == "delete":
        del table[key]
    else:
        table[draw(st.text(max_size=8))] = draw(TOML_VALUES)
    return data


@given(mutated())
def test_mutated_files_raise_only_scenario_errors(shared_path: Path, data: dict[str, Any]) -> None:
    try:
        scenario = parse_scenario(data, shared_path)
    except ScenarioError as err:
        message = str(err)
    else:
        assert isinstance(scenario, Scenario)
        return
    assert message.startswith(str(shared_path)), message


# --- the hmi expectation --------------------------------------------------------------------


def recording(lines: list[tuple[float, dict[str, Any]]] | None) -> Recording:
    run = Recording("day1", "veh-1", ScenarioClock(0.0, 1_767_225_600.0), load_truth(), 10.0)
    if lines is not None:
        run.hmi_lines["hmi0"] = lines
    return run


def load_truth() -> Any:
    return load_scenario(SCENARIO_DIR / "vehicle-day1-fcw.toml").truth


def line(app: str, change: str = "start") -> dict[str, Any]:
    return {"v": 1, "app": app, "change": change}


def test_hmi_lines_pass_in_their_window_and_fail_outside_it() -> None:
    run = recording([(5.4, line("FCW")), (5.5, line("FCW", "update")), (7.0, line("EVW"))])
    inside = ExpectHmi(emulator="hmi0", app="FCW", within_s=(5.0, 6.2))
    verdict = inside.check(run)
    assert verdict.passed
    assert verdict.measured == (
        "1 FCW 'start' line(s) arrived in 5-6.2 s (at 5.40 s); 0 outside it; 3 HMI lines in all"
    )
    late = ExpectHmi(emulator="hmi0", app="FCW", within_s=(0.0, 5.0))
    verdict = late.check(run)
    assert not verdict.passed
    assert "0 FCW 'start' line(s) arrived in 0-5 s; 1 outside it (first at 5.40 s)" in (
        verdict.measured
    )
    assert ExpectHmi(emulator="hmi0", app="FCW", change="update").check(run).passed
    assert not ExpectHmi(emulator="hmi0", app="FCW", min_count=2).check(run).passed


def test_absent_hmi_lines() -> None:
    run = recording([(5.4, line("FCW"))])
    assert ExpectHmi(emulator="hmi0", app="FCW", within_s=(0.0, 5.0), absent=True).check(run).passed
    verdict = ExpectHmi(emulator="hmi0", app="FCW", absent=True).check(run)
    assert not verdict.passed
    assert verdict.expectation == "no FCW 'start' line(s) on HMI hmi0 during the run"


def test_an_hmi_that_recorded_nothing_fails_every_expectation() -> None:
    run = recording(None)
    for expectation in (
        ExpectHmi(emulator="hmi0", app="FCW"),
        ExpectHmi(emulator="hmi0", app="FCW", absent=True),
    ):
        verdict = expectation.check(run)
        assert not verdict.passed
        assert verdict.measured == "the recording has nothing from HMI hmi0"


# --- the shipped scenarios ------------------------------------------------------------------


def test_the_shipped_day1_scenarios_are_in_the_suite() -> None:
    names = [path.stem for path in scenario_files(SCENARIO_DIR)]
    # tests/hil/test_hil_bench.py runs every file of scenario_files(SCENARIO_DIR).
    assert sorted(f"vehicle-day1-{app}" for app in DAY1_APPS) == [n for n in names if "day1" in n]


@pytest.mark.parametrize("app", DAY1_APPS)
def test_each_shipped_day1_scenario_checks_a_warning_and_its_absence(
    app: str, tmp_path: Path
) -> None:
    scenario = load_scenario(SCENARIO_DIR / f"vehicle-day1-{app}.toml")
    assert scenario.duration_s <= 15.0  # CI time
    # The MAP's lanes are where the world's are: the origin is the intersection's reference.
    reference = read_intersection_file(EXAMPLES_DIR / "intersection-101.toml").map.reference
    origin = scenario.truth.origin
    assert origin.coordinates == (
        reference.latitude_deg,
        reference.longitude_deg,
        reference.altitude_m,
    )
    events = [e for e in scenario.expectations if isinstance(e, ExpectEvent)]
    hmi = [e for e in scenario.expectations if isinstance(e, ExpectHmi)]
    assert sorted(e.absent for e in events) == sorted(e.absent for e in hmi) == [False, True]
    assert {e.app for e in hmi} == {app.upper()}
    kinds = {type(e).__name__ for e in scenario.emulators}
    assert kinds == {"VehicleCanSpec", "GnssSpec", "CV2xRadioSpec", "HmiSpec"}
    values = {
        "mqtt_host": "127.0.0.1",
        "mqtt_port": "1883",
        "run_dir": str(tmp_path),
        "gnss_gnss0": str(tmp_path / "gnss0"),
        "v2x_radio_port_radio0": "40001",
        "v2x_listen_port_radio0": "40002",
        "hmi_port_hmi0": "40003",
    }
    config = load_box_config(render_box_config(scenario.box_template, values, tmp_path / "b.toml"))
    assert config.hmi is not None
    assert config.hmi.udp_port == 40003
    assert config.apps is not None
    assert app.upper() in config.apps.settings


def test_the_day1_example_in_the_readme_loads() -> None:
    readme = (SCENARIO_DIR / "README.md").read_text()
    example = readme.split("## Example: a Day-1 application")[1].split("```toml\n")[1]
    # As if it were one of the shipped scenarios: its paths are relative to that folder.
    scenario = parse_scenario(tomllib.loads(example.split("```")[0]), SCENARIO_DIR / "x.toml")
    assert [type(e).__name__ for e in scenario.emulators] == [
        "VehicleCanSpec",
        "GnssSpec",
        "CV2xRadioSpec",
        "HmiSpec",
    ]
    assert [e.describe() for e in scenario.expectations] == [
        "at least 1 RED_LIGHT_VIOLATION event(s) captured in 4.5-5.5 s",
        "no RLVW 'start' line(s) on HMI hmi0 arriving in 0-4.5 s",
    ]
