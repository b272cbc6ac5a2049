"""`[web]` in the bridge config, `--http ADDR:PORT`, and API key hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud_bridge.errors import BridgeError
from cloud_bridge.settings import BridgeSettings
from cloud_bridge.web.api_keys import KeyRing, check_key_hash, hash_key, new_key
from cloud_bridge.web.server import listening_socket
from cloud_bridge.web.web_config import parse_listen
from firmware_py.config.loader import load_bridge_config
from firmware_py.errors import ConfigError

BASE = """
[mqtt]
host = "127.0.0.1"
[bridge]
store = "bridge.sqlite3"
"""


def test_web_table_is_read_into_the_settings(tmp_path: Path) -> None:
    key_hash = hash_key("k" * 40)
    settings = load_bridge_config_with(
        tmp_path,
        f"""
[web]
listen = "0.0.0.0:9000"
client_queue = 32
[web.api_keys]
region-1 = ["{key_hash}"]
""",
    )
    web = settings.web
    assert web is not None
    assert (web.host, web.port, web.client_queue) == ("0.0.0.0", 9000, 32)
    assert dict(web.api_key_hashes) == {"region-1": (key_hash,)}


def load_bridge_config_with(tmp_path: Path, web: str) -> BridgeSettings:
    path = tmp_path / "bridge.toml"
    path.write_text(BASE + web)
    return load_bridge_config(path)


def test_no_web_table_means_no_http(tmp_path: Path) -> None:
    assert load_bridge_config_with(tmp_path, "").web is None


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ('[web]\nlisten = "example.com:80"', "web.listen"),
        ('[web]\nlisten = "127.0.0.1:70000"', "web.listen"),
        ("[web]\nclient_queue = 0", "web.client_queue"),
        ("[web]\ntypo = 1", "unknown key 'web.typo'"),
        ('[web.api_keys]\nregion-1 = ["plain-text-key"]', "web.api_keys.region-1"),
        ('[web.api_keys]\n"bad/region" = []', "bad/region"),
    ],
)
def test_invalid_web_settings_name_the_key(tmp_path: Path, web: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_bridge_config_with(tmp_path, web)


def test_listen_addresses() -> None:
    assert parse_listen("8081") == ("127.0.0.1", 8081)  # loopback unless said otherwise
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    assert parse_listen(":8080") == ("127.0.0.1", 8080)
    for bad in ("host:1", "127.0.0.1:", "127.0.0.1:-1", "1.2.3.4:99999", ""):
        with pytest.raises(ValueError, match=r"is not|port"):
            parse_listen(bad)


@given(st.text(max_size=60))
def test_listen_parses_or_refuses_any_text(text: str) -> None:
    try:
        host, port = parse_listen(text)
    except ValueError:
        return
    assert 0 <= port <= 65535
    assert host


def test_keys_are_kept_as_hashes_and_map_to_their_regions() -> None:
    key, other = new_key(), new_key()
    assert key != other
    assert len(key) >= 43
    stored = hash_key(key)
    assert key not in stored
    assert check_key_hash(stored) == stored
    ring = KeyRing({"a": (stored,), "b": (stored, hash_key(other))})
    assert ring.regions_of(key) == frozenset({"a", "b"})
    assert ring.regions_of(other) == frozenset({"b"})
    assert ring.regions_of("nope") is None
    with pytest.raises(ValueError, match="not a key hash"):
        KeyRing({"a": ("sha256:xyz",)})


def test_an_address_in_use_is_a_bridge_error() -> None:
    taken = listening_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(BridgeError, match=f"cannot serve HTTP on 127.0.0.1:{port}"):
            listening_socket("127.0.0.1", port)
    finally:
        taken.close()
