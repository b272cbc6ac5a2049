"""The bridge service end to end into PostgreSQL: real Mosquitto, real database, a listener."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from cloud_bridge.service import BridgeService
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.store.change_stream import CHANGE_CHANNEL, ChangeNotice, follow_changes
from cloud_bridge.store.postgres_store import PostgresStore
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import envelope, status, topic
from tests.cloud_bridge.postgres_db import fresh_schema, schema_dsn, wait_for_listener
from tests.cloud_bridge.running import running_bridge
from tests.support.mosquitto import Broker
from tests.support.waiting import eventually

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def schema() -> Iterator[str]:
    with fresh_schema() as name:
        yield name


@pytest.mark.asyncio
async def test_the_bridge_stores_into_postgresql_once_and_notifies(
    mosquitto: Broker, schema: str, tmp_path: Path
) -> None:
    dsn = schema_dsn(schema)
    # The channel is database-wide: this test's own device ids tell its notices apart.
    run = uuid.uuid4().hex[:8]
    obu1, obu2, rsu = f"obu-1-{run}", f"obu-2-{run}", f"rsu-1-{run}"
    mqtt = replace(BRIDGE_MQTT, host=mosquitto.host, port=mosquitto.port)
    settings = BridgeSettings(
        replace(mqtt, client_id=f"bridge-pg-{mosquitto.port}"),
        tmp_path / "unused.sqlite3",
        store_dsn=dsn,
    )
    good = [
        (topic(dev), envelope(dev, seq).SerializeToString())
        for seq in (1, 2, 3, 5)
        for dev in (obu1, obu2)
    ]
    good.append((topic(rsu, "status"), status(rsu, 1, pb.LIVENESS_ONLINE).SerializeToString()))
    bad = [(topic(obu1), b"\xff\xfe not protobuf")]
    expected = {(dev, seq) for seq in (1, 2, 3, 5) for dev in (obu1, obu2)}
    expected.add((rsu, 1))

    # A cloud service following the store: it stops once every message was announced.
    notices: list[ChangeNotice] = []

    def follow() -> None:
        announced: set[tuple[str, int]] = set()
        for notice in follow_changes(dsn, timeout_s=30):
            if notice.device_id not in (obu1, obu2, rsu):
                continue
            notices.append(notice)
            announced |= {
                (notice.device_id, s)
                for s in range(notice.first_sequence, notice.last_sequence + 1)
            }
            if expected <= announced:
                return

    listener = threading.Thread(target=follow, daemon=True)
    listener.start()
    wait_for_listener(dsn, CHANGE_CHANNEL)

    service = BridgeService(settings, loss_refresh_s=0.0)
    async with running_bridge(service):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            for where, payload in [*good, good[0], good[1], *bad]:
                await publisher.publish(where, payload, qos=1)
        await eventually(lambda: service.stats.received == len(good) + 3)

    snap = service.stats.snapshot()
    assert (snap.stored, snap.duplicates, snap.rejected_total) == (len(good), 2, 1)
    # The loss totals the stats carry: sequence 4 of each vehicle never came.
    assert (snap.loss_delivered, snap.loss_duplicates, snap.loss_missing) == (len(good), 2, 2)
    with PostgresStore(dsn) as store:
        stored = store.messages()
        assert sorted(m.payload for m in stored) == sorted(payload for _, payload in good)
        assert [(d.reason, d.payload) for d in store.dead_letters()] == [("malformed", bad[0][1])]
        (latest,) = store.device_statuses()
        assert (latest.device_id, latest.liveness) == (rsu, "LIVENESS_ONLINE")
        loss = {r.device_id: r for r in store.loss_accounting()}
        assert {(d, r.delivered, r.missing) for d, r in loss.items()} == {
            (obu1, 4, 1),
            (obu2, 4, 1),
            (rsu, 1, 0),
        }
        assert sum(r.duplicates for r in loss.values()) == 2

    await asyncio.to_thread(listener.join, 30)
    assert not listener.is_alive(), "the listener was not told of every stored message"
    assert {n.stream for n in notices} == {"state", "status"}
