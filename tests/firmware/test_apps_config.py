"""``[apps]`` and ``[hmi]``: which Day-1 applications run with which thresholds, and where the
HMI's lines go; every mistake named by key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.apps.day1.fcw import FcwSettings
from edge.apps.day1.registry import app_specs
from firmware_py.config.apps import DEFAULT_HMI_PORT, default_apps, parse_apps
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.config.model import BoxConfig
from firmware_py.config.reader import Table
from firmware_py.errors import ConfigError

VEHICLE = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
RADIO = '\n[v2x]\nradio = "udp"\nstation_id = 7\n'


def _load(tmp_path: Path, extra: str, base: str = VEHICLE) -> BoxConfig:
    path = tmp_path / "box.toml"
    path.write_text(base + RADIO + extra)
    return load_box_config(path)


def test_no_apps_table_runs_every_application_with_its_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path, "")
    assert config.apps is None
    assert list(default_apps().settings) == list(app_specs())
    assert len(app_specs()) == 16
    assert config.hmi is None


def test_enabled_applications_and_their_settings(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        '[apps]\nenabled = ["FCW", "ICW"]\nconfirm_cycles = 3\n[apps.fcw]\nttc_s = 3.2\n'
        '[hmi]\nudp_host = "127.0.0.1"\n',
    )
    assert config.apps is not None
    assert list(config.apps.settings) == ["FCW", "ICW"]
    assert config.apps.settings["FCW"] == FcwSettings(ttc_s=3.2)
    assert config.apps.engine.confirm_cycles == 3
    assert config.hmi is not None
    assert config.hmi.udp_port == DEFAULT_HMI_PORT


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('[apps]\nenabled = ["XYZ"]\n', "apps.enabled"),
        ("[apps.fcw]\nttc = 3.0\n", "apps.fcw.ttc"),
        ('[apps.fcw]\nttc_s = "soon"\n', "apps.fcw.ttc_s"),
        ("[apps.fcw]\nttc_s = -1.0\n", "apps.fcw.ttc_s"),
        ("[apps.fcw]\nttc_s = nan\n", "apps.fcw.ttc_s"),
        ("[apps]\nconfirm_cycles = 0\n", "apps.confirm_cycles"),
        ("[apps.nope]\nx = 1\n", "apps.nope"),
        ("[hmi]\nudp_port = 70000\n", "hmi.udp_port"),
        ("[hmi]\nport = 1\n", "hmi.port"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, extra: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        _load(tmp_path, extra)


def test_a_roadside_unit_has_no_day1_applications(tmp_path: Path) -> None:
    roadside = (EXAMPLES_DIR / "roadside.toml").read_text()
    with pytest.raises(ConfigError, match=r"\[apps\]"):
        _load(tmp_path, "[apps]\n", base=roadside)


@settings(max_examples=40, deadline=None)
@given(
    value=st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.booleans()),
    key=st.sampled_from(["ttc_s", "critical_ttc_s", "min_speed_mps", "max_range_m"]),
)
def test_any_value_loads_or_is_a_config_error(value: object, key: str) -> None:
    try:
        parsed = parse_apps(Table.document({"fcw": {key: value}}, "apps"))
    except ConfigError:
        return
    assert isinstance(value, int | float)
    assert not isinstance(value, bool)
    assert getattr(parsed.settings["FCW"], key) == float(value)
