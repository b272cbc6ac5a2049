"""Two boxes configured with one device id on a real Mosquitto: the takeover is seen, counted,
reported once, and the one thrown out stops throwing the other out in turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from edge.identity import DeviceIdentity
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.session_takeover import TakeoverPolicy
from edge.uplink.settings import UplinkSettings
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.mosquitto import Broker
from tests.support.waiting import eventually

pytestmark = [pytest.mark.mosquitto, pytest.mark.asyncio]

NEVER_AGAIN = TakeoverPolicy(backoff_s=3600.0, backoff_max_s=3600.0, short_sessions=3)
"""Thrown out once, a box does not come back within the test: any reconnect shows."""
SETTLE_S = 1.0
"""Five times the longest usual reconnect delay: time for flapping to show if it would."""


def publisher(broker: Broker, *, mqtt5: bool, policy: TakeoverPolicy) -> UplinkPublisher:
    identity = DeviceIdentity("veh-9", "test-region", pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    settings = UplinkSettings(
        MqttConnection(
            host=broker.host,
            port=broker.port,
            keepalive_s=5,
            mqtt5=mqtt5,
            reconnect_min_s=0.05,
            reconnect_max_s=0.2,
        ),
        takeover=policy,
    )
    return UplinkPublisher(identity, settings, SqliteOutbox(":memory:"), software_version="test")


@contextlib.asynccontextmanager
async def running(*uplinks: UplinkPublisher) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(u.run(), name=f"uplink-{i}") for i, u in enumerate(uplinks)]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def closed_old_connections(broker: Broker) -> int:
    """How often Mosquitto threw a connection out for a newer one with its client id."""
    return broker.log_path.read_text(errors="replace").count(
        "Client veh-9 already connected, closing old connection"
    )


def births(uplink: UplinkPublisher) -> int:
    """Connections accepted: each publishes one birth (and only a goodbye besides)."""
    return uplink.published["status"]


def fault_events(uplink: UplinkPublisher) -> list[pb.TrafficEvent]:
    envelopes = [pb.Envelope.FromString(e.body) for e in uplink.outbox.peek(1000)]
    return [e.event for e in envelopes if e.HasField("event")]


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt311"])
async def test_the_box_thrown_out_counts_reports_and_stays_away(
    mosquitto: Broker, caplog: pytest.LogCaptureFixture, mqtt5: bool
) -> None:
    # Mosquitto 2.0 closes the older connection without a DISCONNECT, under MQTT 5 too: the
    # boxes see a run of connections closed right after they were accepted.
    first = publisher(mosquitto, mqtt5=mqtt5, policy=NEVER_AGAIN)
    second = publisher(mosquitto, mqtt5=mqtt5, policy=NEVER_AGAIN)
    with caplog.at_level(logging.WARNING, logger="edge.uplink"):
        async with running(first, second):
            await eventually(
                lambda: first.takeover.episodes + second.takeover.episodes == 1,
                20,
                "a takeover recognised",
            )
            away, stays = (first, second) if first.takeover.episodes else (second, first)
            await eventually(stays.connected.is_set, 10, "the other box connected")
            stays.submit(pb.VehicleState(speed_mps=3.0), capture_time_ns=1)
            await eventually(lambda: stays.published["state"] == 1, 10, "sent")
            flaps = closed_old_connections(mosquitto)
            await asyncio.sleep(SETTLE_S)
            # The box thrown out waits instead of taking the session back: no more flapping.
            assert closed_old_connections(mosquitto) == flaps
            assert stays.connected.is_set()
            assert not away.connected.is_set()
            # Neither connected more often than the run it takes to recognise a takeover
            # (counted before the goodbye, which is a status message too).
            assert births(away) <= NEVER_AGAIN.short_sessions
            assert births(stays) <= NEVER_AGAIN.short_sessions
            assert 1 <= flaps <= 2 * NEVER_AGAIN.short_sessions
            assert away.counters()["uplink.session_taken_over"] == 1
            assert away.counters()["uplink.session_takeover_active"] == 1
            assert stays.counters()["uplink.session_taken_over"] == 0
            assert stays.counters()["uplink.session_takeover_active"] == 0
    [line] = [r.getMessage() for r in caplog.records if "another box" in r.getMessage()]
    assert "another box is connected as veh-9: two boxes configured as veh-9?" in line
    assert f"{NEVER_AGAIN.short_sessions} connections in a row closed" in line
    [event] = fault_events(away)  # waiting in its outbox for its next connection
    assert event.type == pb.EVENT_TYPE_SENSOR_FAULT
    assert event.severity == pb.SEVERITY_WARNING
    assert "two boxes configured as veh-9?" in event.description
    assert fault_events(stays) == []


async def test_two_boxes_taking_turns_report_one_episode_each(
    mosquitto: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    turns = TakeoverPolicy(backoff_s=0.2, backoff_max_s=0.4, short_sessions=3)
    first = publisher(mosquitto, mqtt5=True, policy=turns)
    second = publisher(mosquitto, mqtt5=True, policy=turns)
    with caplog.at_level(logging.ERROR, logger="edge.uplink"):
        async with running(first, second):
            await eventually(
                lambda: first.takeover.taken_over >= 3 and second.takeover.taken_over >= 3,
                30,
                "both thrown out a few times",
            )
            # Past the run that starts an episode, each connection follows a takeover's wait,
            # never the usual backoff (counted before the goodbye, a status message too).
            for uplink in (first, second):
                assert births(uplink) <= turns.short_sessions + uplink.takeover.taken_over
    assert first.takeover.episodes == 1
    assert second.takeover.episodes == 1
    assert len([r for r in caplog.records if "another box" in r.getMessage()]) == 2
    for uplink in (first, second):  # one event per episode: sent, or waiting in the outbox
        assert uplink.published["events"] + len(fault_events(uplink)) == 1
