"""The roadside unit's state feed with a flight recorder: every message it receives from a real
broker is in the log (topic, payload, receive time), the ones it refused as well as the ones it
offered, recorded before they were checked."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import pytest

from edge.geodesy import LocalFrame
from edge.identity import DeviceIdentity
from edge.recording.reader import LogReader, MqttItem
from edge.recording.writer import FlightRecorder
from edge.roadside.cooperative import CooperativeReport
from edge.roadside.state_feed import StateFeed
from protocols.envelope import seal
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.mosquitto import Broker
from tests.support.tasks import running
from tests.support.waiting import eventually

FRAME = LocalFrame.at(34.2237, 108.8906, 400.0)
ME = DeviceIdentity("rsu-001", "xian", pb.DEVICE_ROLE_ROADSIDE_UNIT)


def state(device: str, capture_s: float, publish_delay_s: float = 0.0) -> bytes:
    """A sealed vehicle state captured at ``capture_s`` (Unix s), published that much later."""
    geodetic = FRAME.enu_to_geodetic(10.0, -20.0, 0.0)
    body = pb.VehicleState(
        position=pb.Position(
            latitude_deg=float(geodetic.latitude_deg),
            longitude_deg=float(geodetic.longitude_deg),
            horizontal_accuracy_m=1.0,
            fix_quality=pb.FIX_QUALITY_DGNSS,
        ),
        speed_mps=8.0,
    )
    return seal(
        body,
        device_id=device,
        boot_id="boot-1",
        sequence=1,
        capture_time_ns=int(capture_s * 1e9),
        publish_time_ns=int((capture_s + publish_delay_s) * 1e9),
        clock_source=pb.CLOCK_SOURCE_GNSS,
    ).SerializeToString()


def recorded(recorder: FlightRecorder) -> list[MqttItem]:
    recorder.close()
    return [
        item for path in recorder.files() for item in LogReader(path) if isinstance(item, MqttItem)
    ]


def test_each_message_is_recorded_at_the_feeds_clock_before_its_checks(tmp_path: Path) -> None:
    recorder = FlightRecorder(tmp_path)
    offered: list[CooperativeReport] = []
    now = 1_780_000_000.0
    feed = StateFeed(
        MqttConnection(), ME, FRAME, offered.append, clock=lambda: now, recording=recorder
    )
    heard = [
        ("rg/v1/xian/veh-1/state", state("veh-1", now - 0.1)),  # offered
        ("rg/v1/xian/veh-2/state", state("veh-2", now - 60)),  # stale
        ("not/a/topic", b"x"),  # bad topic
        ("rg/v1/xian/veh-3/state", b"\x00" * 5000),  # oversized
    ]
    for topic, payload in heard:
        feed.on_message(topic, payload)
    assert len(offered) == 1
    assert feed.counters["rejects.stale"] == 1
    items = recorded(recorder)
    assert [(item.topic, item.message) for item in items] == heard
    assert {item.channel.topic for item in items} == {"mqtt/in/state-feed"}
    assert all(item.timestamp == pytest.approx(now) for item in items)


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_what_the_feed_received_from_a_broker_is_in_the_log(
    mosquitto: Broker, tmp_path: Path
) -> None:
    recorder = FlightRecorder(tmp_path)
    offered: list[CooperativeReport] = []
    mqtt = MqttConnection(host=mosquitto.host, port=mosquitto.port, reconnect_min_s=0.1)
    feed = StateFeed(mqtt, ME, FRAME, offered.append, recording=recorder)
    async with running(feed.run(), "state-feed-recording"):
        await asyncio.wait_for(feed.connected.wait(), 10)
        now = time.time()
        sent = [
            ("rg/v1/xian/veh-1/state", state("veh-1", now)),
            ("rg/v1/xian/rsu-001/state", state("rsu-001", now)),  # its own: ignored
            ("rg/v1/xian/veh-2/state", b"not an envelope"),
            ("rg/v1/xian/veh-3/state", state("veh-3", now - 30)),  # stale
            ("rg/v1/xian/veh-4/state", state("veh-1", now)),  # device mismatch
            ("rg/v1/elsewhere/veh-5/state", state("veh-5", now)),  # not subscribed to
        ]
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            for topic, payload in sent:
                await client.publish(topic, payload, qos=1)
        await eventually(lambda: feed.counters["received"] == 5, what="five messages received")
    after = time.time()
    assert [report.vehicle_id for report in offered] == ["veh-1"]
    counters = feed.counters
    assert counters["ignored_own"] == 1
    assert counters["rejects.malformed"] == 1
    assert counters["rejects.stale"] == 1
    assert counters["rejects.device_mismatch"] == 1
    items = recorded(recorder)
    assert [(item.topic, item.message) for item in items] == sent[:5]
    assert all(now <= item.timestamp <= after for item in items)
