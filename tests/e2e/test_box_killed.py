"""A box killed with SIGKILL during a broker outage, then restarted: nothing that entered its
outbox is lost, and the backlog arrives marked historical."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from cloud_bridge.store.sqlite_store import SqliteStore
from protocols.envelope import decode
from tests.e2e.test_pipeline_end_to_end import box_config, roadgate, wait_for_line
from tests.support.mosquitto import private_mosquitto
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]


def outbox_rows(path: Path) -> set[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        return set(db.execute("SELECT boot_id, sequence FROM outbox").fetchall())


def stored(path: Path) -> dict[tuple[str, int], bytes]:
    with SqliteStore(path) as store:
        return {(m.boot_id, m.sequence): m.payload for m in store.messages("veh-001")}


def test_sigkill_during_an_outage_then_restart_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "bridge.sqlite3"
    outbox = tmp_path / "vehicle-toyota.toml.outbox.sqlite3"
    with private_mosquitto(tmp_path, persistent=True) as broker:
        port = broker.port
        conf = tmp_path / "bridge.toml"
        conf.write_text(
            f'[mqtt]\nport = {port}\nclient_id = "kill-bridge"\n[bridge]\nstore = "{store}"\n'
        )
        bridge_log = tmp_path / "bridge.log"
        bridge = roadgate("bridge", "--config", str(conf), log=bridge_log)
        wait_for_line(bridge_log, "subscribed to", bridge, timeout=30)
        config = box_config(tmp_path, "vehicle-toyota.toml", broker)
        log = tmp_path / "first.log"
        box = roadgate("run", "--config", str(config), log=log)
        wait_for_line(log, "publishing to", box, timeout=30)
        wait_until(lambda: len(stored(store)) > 0, 30, "the first run's messages stored")
    try:
        # The broker is gone (sessions saved); the box keeps sensing into its outbox...
        wait_until(lambda: len(outbox_rows(outbox)) > 5, 30, "a backlog in the outbox")
        box.send_signal(signal.SIGKILL)  # ...and dies without a chance to clean up.
        assert box.wait(timeout=10) == -signal.SIGKILL
        waiting = outbox_rows(outbox)  # committed, never acknowledged by a broker
        assert len(waiting) > 5, "the outage should have left a backlog"
        with private_mosquitto(tmp_path, port=port, persistent=True):
            restart_log = tmp_path / "second.log"
            again = roadgate("run", "--config", str(config), "--duration", "4", log=restart_log)
            assert again.wait(timeout=60) == 0, restart_log.read_text()
            deadline = time.monotonic() + 30
            while not waiting <= set(stored(store)) and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=15)
    after = stored(store)
    missing = waiting - set(after)
    assert not missing, f"lost from the outbox: {sorted(missing)[:10]}"
    # The restarted box sent the whole backlog. (A message of its own still in flight when it
    # stopped may stay in the outbox: it goes out at the next start, and the bridge dedupes.)
    assert not outbox_rows(outbox) & waiting
    assert len({boot for boot, _ in after}) == 2  # two runs, two boot ids
    assert all(decode(after[key]).historical for key in waiting)
