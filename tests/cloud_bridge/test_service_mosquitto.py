"""BridgeService on a real private Mosquitto: good messages stored once, bad ones dead-lettered."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from cloud_bridge.service import BridgeService
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.store import SqliteStore
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import envelope, status, topic
from tests.cloud_bridge.running import running_bridge, stop
from tests.support.mosquitto import Broker, free_port, private_mosquitto
from tests.support.waiting import eventually

pytestmark = pytest.mark.mosquitto

LIMIT = 2048


def _settings(
    host: str, port: int, tmp_path: Path, reconnect: tuple[float, float] = (1.0, 30.0)
) -> BridgeSettings:
    low, high = reconnect
    mqtt = replace(BRIDGE_MQTT, host=host, port=port, client_id=f"bridge-{port}")
    return BridgeSettings(
        replace(mqtt, reconnect_min_s=low, reconnect_max_s=high),
        tmp_path / "bridge.sqlite3",
        max_payload_bytes=LIMIT,
    )


def _serialize(env: pb.Envelope) -> bytes:
    return env.SerializeToString()


@pytest.mark.asyncio
async def test_stores_good_messages_once_and_dead_letters_bad_ones(
    mosquitto: Broker, tmp_path: Path
) -> None:
    service = BridgeService(_settings(mosquitto.host, mosquitto.port, tmp_path))
    async with running_bridge(service) as task:
        good_before = [
            (topic(dev), _serialize(envelope(dev, seq)))
            for seq in range(1, 6)
            for dev in ("rsu-001", "obu-007")
        ]
        good_before.append(
            (topic("rsu-001", "status"), _serialize(status("rsu-001", 6, pb.LIVENESS_ONLINE)))
        )
        wrong_version = envelope("rsu-001", 7)
        wrong_version.schema_version = 2
        oversized = envelope("rsu-001", 8, body=pb.TrafficEvent(description="x" * LIMIT))
        bad = [
            (topic("rsu-001"), b"\xff\xfe not protobuf", "malformed"),
            (topic("rsu-001"), _serialize(wrong_version), "unknown_schema_version"),
            (topic("obu-007"), _serialize(envelope("rsu-001", 9)), "device_mismatch"),
            (topic("rsu-001", "events"), _serialize(oversized), "oversized"),
            (topic("rsu-001", "bogus"), _serialize(envelope("rsu-001", 10)), "bad_topic"),
        ]
        good_after = [
            (topic(dev), _serialize(envelope(dev, seq)))
            for seq in range(11, 16)
            for dev in ("rsu-001", "obu-007")
        ]
        duplicate = good_before[0]
        downlink = (topic("rsu-001", "cmd"), _serialize(envelope("rsu-001", 99)))

        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            for t, payload in [*good_before, duplicate, downlink]:
                await publisher.publish(t, payload, qos=1)
            for t, payload, _ in bad:
                await publisher.publish(t, payload, qos=1)
            for t, payload in good_after:
                await publisher.publish(t, payload, qos=1)

        sent = len(good_before) + 1 + 1 + len(bad) + len(good_after)
        await eventually(lambda: service.stats.received == sent)
        # Not a wait for something: time for an unexpected extra message to show up.
        await asyncio.sleep(0.1)

        assert not task.done(), "the bridge stopped on bad input"
        snap = service.stats.snapshot()
        good = good_before + good_after
        assert (snap.received, snap.stored, snap.duplicates, snap.ignored) == (
            sent,
            len(good),
            1,
            1,
        )
        assert dict(snap.rejected) == {reason: 1 for _, _, reason in bad}
        assert {(a.device_id, a.stream, a.count) for a in snap.activity} == {
            ("rsu-001", "state", 10),
            ("obu-007", "state", 10),
            ("rsu-001", "status", 1),
        }

    with SqliteStore(tmp_path / "bridge.sqlite3") as store:
        stored = store.messages()
        assert sorted(m.payload for m in stored) == sorted(payload for _, payload in good)
        assert len({(m.device_id, m.boot_id, m.sequence) for m in stored}) == len(good)
        letters = {(d.topic, d.reason): d for d in store.dead_letters()}
        assert set(letters) == {(t, reason) for t, _, reason in bad}
        for t, payload, reason in bad:
            expected = payload[:LIMIT] if reason == "oversized" else payload
            assert letters[(t, reason)].payload == expected
        (rsu_status,) = store.device_statuses()
        assert (rsu_status.device_id, rsu_status.liveness) == ("rsu-001", "LIVENESS_ONLINE")


@pytest.mark.asyncio
async def test_cancelling_mid_stream_commits_everything_received(
    mosquitto: Broker, tmp_path: Path
) -> None:
    service = BridgeService(_settings(mosquitto.host, mosquitto.port, tmp_path))
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready), name="bridge-under-test")
    await asyncio.wait_for(ready.wait(), timeout=10)
    payloads = [_serialize(envelope("rsu-001", seq)) for seq in range(1, 2001)]

    async def stop_bridge_soon() -> None:
        await eventually(lambda: service.stats.received >= 50)
        await stop(task)

    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            stopper = asyncio.create_task(stop_bridge_soon(), name="stopper")
            for payload in payloads:  # still publishing when the bridge is cancelled
                await publisher.publish(topic("rsu-001"), payload, qos=0)
            await stopper
    finally:
        task.cancel()
    assert service.stats.received < len(payloads), "cancelled too late to test a stop mid-stream"

    with SqliteStore(tmp_path / "bridge.sqlite3") as store:
        # What was counted was committed, in order of arrival, and the store closed cleanly.
        assert store.count_messages() == service.stats.stored == service.stats.received
        stored = store.messages()
        assert [m.sequence for m in stored] == list(range(1, len(stored) + 1))
        assert all(m.payload == payloads[m.sequence - 1] for m in stored)


@pytest.mark.asyncio
async def test_waits_for_an_unreachable_broker_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cloud_bridge.service")
    port = free_port()
    service = BridgeService(_settings("127.0.0.1", port, tmp_path, reconnect=(0.05, 0.2)))
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready), name="bridge-under-test")
    try:
        # Not a wait for something: time for several attempts (0.05-0.2 s apart), logged once.
        await asyncio.sleep(1.0)
        assert not ready.is_set()
        assert not task.done()
        # A second listener of a private broker on the port the bridge keeps trying.
        with private_mosquitto(tmp_path, extra_config=f"listener {port} 127.0.0.1\n"):
            await asyncio.wait_for(ready.wait(), timeout=10)
    finally:
        await stop(task)

    lines = [r.getMessage() for r in caplog.records if r.name == "cloud_bridge.service"]
    assert sum("unreachable" in line for line in lines) == 1
    assert sum("reachable again" in line for line in lines) == 1
