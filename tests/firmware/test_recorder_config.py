"""``[recorder]``: the flight recorder's switch, directory and bounds, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.config.recorder import RecorderConfig
from firmware_py.errors import ConfigError


def config_with(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "box.toml"
    path.write_text(
        (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
        + f'\n[outbox]\npath = "{tmp_path / "state" / "outbox.sqlite3"}"\n'
        + table
    )
    return path


def test_without_the_table_the_box_has_no_recorder(tmp_path: Path) -> None:
    recorder = load_box_config(config_with(tmp_path, "")).recorder
    assert recorder == RecorderConfig()
    assert not recorder.configured
    assert not recorder.enabled


def test_defaults_record_beside_the_outbox(tmp_path: Path) -> None:
    config = load_box_config(config_with(tmp_path, "\n[recorder]\nenabled = true\n"))
    recorder = config.recorder
    assert (recorder.configured, recorder.enabled) == (True, True)
    assert (recorder.max_file_mb, recorder.max_file_age_s, recorder.max_total_mb) == (
        64.0,
        900.0,
        1024.0,
    )
    assert recorder.recordings_dir(config.outbox.path) == tmp_path / "state" / "recordings"


def test_a_table_without_enabled_gives_a_recorder_that_waits_for_a_command(
    tmp_path: Path,
) -> None:
    recorder = load_box_config(config_with(tmp_path, "\n[recorder]\n")).recorder
    assert (recorder.configured, recorder.enabled) == (True, False)


def test_every_key_is_read_and_a_relative_directory_is_the_configs(tmp_path: Path) -> None:
    table = (
        '\n[recorder]\nenabled = true\ndirectory = "logs/flight"\nmax_file_mb = 8\n'
        "max_file_age_s = 60\nmax_total_mb = 100.5\n"
    )
    config = load_box_config(config_with(tmp_path, table))
    assert config.recorder == RecorderConfig(True, True, tmp_path / "logs" / "flight", 8, 60, 100.5)
    assert config.recorder.recordings_dir(config.outbox.path) == tmp_path / "logs" / "flight"


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("enabled = 1", "recorder.enabled"),
        ("max_file_mb = 0", "recorder.max_file_mb"),
        ("max_file_age_s = -1", "recorder.max_file_age_s"),
        ("max_total_mb = nan", "recorder.max_total_mb"),
        ("max_file_mb = 100\nmax_total_mb = 50", "at least max_file_mb"),
        ('directory = ""', "recorder.directory"),
        ("size = 3", "size"),
    ],
)
def test_bad_recorder_tables_are_refused(tmp_path: Path, table: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_box_config(config_with(tmp_path, f"\n[recorder]\n{table}\n"))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(["enabled", "max_file_mb", "max_file_age_s", "max_total_mb", "directory"]),
    value=st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=10).map(lambda t: '"' + t.replace("\\", "").replace('"', "") + '"'),
    ),
)
def test_any_value_loads_within_bounds_or_is_refused_by_name(
    tmp_path: Path, key: str, value: object
) -> None:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    refused = ""
    try:
        recorder = load_box_config(
            config_with(tmp_path, f"\n[recorder]\n{key} = {text}\n")
        ).recorder
    except ConfigError as err:
        refused = str(err)
    if refused:
        # Named: the key, or max_file_mb for a total below it; or not TOML at all.
        assert key in refused or "max_file_mb" in refused or "TOML" in refused
        return
    assert 0 < recorder.max_file_mb <= recorder.max_total_mb
    assert recorder.max_file_age_s > 0
