"""A box or bridge talking plain MQTT to a broker off this machine warns once at start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_py.broker_security import is_loopback_host, plaintext_warning, warn_if_plaintext
from firmware_py.cli import main
from firmware_py.config.loader import EXAMPLES_DIR

LOOPBACK = ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "LocalHost."]
LOOPBACK += ["broker.localhost"]
REMOTE = ["192.168.1.20", "10.0.0.5", "8.8.8.8", "2001:db8::1", "0.0.0.0", "broker.lan"]
REMOTE += ["mqtt.example.com", "localhost.example.com", "rsu-gw", ""]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", REMOTE)
def test_other_hosts_count_as_remote(host: str) -> None:
    assert not is_loopback_host(host)


@given(st.text())
def test_any_host_text_is_classified(host: str) -> None:
    assert isinstance(is_loopback_host(host), bool)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The plaintext check's warnings (a box also warns of other things as it starts)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == "firmware_py.broker_security"
    ]


@pytest.mark.parametrize("host", LOOPBACK + REMOTE)
@pytest.mark.parametrize("tls", [False, True])
def test_one_warning_only_for_plain_mqtt_off_this_machine(
    caplog: pytest.LogCaptureFixture, host: str, tls: bool
) -> None:
    caplog.set_level(logging.INFO)
    warned = warn_if_plaintext(host, 1883, tls=tls, source="box.toml")
    expected = not tls and host in REMOTE
    assert warned == expected
    if expected:
        (message,) = warnings_of(caplog)
        assert message == plaintext_warning(host, 1883, tls=False, source="box.toml")
        assert f"{host}:1883 without TLS" in message
        assert "[mqtt.tls]" in message
        assert "box.toml" in message
    else:
        assert warnings_of(caplog) == []


def unwritable(tmp_path: Path) -> Path:
    """A path whose directory cannot be created (its parent is a file): start-up fails there,
    after the warning and before any connection."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    return blocker / "state" / "file.sqlite3"


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("host_kind", ["box", "bridge"])
def test_the_box_and_the_bridge_warn_at_start(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tls: bool,
    host_kind: str,
) -> None:
    host = "mqtt.example.com"
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("")  # only its existence is checked before the start fails
    config = tmp_path / f"{host_kind}.toml"
    if host_kind == "box":
        # The box takes its instance lock beside its outbox first, then warns, then fails at
        # a CAN interface this machine does not have: after the warning, before connecting.
        text = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
        text = text.replace('interface = "virtual"', 'interface = "socketcan"', 1)
        text = text.replace('channel = "veh-001-powertrain"', 'channel = "rgnone0"', 1)
        text += f'\n[outbox]\npath = "{tmp_path / "outbox.sqlite3"}"\n'
        args = ["run", "--config", str(config)]
    else:
        text = (EXAMPLES_DIR / "bridge.toml").read_text()
        text = text.replace('"roadgate-bridge.sqlite3"', f'"{unwritable(tmp_path)}"')
        args = ["bridge", "--config", str(config)]
    assert 'host = "127.0.0.1"' in text
    text = text.replace('host = "127.0.0.1"', f'host = "{host}"', 1)
    if tls:
        text += f'\n[mqtt.tls]\nca_file = "{ca_file}"\n'
    config.write_text(text)
    caplog.set_level(logging.INFO)
    assert main(args) == 2  # failed at a port, its store or outbox, before connecting
    error = capsys.readouterr().err
    assert error.startswith("roadgate: error: "), error
    assert error.count("\n") == 1, error
    expected = [] if tls else [plaintext_warning(host, 1883, tls=False, source=str(config))]
    assert warnings_of(caplog) == expected
