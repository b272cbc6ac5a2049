"""The bridge's bounds in its config file: defaults, every key read, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_py.config.loader import load_bridge_config
from firmware_py.errors import ConfigError

BASE = """
[mqtt]
host = "127.0.0.1"
{mqtt}
[bridge]
store = "b.sqlite3"
{bridge}
"""


def _write(tmp_path: Path, bridge: str, mqtt: str = "") -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(BASE.format(bridge=bridge, mqtt=mqtt))
    return path


def test_defaults_match_the_settings(tmp_path: Path) -> None:
    settings = load_bridge_config(_write(tmp_path, ""))

    assert settings.mqtt.mqtt5 is True
    assert (settings.max_dead_letters, settings.max_dead_letter_bytes) == (10_000, 16 * 2**20)
    assert (settings.device_messages_per_s, settings.device_bytes_per_s) == (200.0, 2 * 2**20)
    assert (settings.device_burst_s, settings.device_backlog_bytes) == (30.0, 64 * 2**20)
    assert (settings.capture_max_age_s, settings.capture_max_ahead_s) == (604_800.0, 300.0)


def test_every_bound_is_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "max_dead_letters = 500\n"
        "max_dead_letter_bytes = 1048576\n"
        "device_messages_per_s = 50\n"
        "device_bytes_per_s = 65536.5\n"
        "device_burst_s = 5\n"
        "device_backlog_bytes = 4096\n"
        "capture_max_age_s = 86400\n"
        "capture_max_ahead_s = 0\n",
        mqtt="mqtt5 = false",
    )

    settings = load_bridge_config(path)

    assert settings.mqtt.mqtt5 is False
    assert (settings.max_dead_letters, settings.max_dead_letter_bytes) == (500, 1_048_576)
    assert (settings.device_messages_per_s, settings.device_bytes_per_s) == (50.0, 65536.5)
    assert (settings.device_burst_s, settings.device_backlog_bytes) == (5.0, 4096)
    assert (settings.capture_max_age_s, settings.capture_max_ahead_s) == (86_400.0, 0.0)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("max_dead_letters = 0", "bridge.max_dead_letters = 0"),
        ("max_dead_letter_bytes = -5", "bridge.max_dead_letter_bytes = -5"),
        ("max_dead_letters = 1.5", "bridge.max_dead_letters = 1.5"),
        ("device_messages_per_s = 0", "bridge.device_messages_per_s = 0"),
        ("device_bytes_per_s = nan", "bridge.device_bytes_per_s = nan"),
        ("device_burst_s = -1", "bridge.device_burst_s = -1"),
        ("device_burst_s = inf", "bridge.device_burst_s = inf"),
        ("device_backlog_bytes = 0", "bridge.device_backlog_bytes = 0"),
        ('capture_max_age_s = "a week"', "bridge.capture_max_age_s = 'a week'"),
        ("capture_max_ahead_s = -0.5", "bridge.capture_max_ahead_s = -0.5"),
        ("max_dead_leters = 5", "max_dead_leters"),
    ],
)
def test_a_bad_bound_is_named_with_its_value(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_bridge_config(_write(tmp_path, line))
    assert key in str(caught.value)


def test_mqtt5_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mqtt\.mqtt5 = 'yes'"):
        load_bridge_config(_write(tmp_path, "", mqtt='mqtt5 = "yes"'))
