"""Bridge settings are frozen and reject invalid values with the name and what would be valid."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cloud_bridge.settings import BridgeSettings, MqttSettings


def test_defaults() -> None:
    settings = BridgeSettings(MqttSettings(), Path("bridge.sqlite3"))

    assert settings.mqtt == MqttSettings("127.0.0.1", 1883, "roadgate-bridge", 30, None, None)
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
    ],
)
def test_mqtt_settings_reject_invalid_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MqttSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "xi an"}, "region 'xi an'"),
        ({"region": "#"}, "region '#'"),
        ({"max_payload_bytes": 0}, "max_payload_bytes 0"),
        ({"subscribe_qos": 3}, "subscribe_qos 3"),
    ],
)
def test_bridge_settings_reject_invalid_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BridgeSettings(MqttSettings(), Path("x"), **kwargs)  # type: ignore[arg-type]
