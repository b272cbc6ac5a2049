"""Bridge settings are frozen and reject invalid values with the name and what would be valid."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.validation import CaptureWindow
from protocols.mqtt_connection import MqttConnection


def test_defaults() -> None:
    settings = BridgeSettings(BRIDGE_MQTT, Path("bridge.sqlite3"))

    assert settings.mqtt == MqttConnection(
        "127.0.0.1", 1883, "roadgate-bridge", 30, None, None, None, True, 1.0, 30.0
    )
    assert (settings.region, settings.max_payload_bytes, settings.subscribe_qos) == ("+", 65536, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.region = "xian"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "port 0"),
        ({"port": 70000}, "port 70000"),
        ({"keepalive_s": 0}, "keepalive_s 0"),
        ({"client_id": ""}, "client_id"),
        ({"reconnect_min_s": 0.0}, "reconnect_min_s 0.0"),
        ({"reconnect_min_s": 2.0, "reconnect_max_s": 1.0}, "reconnect_max_s 1.0"),
        ({"reconnect_max_s": math.inf}, "reconnect_max_s inf"),
        ({"reconnect_min_s": math.nan}, "reconnect_min_s nan"),
    ],
)
def test_mqtt_settings_reject_invalid_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MqttConnection(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "xi an"}, "region 'xi an'"),
        ({"region": "#"}, "region '#'"),
        ({"max_payload_bytes": 0}, "max_payload_bytes 0"),
        ({"subscribe_qos": 3}, "subscribe_qos 3"),
        ({"max_dead_letters": 0}, "max_dead_letters 0"),
        ({"max_dead_letter_bytes": -1}, "max_dead_letter_bytes -1"),
        ({"device_messages_per_s": 0.0}, "device_messages_per_s 0.0"),
        ({"device_bytes_per_s": math.nan}, "device_bytes_per_s nan"),
        ({"device_burst_s": -1.0}, "device_burst_s -1.0"),
        ({"device_backlog_bytes": 0}, "device_backlog_bytes 0"),
        ({"capture_max_age_s": -1.0}, "capture_max_age_s -1.0"),
        ({"capture_max_ahead_s": math.nan}, "capture_max_ahead_s nan"),
    ],
)
def test_bridge_settings_reject_invalid_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BridgeSettings(BRIDGE_MQTT, Path("x"), **kwargs)  # type: ignore[arg-type]


def test_bounds_have_defaults_sized_for_a_fleet() -> None:
    settings = BridgeSettings(BRIDGE_MQTT, Path("bridge.sqlite3"))

    assert settings.mqtt.mqtt5 is True
    assert (settings.max_dead_letters, settings.max_dead_letter_bytes) == (10_000, 16 * 2**20)
    # About 3x a four-radar roadside unit's ~70 msg/s, with 30 s of burst for a backlog.
    assert (settings.device_messages_per_s, settings.device_burst_s) == (200.0, 30.0)
    assert (settings.device_bytes_per_s, settings.device_backlog_bytes) == (2 * 2**20, 64 * 2**20)
    assert settings.capture_window == CaptureWindow(7 * 86_400.0, 300.0)


def test_the_packet_limit_leaves_room_for_a_topic_beyond_the_payload_limit() -> None:
    settings = BridgeSettings(BRIDGE_MQTT, Path("x"), max_payload_bytes=1000)

    # The largest topic (65,535 bytes) with a payload at the limit still fits.
    assert settings.max_packet_bytes >= 1000 + 65_535 + 2 + 5
    assert settings.max_packet_bytes < 1000 + 2 * 65_536
