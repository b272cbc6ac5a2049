"""The bridge's MQTT connection against a real Mosquitto: bounded hand-over, order, failures."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from cloud_bridge.mqtt_batches import LinkError, Message, MqttBatches
from cloud_bridge.session import topic_filter
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from tests.cloud_bridge.factories import topic
from tests.support.mosquitto import Broker, free_port

pytestmark = pytest.mark.mosquitto

BOUND = 10


def _settings(host: str, port: int, tmp_path: Path) -> BridgeSettings:
    mqtt = replace(BRIDGE_MQTT, host=host, port=port, client_id="batches-under-test")
    return BridgeSettings(mqtt, tmp_path / "unused.sqlite3")


async def _open(settings: BridgeSettings) -> MqttBatches:
    link = MqttBatches(settings, manual_ack=True, max_queued=BOUND)
    await link.connect()
    await link.subscribe(topic_filter(settings), 1)
    return link


@pytest.mark.asyncio
async def test_messages_are_handed_over_in_order_never_more_than_the_bound_waiting(
    mosquitto: Broker, tmp_path: Path
) -> None:
    settings = _settings(mosquitto.host, mosquitto.port, tmp_path)
    link = await _open(settings)
    received: list[Message] = []
    try:
        # The broker forwards all 300 at once (its inflight window is 1,000): the link stops
        # reading at the bound and leaves the rest in the socket until some are taken.
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            for n in range(300):
                await publisher.publish(topic("rsu-001"), str(n).encode(), qos=1)
        while len(received) < 300:
            await link.wait()
            await asyncio.sleep(0.01)  # time to read whatever the socket holds
            assert link.backlog() <= BOUND
            batch = link.take(7)
            assert 1 <= len(batch) <= 7
            link.ack(batch)
            received += batch
    finally:
        await link.close()
    assert [int(m.payload) for m in received] == list(range(300))
    assert {(m.topic, m.qos) for m in received} == {(topic("rsu-001"), 1)}

    # All were acknowledged: none comes again to the persistent session.
    link = await _open(settings)
    try:
        await asyncio.sleep(0.2)
        assert link.backlog() == 0
    finally:
        await link.close()


async def _backlog_reaches(link: MqttBatches, count: int) -> None:
    for _ in range(1000):
        if link.backlog() >= count:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"the backlog stayed at {link.backlog()}, never {count}")


@pytest.mark.asyncio
async def test_taking_leaves_reading_stopped_at_the_bound_until_read_on(
    mosquitto: Broker, tmp_path: Path
) -> None:
    settings = _settings(mosquitto.host, mosquitto.port, tmp_path)
    link = await _open(settings)
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            for n in range(3 * BOUND):
                await publisher.publish(topic("rsu-001"), str(n).encode(), qos=1)
        await link.wait()
        await _backlog_reaches(link, BOUND)
        first = link.take(BOUND)
        # The socket holds the rest, but nothing is read while the caller works on its batch.
        await asyncio.sleep(0.2)
        assert link.backlog() == 0
        link.read_on()
        await _backlog_reaches(link, BOUND)
        second = link.take(BOUND)
        await link.wait()  # reads on by itself when nothing waits
        third = link.take(BOUND)
        link.ack(first + second + third)
    finally:
        await link.close()
    taken = [int(m.payload) for m in first + second + third]
    assert taken[: 2 * BOUND] == list(range(2 * BOUND))
    assert set(taken) <= set(range(3 * BOUND))


@pytest.mark.asyncio
async def test_no_broker_is_a_link_error(tmp_path: Path) -> None:
    link = MqttBatches(
        _settings("127.0.0.1", free_port(), tmp_path), manual_ack=True, max_queued=BOUND
    )
    try:
        with pytest.raises(LinkError):
            await link.connect()
    finally:
        await link.close()


@pytest.mark.asyncio
async def test_a_stopped_broker_ends_the_wait_with_a_link_error(
    mosquitto: Broker, tmp_path: Path
) -> None:
    link = await _open(_settings(mosquitto.host, mosquitto.port, tmp_path))
    try:
        mosquitto.process.terminate()
        with pytest.raises(LinkError):
            await link.wait()
    finally:
        await link.close()


def test_the_bound_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_queued"):
        MqttBatches(_settings("127.0.0.1", 1883, tmp_path), manual_ack=True, max_queued=0)
