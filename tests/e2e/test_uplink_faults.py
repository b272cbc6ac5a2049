"""The reliability contract under a broker outage: nothing published by the edge is lost."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from cloud_bridge.service import BridgeService
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.store.sqlite_store import SqliteStore
from edge.identity import DeviceIdentity
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from protocols.envelope import decode
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream
from tests.support.mosquitto import private_mosquitto
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e, pytest.mark.asyncio]

MESSAGES = 10_000
OUTAGE_S = 20.0


@pytest.mark.timeout(240)
async def test_a_20_s_broker_outage_loses_nothing(tmp_path: Path) -> None:
    identity = DeviceIdentity("veh-7", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    all_qos1 = {stream: 1 for stream in Stream}
    with private_mosquitto(tmp_path, persistent=True) as broker:
        port = broker.port
    uplink_settings = UplinkSettings(
        MqttConnection(port=port, reconnect_min_s=0.2, reconnect_max_s=1.0),
        qos=all_qos1,
        ack_timeout_s=2.0,
    )
    bridge_mqtt = replace(
        BRIDGE_MQTT, port=port, client_id="fault-bridge", reconnect_min_s=0.2, reconnect_max_s=1.0
    )
    bridge = BridgeService(BridgeSettings(bridge_mqtt, tmp_path / "b.sqlite3"))
    sent: dict[str, list[int]] = {"state": [], "events": []}
    with SqliteOutbox(tmp_path / "outbox.sqlite3") as outbox:
        uplink = UplinkPublisher(identity, uplink_settings, outbox)
        broker_cm = private_mosquitto(tmp_path, port=port, persistent=True)
        live = broker_cm.__enter__()
        ready = asyncio.Event()
        bridge_task = asyncio.create_task(bridge.run(ready))
        uplink_task = asyncio.create_task(uplink.run())
        try:
            await asyncio.wait_for(ready.wait(), 10)
            await asyncio.wait_for(uplink.connected.wait(), 10)
            for i in range(MESSAGES):
                if i % 100 == 99:
                    sent["events"].append(uplink.submit(pb.TrafficEvent(event_id=str(i)), i))
                else:
                    sent["state"].append(uplink.submit(pb.VehicleState(speed_mps=i % 100), i))
                if i == MESSAGES // 5:
                    # Kill the broker mid-stream (SIGTERM: it saves its sessions, as a broker
                    # restarted by systemd does) and keep producing through the outage.
                    live.process.send_signal(signal.SIGTERM)
                    live.process.wait(10)
                    outage = asyncio.create_task(asyncio.sleep(OUTAGE_S))
                if i % 500 == 0:
                    await asyncio.sleep(0.05)  # a producer at a few thousand messages per second
            await outage
            broker_cm.__exit__(None, None, None)
            broker_cm = private_mosquitto(tmp_path, port=port, persistent=True)
            live = broker_cm.__enter__()
            await eventually(lambda: uplink.queued == 0, within_s=120, what="outbox drained")
            await eventually(
                lambda: bridge.stats.stored >= MESSAGES, within_s=60, what="bridge stored all"
            )
        finally:
            for task in (uplink_task, bridge_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            broker_cm.__exit__(None, None, None)

    with SqliteStore(tmp_path / "b.sqlite3") as store:
        stored = [m for m in store.messages("veh-7") if m.stream != "status"]
    assert len(stored) == MESSAGES  # exactly once: the store dedupes (device, boot, sequence)
    for stream, sequences in sent.items():
        got = [m for m in stored if m.stream == stream]
        got.sort(key=lambda m: m.received_time_ns)
        assert [m.sequence for m in got] == sequences, f"{stream}: lost, duplicated or reordered"
    historical = sum(decode(m.payload).historical for m in stored)
    assert historical > 0  # what waited out the outage is marked as replayed backlog
