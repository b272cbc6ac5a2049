"""The bridge acknowledges a QoS 1 message to the broker only once it is committed (real Mosquitto).

The SIGKILL case, with the bridge as a separate process, is tests/e2e/test_bridge_killed.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from cloud_bridge.errors import StoreError
from cloud_bridge.service import BridgeService
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.store import SqliteStore
from tests.cloud_bridge.factories import envelope, topic
from tests.cloud_bridge.running import running_bridge, stop
from tests.support.mosquitto import Broker
from tests.support.waiting import eventually

pytestmark = pytest.mark.mosquitto


def _settings(broker: Broker, tmp_path: Path) -> BridgeSettings:
    return BridgeSettings(
        replace(BRIDGE_MQTT, host=broker.host, port=broker.port, client_id="ack-after-commit"),
        tmp_path / "bridge.sqlite3",
    )


async def _publish(broker: Broker, sequences: range) -> None:
    """Publish QoS 1 envelopes; each publish returns once the broker acknowledged it."""
    async with aiomqtt.Client(broker.host, broker.port) as publisher:
        for sequence in sequences:
            payload = envelope("rsu-001", sequence).SerializeToString()
            await publisher.publish(topic("rsu-001"), payload, qos=1)


def _stored(path: Path) -> list[int]:
    with SqliteStore(path) as store:
        return [m.sequence for m in store.messages("rsu-001")]


@pytest.mark.asyncio
async def test_a_failed_commit_acknowledges_nothing_so_the_broker_sends_it_again(
    mosquitto: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(mosquitto, tmp_path)
    # The disk fails: the first batch is never committed and the bridge stops with StoreError.
    with monkeypatch.context() as faulty:

        def disk_full(*_: object) -> bool:
            raise StoreError("disk full (injected)")

        faulty.setattr(SqliteStore, "store", disk_full)
        first = BridgeService(settings)
        ready = asyncio.Event()
        task = asyncio.create_task(first.run(ready), name="bridge-with-a-full-disk")
        await asyncio.wait_for(ready.wait(), timeout=10)
        await _publish(mosquitto, range(1, 51))
        with pytest.raises(StoreError):
            await asyncio.wait_for(task, timeout=10)
    assert first.stats.received >= 1
    assert _stored(settings.store_path) == []

    # The disk is back: what the failed bridge received was never acknowledged, so the broker
    # sends it again to the restarted one.
    second = BridgeService(settings)
    task = asyncio.create_task(second.run(), name="bridge-restarted")
    try:
        await eventually(lambda: second.stats.stored == 50, what="all 50 stored after restart")
    finally:
        await stop(task)
    assert sorted(_stored(settings.store_path)) == list(range(1, 51))


@pytest.mark.asyncio
async def test_what_a_stopped_bridge_committed_is_acknowledged_and_not_sent_again(
    mosquitto: Broker, tmp_path: Path
) -> None:
    settings = _settings(mosquitto, tmp_path)
    first = BridgeService(settings)
    async with running_bridge(first, "bridge-first-run"):
        await _publish(mosquitto, range(1, 301))
        await eventually(lambda: first.stats.stored == 300, what="300 stored")

    second = BridgeService(settings)
    async with running_bridge(second, "bridge-second-run"):
        # The broker sends a session's unacknowledged messages before new ones: once this one
        # is stored, any redelivery of the first 300 would have been received already.
        await _publish(mosquitto, range(301, 302))
        await eventually(lambda: second.stats.stored == 1, what="the new message stored")
    assert (second.stats.received, second.stats.duplicates) == (1, 0)
    assert sorted(_stored(settings.store_path)) == list(range(1, 302))
