"""The uplink's connection on a real Mosquitto: deliveries told once per message, the will on a
dropped connection and not on a clean one, a stopped broker noticed, commands handed over."""

from __future__ import annotations

import asyncio
import socket

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.uplink.mqtt_link import LinkLostError, MqttLink, Will
from protocols.mqtt_connection import MqttConnection
from tests.support.mosquitto import Broker
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

WILL = Will("rg/v1/test/veh-1/status", b"gone")


def link(broker: Broker, delivered: list[int] | None = None, **mqtt: object) -> MqttLink:
    return MqttLink(
        MqttConnection(host=broker.host, port=broker.port, **mqtt),  # type: ignore[arg-type]
        client_id="veh-1",
        will=WILL,
        timeout_s=5.0,
        on_delivered=None if delivered is None else delivered.append,
    )


def watcher(broker: Broker, topic: str) -> tuple[paho.Client, list[bytes]]:
    """A plain paho subscriber on its own thread, collecting payloads."""
    received: list[bytes] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    client.on_message = lambda _c, _u, message: received.append(bytes(message.payload))
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    return client, received


@pytest.mark.parametrize("mqtt5", [False, True], ids=["mqtt311", "mqtt5"])
async def test_each_message_is_told_delivered_once(mosquitto: Broker, mqtt5: bool) -> None:
    delivered: list[int] = []
    connection = link(mosquitto, delivered, mqtt5=mqtt5)
    try:
        await connection.connect()
        mids = [
            connection.publish(
                "rg/v1/test/veh-1/state", b"x%d" % i, i % 2, retain=False, properties=None
            )
            for i in range(600)
        ]
        await eventually(lambda: len(delivered) == len(mids), 10, "every message delivered")
        assert sorted(delivered) == sorted(mids)
        await connection.publish_and_wait(
            "rg/v1/test/veh-1/status", b"up", 1, retain=True, properties=None
        )
        assert len(delivered) == len(mids)  # awaited ones are not told
    finally:
        await connection.close()


async def test_a_dropped_connection_leaves_its_will_a_closed_one_does_not(
    mosquitto: Broker,
) -> None:
    client, received = watcher(mosquitto, WILL.topic)
    try:
        clean = link(mosquitto)
        await clean.connect()
        await clean.close()
        dropped = link(mosquitto)
        await dropped.connect()
        dropped.abort()
        await eventually(lambda: received == [b"gone"], 10, "the will published")
        await asyncio.sleep(0.3)
        assert received == [b"gone"]  # once: the clean close left none
        with pytest.raises(LinkLostError):
            dropped.publish("rg/v1/test/veh-1/state", b"x", 1, retain=False, properties=None)
    finally:
        client.loop_stop()
        client.disconnect()


async def test_a_stopped_broker_ends_the_link(mosquitto: Broker) -> None:
    connection = link(mosquitto)
    await connection.connect()
    watch = asyncio.create_task(connection.wait_down(), name="test-watch")
    mosquitto.process.terminate()
    with pytest.raises(LinkLostError) as lost:
        await asyncio.wait_for(watch, 10)
    assert connection.down is lost.value
    await connection.close()


async def test_no_broker_raises() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    nowhere = MqttLink(
        MqttConnection(host="127.0.0.1", port=port),
        client_id="veh-1",
        will=WILL,
        timeout_s=2.0,
    )
    with pytest.raises(LinkLostError):
        await nowhere.connect()
    await nowhere.close()


async def test_messages_on_a_subscription_are_handed_over(mosquitto: Broker) -> None:
    connection = link(mosquitto)
    client, _ = watcher(mosquitto, "unused")
    try:
        await connection.connect()
        await connection.subscribe("rg/v1/test/veh-1/cmd", qos=1)
        for i in range(3):
            client.publish("rg/v1/test/veh-1/cmd", b"cmd%d" % i, qos=1)
        got = [await asyncio.wait_for(connection.next_message(), 5) for _ in range(3)]
        assert got == [b"cmd0", b"cmd1", b"cmd2"]
    finally:
        client.loop_stop()
        client.disconnect()
        await connection.close()
