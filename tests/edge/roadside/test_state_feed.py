"""The roadside unit's state feed: every vehicle gateway's ``state`` in the region becomes a
report for the associator; anything else is counted by reason and never stops it; a lost broker
is reconnected to. Against a real private Mosquitto, and fuzzed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import numpy as np
import pytest
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge.geodesy import LocalFrame
from edge.identity import DeviceIdentity
from edge.roadside.cooperative import CooperativeReport
from edge.roadside.state_feed import StateFeed, subscription_refused
from protocols.envelope import seal
from protocols.mqtt_connection import MqttConnection
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.support.mosquitto import Broker, MosquittoProcess
from tests.support.tasks import running
from tests.support.waiting import eventually

FRAME = LocalFrame.at(34.2237, 108.8906, 400.0)
REGION = "xian"
ME = DeviceIdentity("rsu-001", REGION, pb.DEVICE_ROLE_ROADSIDE_UNIT)
NOW_S = 1_772_446_542.0


def vehicle_state(east: float = 12.0, north: float = -30.0) -> pb.VehicleState:
    geodetic = FRAME.enu_to_geodetic(east, north, 0.0)
    return pb.VehicleState(
        position=pb.Position(
            latitude_deg=float(geodetic.latitude_deg),
            longitude_deg=float(geodetic.longitude_deg),
            horizontal_accuracy_m=1.2,
            fix_quality=pb.FIX_QUALITY_DGNSS,
        ),
        speed_mps=9.0,
        heading_rad=0.0,
    )


def payload(
    device: str,
    body: Message | None = None,
    capture_s: float = NOW_S - 0.1,
    **envelope: object,
) -> bytes:
    env = seal(
        body if body is not None else vehicle_state(),
        device_id=device,
        boot_id="boot-1",
        sequence=1,
        capture_time_ns=int(capture_s * 1e9),
        publish_time_ns=int(capture_s * 1e9),
        clock_source=pb.CLOCK_SOURCE_GNSS,
    )
    for name, value in envelope.items():
        setattr(env, name, value)
    return env.SerializeToString()


def topic(device: str, stream: str = "state", region: str = REGION) -> str:
    return f"rg/v1/{region}/{device}/{stream}"


def feed(
    offered: list[CooperativeReport], mqtt: MqttConnection | None = None, now: float = NOW_S
) -> StateFeed:
    return StateFeed(mqtt or MqttConnection(), ME, FRAME, offered.append, clock=lambda: now)


def test_a_vehicle_state_becomes_a_report_in_the_intersection_frame() -> None:
    offered: list[CooperativeReport] = []
    states = feed(offered)
    states.on_message(topic("veh-7"), payload("veh-7", clock_max_error_s=0.0))
    [report] = offered
    assert report.vehicle_id == "veh-7"
    assert report.time_s == pytest.approx(NOW_S - 0.1)
    np.testing.assert_allclose(report.position, [12.0, -30.0], atol=1e-6)
    np.testing.assert_allclose(report.velocity, [0.0, 9.0], atol=1e-9)
    assert states.counters["offered"] == 1
    assert states.topic_filter == "rg/v1/xian/+/state"
    assert states.client_id == "rsu-001-state-feed"  # not the uplink's: the broker would drop it


@pytest.mark.parametrize(
    ("where", "data", "reason"),
    [
        ("rg/v1/xian/veh-7", payload("veh-7"), "rejects.bad_topic"),
        (topic("veh-7", "objects"), payload("veh-7", pb.ObjectList()), "rejects.wrong_stream"),
        (topic("veh-7"), b"\xff\xfe garbage", "rejects.malformed"),
        (topic("veh-7"), b"\x00" * 5000, "rejects.oversized"),
        (topic("veh-7"), payload("veh-8"), "rejects.device_mismatch"),
        (topic("veh-7"), payload("veh-7", pb.ObjectList()), "rejects.stream_mismatch"),
        (topic("veh-7"), payload("veh-7", historical=True), "rejects.historical"),
        (topic("veh-7"), payload("veh-7", capture_s=NOW_S - 5.0), "rejects.stale"),
        (topic("veh-7"), payload("veh-7", capture_s=NOW_S + 5.0), "rejects.from_future"),
        (topic("veh-7"), payload("veh-7", schema_version=2), "rejects.unknown_schema_version"),
        (topic("veh-7"), payload("veh-7", pb.VehicleState()), "rejects.no_position"),
        (topic("veh-7"), payload("veh-7", clock_max_error_s=float("nan")), "rejects.non_finite"),
        (topic(ME.device_id), payload(ME.device_id), "ignored_own"),
    ],
)
def test_anything_else_is_counted_by_reason(where: str, data: bytes, reason: str) -> None:
    offered: list[CooperativeReport] = []
    states = feed(offered)
    states.on_message(where, data)
    assert offered == []
    assert states.counters[reason] == 1
    assert states.counters["received"] == 1


@given(where=st.text(max_size=80), data=st.binary(max_size=300))
def test_no_topic_or_payload_raises(where: str, data: bytes) -> None:
    offered: list[CooperativeReport] = []
    states = feed(offered)
    states.on_message(where, data)
    states.on_message(topic("veh-7"), data)
    counters = states.counters
    refused = sum(n for name, n in counters.items() if name.startswith("rejects."))
    assert refused + counters.get("ignored_own", 0) + counters["offered"] == 2


@given(
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=6, max_size=6),
    capture_s=st.floats(NOW_S - 2.0, NOW_S + 2.0),
)
def test_any_state_values_give_a_finite_report_or_a_counted_reject(
    values: list[float], capture_s: float
) -> None:
    lat, lon, accuracy, speed, heading, clock_error = values
    state = pb.VehicleState(
        position=pb.Position(latitude_deg=lat, longitude_deg=lon, horizontal_accuracy_m=accuracy),
        speed_mps=speed,
        heading_rad=heading,
    )
    offered: list[CooperativeReport] = []
    states = feed(offered)
    states.on_message(
        topic("veh-7"),
        payload("veh-7", state, capture_s=capture_s, clock_max_error_s=clock_error),
    )
    for report in offered:
        for array in (report.position, report.velocity):
            assert np.isfinite(array).all()
        for array in (report.position_covariance, report.velocity_covariance):
            assert np.isfinite(array).all()
    assert (
        len(offered) + sum(n for name, n in states.counters.items() if name.startswith("rejects."))
        == 1
    )


def live_feed(host: str, port: int, offered: list[CooperativeReport]) -> StateFeed:
    mqtt = MqttConnection(host=host, port=port, reconnect_min_s=0.1, reconnect_max_s=0.5)
    return StateFeed(mqtt, ME, FRAME, offered.append)


async def publish(host: str, port: int, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(host, port, identifier="test-publisher") as client:
        for where, data in messages:
            await client.publish(where, data, qos=1)


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_the_region_states_arrive_through_a_real_broker(mosquitto: Broker) -> None:
    offered: list[CooperativeReport] = []
    states = live_feed(mosquitto.host, mosquitto.port, offered)
    async with running(states.run(), "state-feed-under-test"):
        await asyncio.wait_for(states.connected.wait(), 10)
        now = time.time()
        await publish(
            mosquitto.host,
            mosquitto.port,
            [
                (topic("veh-1"), payload("veh-1", capture_s=now)),
                (topic("veh-2"), payload("veh-2", vehicle_state(-5.0, 8.0), capture_s=now)),
                (topic("veh-3", region="elsewhere"), payload("veh-3", capture_s=now)),
                (topic("veh-4", "health"), payload("veh-4", pb.DeviceHealth(), capture_s=now)),
                (topic(ME.device_id), payload(ME.device_id, capture_s=now)),
                (topic("veh-5"), b"not an envelope"),
                (topic("veh-6"), payload("veh-6", capture_s=now)),
            ],
        )
        await eventually(lambda: len(offered) == 3, what="three vehicles' states offered")
        await eventually(lambda: states.counters["received"] == 5, what="five messages received")
    assert [r.vehicle_id for r in offered] == ["veh-1", "veh-2", "veh-6"]
    np.testing.assert_allclose(offered[1].position, [-5.0, 8.0], atol=1e-6)
    counters = states.counters
    assert counters["ignored_own"] == 1
    assert counters["rejects.malformed"] == 1


@pytest.mark.mosquitto
@pytest.mark.asyncio
async def test_it_reconnects_when_the_broker_comes_back(tmp_path: Path) -> None:
    broker = MosquittoProcess(tmp_path)
    offered: list[CooperativeReport] = []
    states = live_feed(broker.host, broker.port, offered)
    try:
        async with running(states.run(), "state-feed-under-test"):  # before the broker
            await asyncio.sleep(0.3)
            assert not states.connected.is_set()
            broker.start()
            await asyncio.wait_for(states.connected.wait(), 10)
            await publish(
                broker.host,
                broker.port,
                [(topic("veh-1"), payload("veh-1", capture_s=time.time()))],
            )
            await eventually(lambda: len(offered) == 1, what="the first state offered")
            broker.stop()
            await eventually(lambda: not states.connected.is_set(), what="the loss noticed")
            broker.start()
            await asyncio.wait_for(states.connected.wait(), 10)
            await publish(
                broker.host,
                broker.port,
                [(topic("veh-1"), payload("veh-1", capture_s=time.time()))],
            )
            await eventually(lambda: len(offered) == 2, what="a state offered after the outage")
    finally:
        broker.stop()
    assert states.counters["reconnects"] >= 2


def test_a_refused_subscription_is_recognised_in_either_mqtt_version() -> None:
    """Mosquitto 2 grants a wildcard its ACL does not allow and filters what it delivers; other
    brokers refuse it in the SUBACK, which the feed logs and counts."""
    assert not subscription_refused((0,))
    assert subscription_refused((128,))
    assert not subscription_refused([ReasonCode(PacketTypes.SUBACK, "Granted QoS 0")])
    assert subscription_refused([ReasonCode(PacketTypes.SUBACK, "Not authorized")])
