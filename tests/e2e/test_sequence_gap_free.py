"""Sequence numbers mean messages: a box that goes through several broker outages, retrying to
connect many times during each, leaves a gap-free numbering of its messages on the bridge.

Before the fix every connection attempt sealed a last will with the next message number and the
birth took another, so the bridge saw several false gaps per outage. Now statuses are numbered
apart, from ``STATUS_SEQUENCE_BASE`` up, each with a key of its own.
"""

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
from protocols.envelope import STATUS_SEQUENCE_BASE, decode
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream
from tests.support.mosquitto import MosquittoProcess, free_port
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e, pytest.mark.asyncio]

OUTAGES = 4
OUTAGE_S = 1.5
DEVICE = "veh-gapless"


@pytest.mark.timeout(120)
async def test_reconnects_leave_no_gap_in_the_message_numbering(tmp_path: Path) -> None:
    port = free_port()
    broker = MosquittoProcess(tmp_path, port=port, persistent=True)
    identity = DeviceIdentity(DEVICE, "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    uplink_settings = UplinkSettings(
        # Retries every 0.05-0.2 s: many connection attempts, each with its will, per outage.
        MqttConnection(port=port, reconnect_min_s=0.1, reconnect_max_s=0.2),
        qos={stream: 1 for stream in Stream},
        ack_timeout_s=2.0,
    )
    bridge_mqtt = replace(
        BRIDGE_MQTT, port=port, client_id="gapless-bridge", reconnect_min_s=0.1, reconnect_max_s=0.2
    )
    bridge = BridgeService(BridgeSettings(bridge_mqtt, tmp_path / "bridge.sqlite3"))
    sent: list[int] = []
    broker.start()
    with SqliteOutbox(tmp_path / "outbox.sqlite3") as outbox:
        uplink = UplinkPublisher(identity, uplink_settings, outbox)
        ready = asyncio.Event()
        bridge_task = asyncio.create_task(bridge.run(ready), name="gapless-bridge")
        uplink_task = asyncio.create_task(uplink.run(), name="gapless-uplink")
        try:
            await asyncio.wait_for(ready.wait(), 10)
            await asyncio.wait_for(uplink.connected.wait(), 10)
            for outage in range(OUTAGES + 1):
                for i in range(100):  # a producer at about 200 messages a second
                    sent.append(uplink.submit(pb.VehicleState(speed_mps=i % 50), i))
                    await asyncio.sleep(0.005)
                if outage == OUTAGES:
                    break
                # The broker goes away (SIGTERM: it saves its sessions) while the box produces.
                broker.stop(signal.SIGTERM)
                for i in range(50):
                    sent.append(uplink.submit(pb.VehicleState(speed_mps=i % 50), i))
                    await asyncio.sleep(OUTAGE_S / 50)
                broker.start()
                await asyncio.wait_for(uplink.connected.wait(), 10)
            await eventually(lambda: uplink.queued == 0, within_s=30, what="outbox drained")
            await eventually(
                lambda: bridge.stats.stored >= len(sent) + OUTAGES + 1,
                within_s=30,
                what="bridge stored every message and birth",
            )
        finally:
            for task in (uplink_task, bridge_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            broker.stop()

    with SqliteStore(tmp_path / "bridge.sqlite3") as store:
        stored = store.messages(DEVICE)
        (loss,) = store.loss_accounting(DEVICE)
    messages = sorted(m.sequence for m in stored if m.stream != "status")
    statuses = [m for m in stored if m.stream == "status"]
    assert len({m.boot_id for m in stored}) == 1
    # Every message once, and their numbers run without a gap from the first to the last.
    assert messages == sent == list(range(sent[0], sent[0] + len(sent)))
    # So the bridge's loss accounting sees every message delivered and none missing.
    assert (loss.delivered, loss.missing) == (len(sent), 0), loss
    # One birth per connection, numbered apart from the messages, each with a key of its own.
    births = [m for m in statuses if decode(m.payload).status.liveness == pb.LIVENESS_ONLINE]
    assert len(births) == OUTAGES + 1
    assert all(m.sequence >= STATUS_SEQUENCE_BASE for m in statuses)
    assert len({m.sequence for m in statuses}) == len(statuses)
    # Many connection attempts failed during the outages: each sealed a will, none took a number
    # from the messages. The birth after an outage follows the wills of the failed attempts.
    birth_numbers = sorted(m.sequence - STATUS_SEQUENCE_BASE for m in births)
    attempts = birth_numbers[-1] - birth_numbers[0]
    assert attempts >= OUTAGES * 4, birth_numbers
    print(f"messages={len(messages)} outages={OUTAGES} status numbers used={attempts}")
