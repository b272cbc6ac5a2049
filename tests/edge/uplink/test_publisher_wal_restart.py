"""The publisher checkpoints the outbox's WAL when it is due, and only once what it just sent
is written to the socket: the checkpoint's fsyncs hold back no message sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge.identity import DeviceIdentity
from edge.uplink.mqtt_link import MqttLink
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.mosquitto import Broker
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]


class DueOutbox(SqliteOutbox):
    """An outbox whose WAL restart is due after every commit; records what was unwritten."""

    unwritten_at_checkpoint: list[int]
    link: MqttLink | None = None

    def wal_restart_due(self) -> bool:
        return True

    def checkpoint_wal(self) -> None:
        assert self.link is not None
        self.unwritten_at_checkpoint.append(len(self.link.client._out_packet))
        super().checkpoint_wal()


async def test_the_wal_is_checkpointed_after_the_sends_are_written(
    mosquitto: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = DueOutbox(tmp_path / "outbox.sqlite3")
    outbox.unwritten_at_checkpoint = []
    identity = DeviceIdentity("veh-7", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(MqttConnection(host=mosquitto.host, port=mosquitto.port))
    uplink = UplinkPublisher(identity, settings, outbox)
    link_of = uplink._link

    def remembered() -> MqttLink:
        outbox.link = link_of()
        return outbox.link

    monkeypatch.setattr(uplink, "_link", remembered)
    task = asyncio.create_task(uplink.run(), name="test-uplink")
    try:
        await asyncio.wait_for(uplink.connected.wait(), 10)
        for i in range(50):
            uplink.submit(pb.VehicleState(speed_mps=float(i)), 0)
            await asyncio.sleep(0.002)
        await eventually(lambda: uplink.published["state"] == 50, 10, "all delivered")
        assert outbox.unwritten_at_checkpoint
        assert set(outbox.unwritten_at_checkpoint) == {0}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        outbox.close()
