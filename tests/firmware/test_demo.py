"""`roadgate demo`: the whole system in one command, stopped by its duration or by Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloud_bridge.store.sqlite_store import SqliteStore
from protocols.schema.v1 import roadgate_pb2 as pb

PROJECT = Path(__file__).resolve().parents[2]
DEVICES = {"rsu-001", "veh-001", "veh-002"}

pytestmark = pytest.mark.e2e


def demo(*args: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "firmware_py.cli", "demo", *args],
        cwd=PROJECT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def check_store(path: Path) -> None:
    with SqliteStore(path) as store:
        statuses = {s.device_id: s.liveness for s in store.device_statuses()}
        streams = {
            s: store.count_messages(stream=s)
            for s in ("state", "objects", "spat", "health", "status")
        }
        devices = {m.device_id for m in store.messages()}
        rejects = store.dead_letter_reasons()
    assert devices == DEVICES
    assert all(n > 0 for n in streams.values()), streams
    # Every box said goodbye before the bridge stopped: a clean shutdown.
    assert set(statuses) == DEVICES
    assert all("OFFLINE" in str(v) for v in statuses.values()), statuses
    assert rejects == {}


def day1_warnings(path: Path) -> dict[str, set[str]]:
    """Device -> the Day-1 applications that warned it (from the stored events)."""
    warned: dict[str, set[str]] = {}
    with SqliteStore(path) as store:
        for message in store.messages():
            if message.stream != "events":
                continue
            event = pb.Envelope.FromString(message.payload).event
            if event.application:
                warned.setdefault(message.device_id, set()).add(event.application)
    return warned


def test_demo_runs_for_its_duration_and_stores_every_device(tmp_path: Path) -> None:
    store, log = tmp_path / "demo.sqlite3", tmp_path / "demo.log"
    # The world runs on Unix time and veh-002's drive repeats every 25 s, speeding through the
    # MAP's lanes for about 9 s of them: 27 s catch that whenever the demo starts (8 s missed
    # it about one start in four).
    process = demo("--duration", "27", "--store", str(store), log=log)
    assert process.wait(timeout=90) == 0, log.read_text()
    output = log.read_text()
    assert "RoadGate demo stopped after" in output
    assert "3 devices" in output
    assert "devices online 3/3" in output, output  # the periodic summary line
    check_store(store)
    # The cars hear each other and the roadside unit over the demo's radio channel: veh-002
    # drives 65 km/h where the MAP's lanes say 50, a Day-1 speed limit warning, shown in the
    # summary's last events.
    assert "SLW" in day1_warnings(store).get("veh-002", set())
    assert "veh-002: SLW: " in output  # its log line


def test_ctrl_c_stops_the_demo_cleanly(tmp_path: Path) -> None:
    store, log = tmp_path / "demo.sqlite3", tmp_path / "demo.log"
    process = demo("--store", str(store), log=log)
    try:
        deadline = time.monotonic() + 60
        while "devices online 3/3" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "RoadGate demo stopped after" in log.read_text()
    assert "Traceback" not in log.read_text()
    check_store(store)
