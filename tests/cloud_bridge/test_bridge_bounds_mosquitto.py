"""The bridge's bounds on a real Mosquitto without a message_size_limit (the shipped default).

A huge publish never reaches the bridge (MQTT 5 Maximum Packet Size), a flood from one device
is cut to its rate, garbage cannot grow the dead letters past their caps, and a capture time
far from the bridge's clock is stored flagged.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from cloud_bridge.service import BridgeService
from cloud_bridge.session import SESSION_NEVER_EXPIRES, connect_options
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.store import SqliteStore
from tests.cloud_bridge.factories import envelope, topic
from tests.cloud_bridge.running import running_bridge
from tests.support.mosquitto import Broker
from tests.support.waiting import eventually

pytestmark = pytest.mark.mosquitto

LIMIT = 4096


def _settings(broker: Broker, tmp_path: Path, **kwargs: object) -> BridgeSettings:
    return BridgeSettings(
        dataclasses.replace(
            BRIDGE_MQTT, host=broker.host, port=broker.port, client_id=f"bridge-{broker.port}"
        ),
        tmp_path / "bridge.sqlite3",
        max_payload_bytes=LIMIT,
        **kwargs,  # type: ignore[arg-type]
    )


def test_connect_options_announce_a_packet_limit_and_a_lasting_session(tmp_path: Path) -> None:
    settings = BridgeSettings(BRIDGE_MQTT, tmp_path / "b.sqlite3", max_payload_bytes=LIMIT)

    options = connect_options(settings)

    assert options["protocol"] == MQTTProtocolVersion.MQTTv5
    assert options["clean_start"] is False
    properties = options["properties"]
    assert properties is not None
    assert getattr(properties, "MaximumPacketSize") == settings.max_packet_bytes  # noqa: B009
    assert getattr(properties, "SessionExpiryInterval") == SESSION_NEVER_EXPIRES  # noqa: B009

    v311 = connect_options(
        dataclasses.replace(settings, mqtt=dataclasses.replace(settings.mqtt, mqtt5=False))
    )
    assert (v311["protocol"], v311["clean_session"], v311["properties"]) == (
        MQTTProtocolVersion.MQTTv311,
        False,
        None,
    )


@pytest.mark.asyncio
async def test_a_huge_publish_never_reaches_the_bridge(mosquitto: Broker, tmp_path: Path) -> None:
    service = BridgeService(_settings(mosquitto, tmp_path))
    huge = b"\x00" * (20 * 1024 * 1024)  # the broker takes it: no message_size_limit
    near = envelope("rsu-001", 1).SerializeToString() + b"\x00" * (2 * LIMIT)
    good = envelope("rsu-001", 2).SerializeToString()

    async with running_bridge(service):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            await publisher.publish(topic("rsu-001"), huge, qos=1)
            await publisher.publish(topic("rsu-001"), near, qos=1)
            await publisher.publish(topic("rsu-001"), good, qos=1)
        await eventually(lambda: service.stats.stored == 1, what="the good message stored")

        # The broker dropped the huge one for us; one just over the limit still arrives,
        # to be dead-lettered and counted.
        assert service.stats.received == 2
        assert dict(service.stats.rejected) == {"oversized": 1}
    log = mosquitto.log_path.read_text()
    assert f"Dropping too large outgoing PUBLISH for bridge-{mosquitto.port}" in log


@pytest.mark.asyncio
async def test_the_mqtt5_session_keeps_what_arrived_while_the_bridge_was_down(
    mosquitto: Broker, tmp_path: Path
) -> None:
    settings = _settings(mosquitto, tmp_path)
    async with running_bridge(BridgeService(settings)):
        pass  # subscribed once: the broker now keeps the session
    payloads = [envelope("veh-001", seq).SerializeToString() for seq in range(1, 21)]
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
        for payload in payloads:
            await publisher.publish(topic("veh-001"), payload, qos=1)

    again = BridgeService(settings)
    async with running_bridge(again):
        await eventually(lambda: again.stats.stored == len(payloads), what="the backlog stored")

    with SqliteStore(settings.store_path) as store:
        assert [m.sequence for m in store.messages()] == list(range(1, 21))


@pytest.mark.asyncio
async def test_mqtt_3_1_1_still_works_when_asked_for(mosquitto: Broker, tmp_path: Path) -> None:
    settings = _settings(mosquitto, tmp_path)
    settings = dataclasses.replace(settings, mqtt=dataclasses.replace(settings.mqtt, mqtt5=False))
    service = BridgeService(settings)

    async with running_bridge(service), aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
        await publisher.publish(topic("veh-001"), envelope("veh-001", 1).SerializeToString(), qos=1)
        await eventually(lambda: service.stats.stored == 1)


@pytest.mark.asyncio
async def test_a_flooding_device_is_cut_to_its_rate_and_others_are_not(
    mosquitto: Broker, tmp_path: Path
) -> None:
    # A burst of 10 messages, then 5 per second.
    settings = _settings(mosquitto, tmp_path, device_messages_per_s=5.0, device_burst_s=2.0)
    service = BridgeService(settings)
    flood = [envelope("veh-bad", seq).SerializeToString() for seq in range(1, 201)]
    quiet = [envelope("veh-ok", seq).SerializeToString() for seq in range(1, 6)]

    async with running_bridge(service):
        started = time.monotonic()
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            for payload in flood:
                await publisher.publish(topic("veh-bad"), payload, qos=0)
            for payload in quiet:
                await publisher.publish(topic("veh-ok"), payload, qos=1)
        await eventually(lambda: service.stats.received == len(flood) + len(quiet))
        elapsed = time.monotonic() - started

    with SqliteStore(settings.store_path) as store:
        flooder = store.count_messages(device_id="veh-bad")
        assert store.count_messages(device_id="veh-ok") == len(quiet)
        assert store.dead_letters() == []
    assert 10 <= flooder <= 10 + 5 * elapsed + 1
    assert service.stats.rate_limited == len(flood) - flooder
    assert service.stats.stored == flooder + len(quiet)


@pytest.mark.asyncio
async def test_backlog_replayed_after_an_outage_is_not_cut_to_the_live_rate(
    mosquitto: Broker, tmp_path: Path
) -> None:
    settings = _settings(mosquitto, tmp_path, device_messages_per_s=5.0, device_burst_s=2.0)
    service = BridgeService(settings)
    backlog = []
    for seq in range(1, 301):
        env = envelope("veh-001", seq)
        env.historical = True
        backlog.append(env.SerializeToString())

    async with running_bridge(service):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            for payload in backlog:
                await publisher.publish(topic("veh-001"), payload, qos=1)
        await eventually(lambda: service.stats.received == len(backlog))

    assert (service.stats.stored, service.stats.rate_limited) == (len(backlog), 0)


@pytest.mark.asyncio
async def test_a_garbage_flood_keeps_the_dead_letters_within_their_caps(
    mosquitto: Broker, tmp_path: Path
) -> None:
    cap = 64 * 1024
    settings = _settings(mosquitto, tmp_path, max_dead_letter_bytes=cap, max_dead_letters=50)
    service = BridgeService(settings)
    garbage = [bytes([i % 251]) * 7_000 for i in range(300)]  # oversized: cut to LIMIT

    async with running_bridge(service):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
            for i, payload in enumerate(garbage):
                await publisher.publish(topic(f"junk-{i % 7}"), payload, qos=1)
        await eventually(lambda: service.stats.received == len(garbage))

    with SqliteStore(settings.store_path) as store:
        letters = store.dead_letters()
        rows, used = store.dead_letter_usage()
    assert rows == len(letters) <= 50
    assert used <= cap
    assert service.stats.rejected["oversized"] == len(garbage)
    assert service.stats.dead_letters_dropped == len(garbage) - len(letters)
    assert letters[-1].payload == garbage[-1][:LIMIT]  # the newest are kept


@pytest.mark.asyncio
async def test_a_capture_time_far_from_the_bridge_clock_is_stored_flagged(
    mosquitto: Broker, tmp_path: Path
) -> None:
    service = BridgeService(_settings(mosquitto, tmp_path))
    now = time.time_ns()
    year_2100 = 4_102_444_800 * 10**9

    async with running_bridge(service), aiomqtt.Client(mosquitto.host, mosquitto.port) as publisher:
        for seq, capture in ((1, now), (2, year_2100), (3, 0)):
            payload = envelope("veh-001", seq, capture_time_ns=capture).SerializeToString()
            await publisher.publish(topic("veh-001"), payload, qos=1)
        await eventually(lambda: service.stats.stored == 3)

    assert service.stats.clock_suspect == 2
    with SqliteStore(tmp_path / "bridge.sqlite3") as store:
        assert [(m.sequence, m.clock_suspect) for m in store.messages()] == [
            (1, False),
            (2, True),
            (3, True),
        ]
