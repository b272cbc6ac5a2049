"""``[bridge] share_group``: a shared subscription and a client id of each worker's own."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud_bridge.session import topic_filter, worker_client_id
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from firmware_py.config.loader import load_bridge_config
from firmware_py.errors import ConfigError


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    return path


def test_without_a_group_the_subscription_is_plain_and_the_id_the_bridge_s(
    tmp_path: Path,
) -> None:
    settings = load_bridge_config(_config(tmp_path, '[bridge]\nregion = "xian"\n'))

    assert settings.share_group is None
    assert topic_filter(settings) == "rg/v1/xian/+/+"
    assert settings.mqtt.client_id == "roadgate-bridge"


def test_a_group_shares_the_subscription_and_names_the_worker_after_its_host(
    tmp_path: Path,
) -> None:
    settings = load_bridge_config(_config(tmp_path, '[bridge]\nshare_group = "ingest"\n'))

    assert settings.share_group == "ingest"
    assert topic_filter(settings) == "$share/ingest/rg/v1/+/+/+"
    assert settings.mqtt.client_id == worker_client_id("ingest", socket.gethostname())
    assert settings.mqtt.client_id.startswith("roadgate-bridge-ingest-")


def test_an_explicit_client_id_wins(tmp_path: Path) -> None:
    text = '[mqtt]\nclient_id = "worker-7"\n[bridge]\nshare_group = "ingest"\n'
    assert load_bridge_config(_config(tmp_path, text)).mqtt.client_id == "worker-7"


@pytest.mark.parametrize("group", ["", "a/b", "+", "#", "has space", 7])
def test_an_invalid_group_is_rejected_with_its_key(tmp_path: Path, group: object) -> None:
    value = f'"{group}"' if isinstance(group, str) else str(group)
    with pytest.raises(ConfigError, match="share_group"):
        load_bridge_config(_config(tmp_path, f"[bridge]\nshare_group = {value}\n"))


def test_settings_reject_an_invalid_group() -> None:
    with pytest.raises(ValueError, match="share_group"):
        BridgeSettings(BRIDGE_MQTT, Path("x.sqlite3"), share_group="a/b")


@given(st.text(max_size=80))
def test_worker_ids_are_stable_and_safe_for_any_host_name(host: str) -> None:
    client_id = worker_client_id("ingest", host)

    assert client_id == worker_client_id("ingest", host)
    assert client_id.startswith("roadgate-bridge-ingest-")
    assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in client_id)
    assert not client_id.endswith("-")
