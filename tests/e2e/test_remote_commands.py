"""``roadgate command`` against a running box: a key pair made by keygen, a signed ping, a key
the box does not trust, a config change kept and one rolled back by the box itself."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_py.config.loader import load_box_config
from tests.e2e.test_pipeline_end_to_end import PROJECT, box_config, roadgate, wait_for_line
from tests.support.mosquitto import Broker, free_port

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]

DEVICE = "xian-gaoxin/veh-001"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware_py.cli", *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def keygen(prefix: Path) -> str:
    """Make a key pair; returns the trusted_keys entry it printed."""
    made = cli("command", "keygen", "--out", str(prefix))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(prefix.stat().st_mode) == 0o600
    assert "BEGIN PUBLIC KEY" in prefix.with_name(prefix.name + ".pub").read_text()
    return made.stdout.strip().splitlines()[-1].strip().strip('"')


def send(broker: Broker, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(
        "command", "send", "--port", str(broker.port), "--key", str(key), "--device", DEVICE,
        "--timeout", "60", *args,
    )  # fmt: skip


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    keygen(tmp_path / "operator")
    again = cli("command", "keygen", "--out", str(tmp_path / "operator"))
    assert again.returncode == 2
    assert "cannot write the key pair" in again.stderr


def test_signed_commands_to_a_running_box(tmp_path: Path, mosquitto: Broker) -> None:
    key, stranger = tmp_path / "operator", tmp_path / "stranger"
    trusted = keygen(key)
    keygen(stranger)
    config = box_config(tmp_path, "vehicle-toyota.toml", mosquitto)
    with config.open("a") as f:
        f.write(f'\n[commands]\ntrusted_keys = ["{trusted}"]\nconfig_deadline_s = 4\n')
    log = tmp_path / "box.log"
    box = roadgate("run", "--config", str(config), log=log)
    try:
        wait_for_line(log, "publishing to", box, timeout=30)
        pong = send(mosquitto, key, "ping")
        assert (pong.returncode, pong.stdout.splitlines()[-1]) == (0, "DONE: pong"), pong
        refused = send(mosquitto, stranger, "ping")
        assert refused.returncode == 1
        assert "REJECTED: unknown_key" in refused.stdout
        patch = tmp_path / "patch.toml"
        patch.write_text("[health]\nperiod_s = 2\n")
        kept = send(mosquitto, key, "set_config", "--patch", str(patch))
        assert kept.returncode == 0, (kept, log.read_text())
        assert "ACCEPTED" in kept.stdout
        assert load_box_config(config).health_period_s == 2.0
        good = config.read_text()
        patch.write_text(f"[mqtt]\nport = {free_port()}\n")  # a broker that is not there
        rolled_back = send(mosquitto, key, "set_config", "--patch", str(patch))
        assert rolled_back.returncode == 1, (rolled_back, log.read_text())
        assert "FAILED: rolled back: not connected within 4 s" in rolled_back.stdout
        assert config.read_text() == good
        assert box.poll() is None  # the same process throughout: it restarted itself in place
    finally:
        box.send_signal(signal.SIGTERM)
        box.wait(timeout=30)
