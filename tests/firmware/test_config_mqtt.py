"""Boxes and the bridge read one ``[mqtt]`` table into one type, each with its role's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_py.config.loader import EXAMPLES_DIR, load_box_config, load_bridge_config
from firmware_py.errors import ConfigError
from protocols.mqtt_connection import MqttConnection

BRIDGE = (EXAMPLES_DIR / "bridge.toml").read_text()


def _bridge(tmp_path: Path, text: str) -> MqttConnection:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    return load_bridge_config(path).mqtt


def test_box_and_bridge_build_the_same_connection_type_with_their_defaults(
    tmp_path: Path,
) -> None:
    box = load_box_config(EXAMPLES_DIR / "roadside.toml").uplink.mqtt
    bridge = _bridge(tmp_path, BRIDGE.replace('client_id = "roadgate-bridge"\n', ""))
    assert type(box) is type(bridge) is MqttConnection
    assert (box.client_id, box.mqtt5, box.reconnect_min_s, box.reconnect_max_s) == (
        "rsu-001",
        False,
        0.5,
        30.0,
    )
    assert (bridge.client_id, bridge.mqtt5, bridge.reconnect_min_s, bridge.reconnect_max_s) == (
        "roadgate-bridge",
        True,
        1.0,
        30.0,
    )


def test_the_bridge_takes_the_reconnect_keys_a_box_takes(tmp_path: Path) -> None:
    text = BRIDGE.replace(
        "port = 1883\n", "port = 1883\nreconnect_min_s = 0.2\nreconnect_max_s = 4\n"
    )
    mqtt = _bridge(tmp_path, text)
    assert (mqtt.reconnect_min_s, mqtt.reconnect_max_s) == (0.2, 4.0)
    bad = BRIDGE.replace("port = 1883\n", "port = 1883\nreconnect_min_s = 5\nreconnect_max_s = 1\n")
    with pytest.raises(
        ConfigError, match=r"mqtt\.reconnect_max_s = 1\.0 is invalid: must not be below"
    ):
        _bridge(tmp_path, bad)
    with pytest.raises(ConfigError, match=r"unknown key 'mqtt\.expiry_s'"):
        _bridge(tmp_path, BRIDGE.replace("port = 1883\n", "port = 1883\nexpiry_s = 5\n"))
