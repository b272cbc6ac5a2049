"""``roadgate bridge`` on PostgreSQL, SIGKILLed again and again while QoS 1 messages stream in:
every message the broker acknowledged to its publisher is stored exactly once, and the loss
accounting says nothing is missing. The schema comes from ``roadgate bridge migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_bridge.store.postgres_store import PostgresStore
from firmware_py.cli import main
from tests.cloud_bridge.postgres_db import fresh_schema, schema_dsn, schema_url
from tests.e2e.test_bridge_killed import _Publisher
from tests.e2e.test_pipeline_end_to_end import roadgate, wait_for_line
from tests.support.mosquitto import private_mosquitto
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]

KILLS = 5
SEED = 20261204


@pytest.fixture
def schema() -> Iterator[str]:
    with fresh_schema(migrated=False) as name:
        yield name


def _stored(dsn: str) -> list[tuple[str, int]]:
    with PostgresStore(dsn) as store:
        return [(m.device_id, m.sequence) for m in store.messages()]


def _start_bridge(conf: Path, log: Path) -> subprocess.Popen[bytes]:
    bridge = roadgate("bridge", "--config", str(conf), log=log)
    wait_for_line(log, "subscribed to", bridge, timeout=30)
    return bridge


def test_sigkilled_bridge_on_postgresql_stores_each_message_once(
    tmp_path: Path, schema: str
) -> None:
    rng = random.Random(SEED)
    dsn = schema_dsn(schema)
    conf = tmp_path / "bridge.toml"
    # The debug log shows each PUBLISH the broker sends, with its dup flag: the redeliveries.
    with private_mosquitto(tmp_path, extra_config="log_type debug\n") as broker:
        client_id = f"pg-killed-{broker.port}"
        conf.write_text(
            f'[mqtt]\nport = {broker.port}\nclient_id = "{client_id}"\n'
            f'[bridge]\nstore = "{schema_url(schema)}"\nretention_days = 30\n'
        )
        assert main(["bridge", "migrate", "--config", str(conf)]) == 0
        bridge = _start_bridge(conf, tmp_path / "bridge-0.log")
        stop = threading.Event()
        publisher = _Publisher(broker, stop)
        publisher.start()
        try:
            for kill in range(1, KILLS + 1):
                # A random moment (a sleep that waits for nothing) in the stream.
                time.sleep(rng.uniform(0.1, 0.5))
                bridge.send_signal(signal.SIGKILL)
                assert bridge.wait(timeout=10) == -signal.SIGKILL
                bridge = _start_bridge(conf, tmp_path / f"bridge-{kill}.log")
            stop.set()
            publisher.join(timeout=30)
            assert publisher.error is None, publisher.error
            acknowledged = publisher.acknowledged()
            assert len(acknowledged) == len(publisher.infos) >= 1000
            with contextlib.suppress(AssertionError):
                asyncio.run(eventually(lambda: acknowledged <= set(_stored(dsn)), within_s=20))
        finally:
            stop.set()
            bridge.send_signal(signal.SIGTERM)
            bridge.wait(timeout=15)
        redelivered = broker.log_path.read_text(errors="replace").count(
            f"Sending PUBLISH to {client_id} (d1"
        )

    rows = _stored(dsn)
    lost = acknowledged - set(rows)
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged messages lost"
    assert sorted(rows) == sorted(acknowledged)  # each once, and nothing else
    with PostgresStore(dsn) as store:
        totals = store.loss_totals()
    assert totals.delivered == len(acknowledged)
    # The kills left messages unacknowledged, which the broker sent again to the restarted
    # bridge: the database's key kept one copy of each.
    assert redelivered > 0
    print(f"kills={KILLS} stored={len(rows)} redelivered={redelivered} dup={totals.duplicates}")
