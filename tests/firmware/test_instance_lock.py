"""One box per state: a second ``roadgate run`` on the same outbox is refused at once with one
line; the lock goes with its holder, even one killed with SIGKILL."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_py.box.instance_lock import (
    LOCK_SUFFIX,
    InstanceLock,
    StateLockedError,
    lock_box_state,
    lock_holder,
    lock_path,
)
from firmware_py.errors import FirmwareError
from tests.e2e.test_pipeline_end_to_end import PROJECT, box_config, roadgate, wait_for_line
from tests.support.mosquitto import Broker


def test_the_lock_file_sits_beside_the_outbox(tmp_path: Path) -> None:
    outbox = tmp_path / "veh-9-outbox.sqlite3"
    assert lock_path(outbox) == tmp_path / ("veh-9-outbox.sqlite3" + LOCK_SUFFIX)
    # Two names of one outbox meet on one lock.
    assert lock_path(tmp_path / "sub" / ".." / outbox.name) == lock_path(outbox)
    assert lock_path(Path(":memory:")) is None


def test_a_second_lock_on_one_state_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "state" / "box.lock"  # the directory is made
    with InstanceLock(path) as first:
        assert first.held
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(StateLockedError) as refused:
            InstanceLock(path).acquire()
        assert refused.value.pid == os.getpid()
        assert str(path) in str(refused.value)
        assert f"pid {os.getpid()}" in str(refused.value)
        assert lock_holder(path) == os.getpid()
    assert lock_holder(path) is None
    with InstanceLock(path):  # released: the next one takes it
        pass


def test_boxes_with_their_own_outboxes_do_not_meet(tmp_path: Path) -> None:
    # The demo runs several boxes in one process, each with its own outbox.
    with lock_box_state(tmp_path / "a.sqlite3"), lock_box_state(tmp_path / "b.sqlite3"):
        with lock_box_state(Path(":memory:")), lock_box_state(Path(":memory:")):
            pass
        with pytest.raises(StateLockedError):
            lock_box_state(tmp_path / "a.sqlite3").__enter__()


def test_a_lock_file_that_cannot_be_made_is_a_firmware_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(FirmwareError, match="cannot open the lock file"):
        InstanceLock(blocker / "box.lock").acquire()
    assert lock_holder(tmp_path / "missing.lock") is None


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=64))
def test_whatever_a_lock_file_holds_it_is_read_or_ignored(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "box.lock"
    path.write_bytes(content)
    holder = os.open(path, os.O_RDWR)  # another holder that wrote what it wrote
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(StateLockedError) as refused:
            InstanceLock(path).acquire()
        text = content.decode("ascii", "replace").strip()
        expected = int(text) if text.isdigit() else None  # a pid, or nothing usable
        assert refused.value.pid == expected
        assert lock_holder(path) == (-1 if expected is None else expected)
    finally:
        os.close(holder)
    with InstanceLock(path):  # a stale file of any content never blocks a start
        assert path.read_text() == f"{os.getpid()}\n"


@pytest.mark.mosquitto
def test_a_second_run_on_one_config_is_refused_and_sigkill_frees_the_state(
    tmp_path: Path, mosquitto: Broker
) -> None:
    config = box_config(tmp_path, "vehicle-toyota.toml", mosquitto)
    lock = tmp_path / ("vehicle-toyota.toml.outbox.sqlite3" + LOCK_SUFFIX)
    first_log = tmp_path / "first.log"
    first = roadgate("run", "--config", str(config), log=first_log)
    try:
        wait_for_line(first_log, "publishing to", first, timeout=60)
        second = subprocess.run(
            [sys.executable, "-m", "firmware_py.cli", "run", "--config", str(config)],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert second.stdout == ""
        assert second.stderr.count("\n") == 1, second.stderr
        assert second.stderr.startswith("roadgate: error: another box already runs")
        assert str(lock) in second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert first.poll() is None  # the first box runs on, untouched
        assert lock_holder(lock) == first.pid
    finally:
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    assert lock.exists()  # left behind by the killed box, and no obstacle:
    third_log = tmp_path / "third.log"
    third = roadgate("run", "--config", str(config), "--duration", "2", log=third_log)
    assert third.wait(timeout=60) == 0, third_log.read_text()
    assert "publishing to" in third_log.read_text()
