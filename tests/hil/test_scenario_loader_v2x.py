"""Scenario files with a C-V2X radio: the ``cv2x_radio`` emulator and the ``v2x``
expectation, their defaults, and every mistake naming its key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hil.errors import ScenarioError
from hil.scenario_engine import CV2xRadioSpec, ExpectV2x, Scenario, load_scenario

HEAD = """
[scenario]
duration_s = 10
box = "box.toml"

[[world.actor]]
name = "ego"
start_east_m = 0
start_north_m = 0

[[world.actor]]
name = "other"
start_east_m = 50
start_north_m = 0
"""
RADIO = '\n[[emulator]]\nkind = "cv2x_radio"\nname = "radio0"\n'


def load(tmp_path: Path, text: str) -> Scenario:
    (tmp_path / "box.toml").write_text("[device]\n")
    path = tmp_path / "v2x.toml"
    path.write_text(HEAD + text)
    return load_scenario(path)


def test_a_radio_and_its_expectations_load_with_their_defaults(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        RADIO
        + 'remote_actors = ["other"]\nrate_hz = 5\n'
        + '\n[[expect]]\nkind = "v2x"\nmessage = "bsm"\nactor = "ego"\nmin_rate_hz = 9\n'
        + '\n[[expect]]\nkind = "v2x"\nemulator = "radio0"\nmessage = "spat"\n'
        + "end_tolerance_s = 0.3\nuntil_s = 12\n",
    )
    assert scenario.emulators == (CV2xRadioSpec("radio0", ("other",), 5.0),)
    bsm, spat = scenario.expectations
    assert bsm == ExpectV2x(
        emulator="radio0", message="bsm", actor="ego", min_rate_hz=9.0, until_s=10.0
    )
    assert spat == ExpectV2x(emulator="radio0", message="spat", end_tolerance_s=0.3, until_s=12.0)
    assert load(tmp_path, RADIO).emulators == (CV2xRadioSpec("radio0"),)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('\n[[emulator]]\nkind = "cv2x_radio"\nname = "radio-0"\n', "emulator[0].name"),
        (RADIO + 'remote_actors = ["nobody"]\n', "emulator[0].remote_actors"),
        (RADIO + 'remote_actors = ["other", "other"]\n', "emulator[0].remote_actors"),
        (RADIO + 'remote_actors = "other"\n', "emulator[0].remote_actors"),
        (RADIO + "rate_hz = 0\n", "emulator[0].rate_hz"),
        (RADIO + "port = 30301\n", "emulator[0].port"),
        ('\n[[expect]]\nkind = "v2x"\nmessage = "bsm"\n', "expect[0].emulator"),
        (RADIO + '\n[[expect]]\nkind = "v2x"\nmessage = "map"\n', "expect[0].message"),
        (RADIO + '\n[[expect]]\nkind = "v2x"\nmessage = "bsm"\nactor = "x"\n', "expect[0].actor"),
        (
            RADIO + '\n[[expect]]\nkind = "v2x"\nmessage = "spat"\nactor = "ego"\n',
            "expect[0].actor",
        ),
        (
            RADIO + '\n[[expect]]\nkind = "v2x"\nmessage = "bsm"\nend_tolerance_s = 1\n',
            "expect[0].end_tolerance_s",
        ),
        (
            RADIO + '\n[[expect]]\nkind = "v2x"\nmessage = "bsm"\nmin_rate_hz = -1\n',
            "expect[0].min_rate_hz",
        ),
        (
            RADIO + '\n[[expect]]\nkind = "v2x"\nmessage = "bsm"\nemulator = "radio1"\n',
            "expect[0].emulator",
        ),
    ],
)
def test_every_mistake_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(key)):
        load(tmp_path, text)
