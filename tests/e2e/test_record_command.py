"""The remote ``record`` command against a running box (a box subprocess, a private Mosquitto,
commands signed by ``roadgate command send``): captures started, timed and stopped, each a
complete flight log; a box without ``[recorder]`` says so."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from edge.recording.log_format import Kind
from edge.recording.reader import ReadReport, read_logs
from tests.e2e.test_pipeline_end_to_end import box_config, roadgate, wait_for_line
from tests.e2e.test_remote_commands import keygen, send
from tests.support.mosquitto import Broker

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.splitlines()[-1]


def complete_logs(directory: Path) -> list[tuple[ReadReport, set[str]]]:
    """Each log file's report and the channel kinds it holds."""
    found = []
    for path in sorted(directory.glob("*.mcap")):
        reports: list[ReadReport] = []
        kinds = {item.channel.kind.value for item in read_logs([path], reports)}
        found.append((reports[0], kinds))
    return found


def start_box(
    tmp_path: Path, mosquitto: Broker, trusted: str, extra: str
) -> tuple[subprocess.Popen[bytes], Path]:
    config = box_config(tmp_path, "vehicle-toyota.toml", mosquitto)
    with config.open("a") as f:
        f.write(f'\n[commands]\ntrusted_keys = ["{trusted}"]\n[metrics]\nenabled = false\n{extra}')
    log = tmp_path / "box.log"
    box = roadgate("run", "--config", str(config), log=log)
    wait_for_line(log, "publishing to", box, timeout=30)
    return box, log


def stop_box(box: subprocess.Popen[bytes]) -> None:
    box.send_signal(signal.SIGTERM)
    assert box.wait(timeout=30) == 0


def test_record_starts_times_and_stops_captures(tmp_path: Path, mosquitto: Broker) -> None:
    key = tmp_path / "operator"
    trusted = keygen(key)
    logs = tmp_path / "flight"
    box, log = start_box(tmp_path, mosquitto, trusted, f'[recorder]\ndirectory = "{logs}"\n')
    try:
        idle = send(mosquitto, key, "record", "--action", "stop")
        assert (idle.returncode, last_line(idle)) == (0, "DONE: not recording"), idle
        assert not list(logs.glob("*.mcap"))
        timed = send(mosquitto, key, "record", "--action", "start", "--arg", "duration_s=2")
        assert timed.returncode == 0, timed
        assert last_line(timed).startswith(f"DONE: recording into {logs}/veh-001-")
        assert last_line(timed).endswith(" for 2 s")
        # It stops by itself: the file is finished, with its summary and footer.
        deadline = time.monotonic() + 15
        while not (found := complete_logs(logs)) or not found[0][0].complete:
            assert time.monotonic() < deadline, found
            time.sleep(0.2)
        (first, kinds) = found[0]
        assert first.metadata["device_id"] == "veh-001"
        assert {Kind.CAN.value, Kind.SERIAL.value, Kind.ENVELOPE.value} <= kinds
        assert not first.damaged
        started = send(mosquitto, key, "record", "--action", "start")
        assert last_line(started).endswith("until stopped"), started
        time.sleep(1.5)
        stopped = send(mosquitto, key, "record", "--action", "stop")
        assert stopped.returncode == 0, stopped
        assert last_line(stopped).startswith("DONE: stopped; "), stopped
        second = complete_logs(logs)
        assert len(second) == 2
        assert all(report.complete for report, _ in second)
        bad = send(mosquitto, key, "record", "--action", "start", "--arg", "duration_s=-1")
        assert bad.returncode == 1
        assert "REJECTED: bad_arguments" in bad.stdout
    finally:
        stop_box(box)
    assert "Traceback" not in log.read_text()


def test_a_box_without_a_recorder_says_so(tmp_path: Path, mosquitto: Broker) -> None:
    key = tmp_path / "operator"
    trusted = keygen(key)
    box, _ = start_box(tmp_path, mosquitto, trusted, "")
    try:
        refused = send(mosquitto, key, "record", "--action", "start")
        assert refused.returncode == 1
        assert last_line(refused) == "FAILED: not available: no [recorder] in this box's config"
    finally:
        stop_box(box)
