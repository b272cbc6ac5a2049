"""The uplink publisher against a real Mosquitto: birth, priority, goodbye, will, reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from edge.identity import DeviceIdentity
from edge.uplink.outbox import OutboxLimits, SqliteOutbox
from edge.uplink.publisher import ACK_COMMIT_DELAY_S, UplinkPublisher
from edge.uplink.settings import UplinkSettings
from protocols.envelope import decode
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream
from tests.support.mosquitto import Broker, private_mosquitto
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]


def publisher(broker: Broker, device: str = "veh-9") -> UplinkPublisher:
    identity = DeviceIdentity(device, "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(
        MqttConnection(
            host=broker.host,
            port=broker.port,
            keepalive_s=5,
            reconnect_min_s=0.05,
            reconnect_max_s=0.2,
        )
    )
    return UplinkPublisher(identity, settings, SqliteOutbox(":memory:"), software_version="test")


@contextlib.asynccontextmanager
async def subscribed(broker: Broker, topic: str = "rg/v1/#") -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port, identifier="observer") as client:
        await client.subscribe(topic, qos=1)
        yield client


async def take(client: aiomqtt.Client, n: int) -> list[tuple[str, bool, pb.Envelope]]:
    got = []
    async with asyncio.timeout(10):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            got.append((str(message.topic), message.retain, decode(message.payload)))
            if len(got) == n:
                return got
    raise AssertionError("unreachable")


async def test_birth_is_retained_and_goodbye_is_offline(mosquitto: Broker) -> None:
    uplink = publisher(mosquitto)
    task = asyncio.create_task(uplink.run())
    await asyncio.wait_for(uplink.connected.wait(), 10)
    async with subscribed(mosquitto, "rg/v1/test-region/veh-9/status") as client:
        [(topic, retained, birth)] = await take(client, 1)
        assert topic == "rg/v1/test-region/veh-9/status"
        assert retained
        assert birth.status.liveness == pb.LIVENESS_ONLINE
        assert birth.status.software_version == "test"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        [(_, _, goodbye)] = await take(client, 1)
        assert goodbye.status.liveness == pb.LIVENESS_OFFLINE
        assert goodbye.boot_id == birth.boot_id
        assert goodbye.sequence > birth.sequence


async def test_events_overtake_queued_telemetry(mosquitto: Broker) -> None:
    uplink = publisher(mosquitto)
    for i in range(50):
        uplink.submit(pb.VehicleState(speed_mps=i), capture_time_ns=i)
    uplink.submit(pb.TrafficEvent(event_id="urgent"), capture_time_ns=999)
    async with subscribed(mosquitto, "rg/v1/test-region/veh-9/+") as client:
        task = asyncio.create_task(uplink.run())
        try:
            received = await take(client, 52)  # status + event + 50 states
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    bodies = [env.WhichOneof("body") for _, _, env in received]
    assert bodies[:2] == ["status", "event"]
    speeds = [
        env.vehicle_state.speed_mps for _, _, env in received if env.HasField("vehicle_state")
    ]
    assert speeds == list(range(50))  # in order within the stream
    sequences = [env.sequence for _, _, env in received if env.HasField("vehicle_state")]
    assert sequences == sorted(sequences)


async def test_what_goes_out_is_the_stored_envelope_stamped_when_sent(mosquitto: Broker) -> None:
    """The send's time and ``historical`` are appended to the stored bytes: parsed, the
    message is the stored envelope with those two fields set, nothing else changed."""
    uplink = publisher(mosquitto)
    state = pb.VehicleState(speed_mps=12.5, yaw_rate_rad_s=-0.25)
    uplink.submit(state, capture_time_ns=1_700_000_000_000_000_000)
    (stored,) = [pb.Envelope.FromString(e.body) for e in uplink.outbox.peek(10)]
    sent: list[bytes] = []
    uplink.on_published = lambda _topic, payload: sent.append(payload)
    async with subscribed(mosquitto, "rg/v1/test-region/veh-9/state") as client:
        before = time.time_ns()
        task = asyncio.create_task(uplink.run())
        try:
            [(_, _, received)] = await take(client, 1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert before <= received.publish_time_ns <= time.time_ns()
    assert stored.publish_time_ns == 0
    assert not received.historical
    expected = pb.Envelope()
    expected.CopyFrom(stored)
    expected.publish_time_ns = received.publish_time_ns
    assert received == expected
    states = [e for e in map(pb.Envelope.FromString, sent) if e.HasField("vehicle_state")]
    assert states == [expected]  # what on_published saw went out


async def test_the_outbox_bound_evicts_old_telemetry_and_keeps_events() -> None:
    identity = DeviceIdentity("veh-9", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    body_size = len(pb.VehicleState(speed_mps=1.0).SerializeToString()) + 60  # with envelope
    limits = OutboxLimits(max_bytes=10 * body_size, hard_max_bytes=1000 * body_size)
    with SqliteOutbox(":memory:", limits=limits) as outbox:
        uplink = UplinkPublisher(identity, UplinkSettings(), outbox)
        assert uplink.submit(pb.TrafficEvent(event_id="first"), 0) == 1
        for i in range(100):
            uplink.submit(pb.VehicleState(speed_mps=i), i)
        assert uplink.submit(pb.TrafficEvent(event_id="last"), 0) == 102
        assert outbox.size_bytes <= limits.max_bytes
        assert outbox.evicted["state"] > 80
        kept = [pb.Envelope.FromString(e.body) for e in outbox.peek(1000)]
        assert [e.event.event_id for e in kept if e.HasField("event")] == ["first", "last"]
        speeds = [e.vehicle_state.speed_mps for e in kept if e.HasField("vehicle_state")]
        assert speeds == sorted(speeds)
        assert speeds[-1] == 99  # the oldest went first
        assert uplink.counters()["uplink.evicted.state"] == outbox.evicted["state"]
        with pytest.raises(TypeError, match="not an Envelope body"):
            uplink.submit(pb.Position(), 0)


async def test_reconnects_after_a_broker_restart_and_sends_what_waited(tmp_path: Path) -> None:
    identity = DeviceIdentity("veh-9", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(
        MqttConnection(reconnect_min_s=0.05, reconnect_max_s=0.2), ack_timeout_s=1.0
    )
    with private_mosquitto(tmp_path, persistent=True) as broker:
        port = broker.port
        uplink = UplinkPublisher(
            identity,
            dataclasses.replace(
                settings,
                mqtt=dataclasses.replace(settings.mqtt, port=port),
                qos={Stream.STATE: 1, Stream.STATUS: 1},
            ),
            SqliteOutbox(":memory:"),
        )
        # A persistent observer session: the restarted broker queues QoS 1 messages for it.
        async with aiomqtt.Client("127.0.0.1", port, identifier="obs", clean_session=False) as c:
            await c.subscribe("rg/v1/test-region/veh-9/state", qos=1)
        task = asyncio.create_task(uplink.run())
        await asyncio.wait_for(uplink.connected.wait(), 10)
    try:
        # The broker is gone: messages wait in the queue while the publisher retries.
        for i in range(5):
            uplink.submit(pb.VehicleState(speed_mps=i), capture_time_ns=i)
        await eventually(lambda: not uplink.connected.is_set(), what="publisher saw the outage")
        with private_mosquitto(tmp_path, port=port, persistent=True):
            await eventually(lambda: uplink.queued == 0, what="queue drained after restart")
            async with aiomqtt.Client(
                "127.0.0.1", port, identifier="obs", clean_session=False
            ) as client:
                received = await take(client, 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [env.vehicle_state.speed_mps for _, _, env in received] == [0, 1, 2, 3, 4]
    assert all(env.historical for _, _, env in received)  # sent late, after the outage


async def test_mqtt5_properties_name_the_content_and_expire_high_rate_streams(
    mosquitto: Broker,
) -> None:
    identity = DeviceIdentity("veh-9", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(
        MqttConnection(host=mosquitto.host, port=mosquitto.port, mqtt5=True), expiry_s=7
    )
    async with aiomqtt.Client(
        mosquitto.host,
        mosquitto.port,
        identifier="v5-observer",
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        await client.subscribe("rg/v1/test-region/veh-9/+", qos=1)
        with SqliteOutbox(":memory:") as outbox:
            uplink = UplinkPublisher(identity, settings, outbox)
            uplink.submit(pb.VehicleState(), 1)
            uplink.submit(pb.TrafficEvent(), 1)
            task = asyncio.create_task(uplink.run())
            try:
                received = {}
                async with asyncio.timeout(10):
                    async for message in client.messages:
                        received[str(message.topic).rsplit("/", 1)[-1]] = message.properties
                        if len(received) == 3:
                            break
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    # paho's Properties sets attributes dynamically: read them by name.
    for stream, props in received.items():
        assert getattr(props, "ContentType", "").startswith("application/x-protobuf"), stream
    assert 0 < getattr(received["state"], "MessageExpiryInterval", 0) <= 7
    assert not hasattr(received["events"], "MessageExpiryInterval")


async def test_acknowledged_messages_leave_the_file_soon_after(
    mosquitto: Broker, tmp_path: Path
) -> None:
    identity = DeviceIdentity("veh-9", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(MqttConnection(host=mosquitto.host, port=mosquitto.port))
    path = tmp_path / "outbox.sqlite3"
    with SqliteOutbox(path) as outbox:
        uplink = UplinkPublisher(identity, settings, outbox)
        task = asyncio.create_task(uplink.run())
        try:
            for i in range(20):
                uplink.submit(pb.VehicleState(speed_mps=i), i)
            await eventually(lambda: uplink.queued == 0, what="all acknowledged")

            def on_disk() -> int:
                with contextlib.closing(sqlite3.connect(path)) as db:
                    return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

            # The deletions ride along with the next commit, or a timer commits them.
            await eventually(lambda: on_disk() == 0, within_s=ACK_COMMIT_DELAY_S + 5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _remaining_length(reader: asyncio.StreamReader) -> int:
    value, shift = 0, 0
    while True:
        (byte,) = await reader.readexactly(1)
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7


async def test_a_broker_that_stops_acknowledging_is_a_lost_connection() -> None:
    """A broker that takes messages but never acknowledges them (a link that died silently):
    after ``ack_timeout_s`` the publisher reconnects, and the message waits in the outbox."""
    connects = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connects
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (header,) = await reader.readexactly(1)
                body = await reader.readexactly(await _remaining_length(reader))
                kind = header >> 4
                if kind == 1:  # CONNECT
                    connects += 1
                    writer.write(b"\x20\x02\x00\x00")
                elif kind == 3 and header & 0x06:  # PUBLISH, QoS 1
                    topic_end = 2 + int.from_bytes(body[:2], "big")
                    if body[2:topic_end].endswith(b"/status"):  # birth and goodbye only
                        writer.write(b"\x40\x02" + body[topic_end : topic_end + 2])
                elif kind == 12:  # PINGREQ
                    writer.write(b"\xd0\x00")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    identity = DeviceIdentity("veh-9", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(
        MqttConnection(port=port, reconnect_min_s=0.05, reconnect_max_s=0.1),
        qos={Stream.STATE: 1, Stream.STATUS: 1},
        ack_timeout_s=0.5,
    )
    async with server:
        uplink = UplinkPublisher(identity, settings, SqliteOutbox(":memory:"))
        uplink.submit(pb.VehicleState(speed_mps=1.0), 1)
        task = asyncio.create_task(uplink.run())
        try:
            await eventually(lambda: connects >= 2, what="a new connection after the timeout")
            assert uplink.queued == 1
            assert uplink.published["state"] == 0
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
