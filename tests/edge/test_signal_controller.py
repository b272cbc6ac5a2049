"""SPaT from the signal controller: the feed's decoding, rate limit and silence watch, and the
roadside pipeline reading a real UDP socket."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence

import pytest

from edge.identity import DeviceIdentity
from edge.pipelines.roadside_unit import (
    RoadsideUnitPipeline,
    RoadsideUnitSettings,
    SignalControllerInput,
)
from edge.roadside.signal_controller import Output, SignalControllerFeed
from edge.roadside.signal_plan import FixedTimePlan, SignalGroupPlan
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from hal.net.udp_port import UdpDatagramPort
from protocols.mqtt_connection import MqttConnection
from protocols.nmea import NmeaFixAssembler
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import (
    PhaseTiming,
    StatusGroups,
    TscbmMessage,
    decode_tscbm,
    encode_tscbm,
    phase_bitmap,
    to_spat,
)
from tests.support.tasks import running
from tests.support.waiting import eventually

DEVICE = "rsu-001"
T0 = 1_700_000_000.0  # Unix receive times
GOOD = encode_tscbm(
    TscbmMessage(
        (PhaseTiming(1, 42, 42), PhaseTiming(2, 72, 72)),
        StatusGroups(greens=phase_bitmap([1]), reds=phase_bitmap([2])),
    )
)


def decode(data: bytes) -> pb.SignalPhaseTiming:
    return to_spat(decode_tscbm(data), intersection_id=101)


def feed(timeout_s: float = 1.0, max_rate_hz: float = 10.0) -> SignalControllerFeed:
    return SignalControllerFeed(
        DEVICE, decode, timeout_s=timeout_s, max_rate_hz=max_rate_hz, wall_clock_ns=lambda: 7
    )


def spats(outputs: Sequence[Output]) -> list[pb.SignalPhaseTiming]:
    return [body for body, _ in outputs if isinstance(body, pb.SignalPhaseTiming)]


def events(outputs: Sequence[Output]) -> list[pb.TrafficEvent]:
    return [body for body, _ in outputs if isinstance(body, pb.TrafficEvent)]


def test_a_datagram_becomes_spat_captured_when_it_was_received() -> None:
    f = feed()
    [(spat, capture_ns)] = f.datagram(GOOD, T0 + 0.25, now_s=3.0)
    assert isinstance(spat, pb.SignalPhaseTiming)
    assert capture_ns == round((T0 + 0.25) * 1e9)
    assert spat.intersection_id == 101
    assert [(p.signal_group, p.state, p.likely_end_s) for p in spat.phases] == [
        (1, pb.SIGNAL_STATE_GREEN, 4.2),
        (2, pb.SIGNAL_STATE_RED, 7.2),
    ]
    assert f.counters == {
        "datagrams": 1,
        "spat": 1,
        "rate_limited": 0,
        "silences": 0,
        "recoveries": 0,
    }


def test_bad_datagrams_are_counted_by_reason_and_logged_once_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    f = feed()
    caplog.set_level(logging.WARNING, "edge.signal_controller")
    bad = [b"", GOOD[:-1], b"\xcc" + GOOD[1:], GOOD[:2] + b"\x11" + GOOD[3:]]
    for i, data in enumerate(bad):
        assert f.datagram(data, T0 + i, now_s=float(i)) == []
    assert len(caplog.records) == 1
    assert "dropping bad signal-controller datagrams" in caplog.text
    assert spats(f.datagram(GOOD, T0 + 5, now_s=5.0))
    f.datagram(b"junk", T0 + 6, now_s=6.0)
    assert len(caplog.records) == 2  # a new burst after a good datagram
    assert dict(f.counters) == {
        "datagrams": 6,
        "spat": 1,
        "rate_limited": 0,
        "silences": 0,
        "recoveries": 0,
        "rejects.bad_length": 3,
        "rejects.bad_header": 1,
        "rejects.bad_phase_number": 1,  # phase 17 (0x11)
    }


def test_a_controller_faster_than_the_rate_is_cut_to_it() -> None:
    f = feed(max_rate_hz=10.0)
    published = sum(
        len(spats(f.datagram(GOOD, T0 + i / 20, now_s=i / 20))) for i in range(200)
    )  # 10 s at 20 Hz
    assert 100 <= published <= 102  # the bucket's burst of two, then 10 Hz
    assert f.counters["rate_limited"] == 200 - published


def test_a_controller_at_the_rate_with_jitter_loses_nothing() -> None:
    f = feed(max_rate_hz=10.0)
    jitter = [0.0, 0.03, -0.02, 0.04, -0.04, 0.01]
    times = [T0 + i / 10 + jitter[i % len(jitter)] for i in range(300)]
    published = sum(len(spats(f.datagram(GOOD, t, now_s=t - T0))) for t in times)
    assert published == 300
    assert f.counters["rate_limited"] == 0


def test_silence_is_one_fault_and_the_return_one_info_event() -> None:
    f = feed(timeout_s=1.0)
    assert f.check(0.0) == []  # starts watching
    f.datagram(GOOD, T0 + 0.5, now_s=0.5)
    assert f.check(1.4) == []  # heard 0.9 s ago
    [(fault, capture_ns)] = f.check(1.5)
    assert isinstance(fault, pb.TrafficEvent)
    assert capture_ns == 7  # the wall clock at detection
    assert (fault.type, fault.severity) == (pb.EVENT_TYPE_SENSOR_FAULT, pb.SEVERITY_WARNING)
    assert "silent for 1.0 s" in fault.description
    assert f.silent
    assert f.check(2.0) == f.check(9.0) == []  # one event per silence
    assert f.datagram(b"garbage", T0 + 9.5, now_s=9.5) == []  # garbage is not a sign of life
    assert f.silent
    back = f.datagram(GOOD, T0 + 10.0, now_s=10.0)
    [info] = events(back)
    assert info.severity == pb.SEVERITY_INFO
    assert "back after 9.5 s" in info.description
    assert info.event_id != fault.event_id
    assert len(spats(back)) == 1
    assert not f.silent
    assert (f.counters["silences"], f.counters["recoveries"]) == (1, 1)


def test_a_controller_never_heard_is_a_fault_after_the_timeout() -> None:
    f = feed(timeout_s=2.0)
    assert f.check(100.0) == []
    assert f.check(101.9) == []
    assert len(events(f.check(102.0))) == 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        SignalControllerFeed(DEVICE, decode, timeout_s=0, max_rate_hz=10)
    with pytest.raises(ValueError, match="rate_hz"):
        SignalControllerFeed(DEVICE, decode, timeout_s=1, max_rate_hz=0)


# --- the pipeline on a real UDP socket ---------------------------------------------------------


def unreachable_uplink() -> UplinkPublisher:
    """An uplink whose broker is absent: what the pipeline submits stays in its outbox."""
    with socket.socket() as probe:  # a TCP port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    identity = DeviceIdentity(DEVICE, "test", pb.DEVICE_ROLE_ROADSIDE_UNIT)
    settings = UplinkSettings(MqttConnection(port=port, reconnect_min_s=5.0, reconnect_max_s=5.0))
    return UplinkPublisher(identity, settings, SqliteOutbox(":memory:"))


def submitted(uplink: UplinkPublisher) -> list[pb.Envelope]:
    return [pb.Envelope.FromString(e.body) for e in uplink.outbox.peek(10_000)]


@pytest.mark.asyncio
async def test_the_roadside_pipeline_publishes_the_controllers_spat_and_its_silence() -> None:
    uplink = unreachable_uplink()
    with (
        UdpDatagramPort("signal-controller", "127.0.0.1", 0) as port,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as controller,
    ):
        pipeline = RoadsideUnitPipeline(
            radars=[],
            gnss=None,
            fixes=NmeaFixAssembler(),
            signal_plan=None,
            signal_controller=SignalControllerInput(port, decode, timeout_s=0.3),
            uplink=uplink,
            settings=RoadsideUnitSettings(spat_rate_hz=10.0, health_period_s=0.2),
        )
        async with running(pipeline.run(), "roadside-unit-under-test"):
            for _ in range(5):
                controller.sendto(GOOD, port.local_address)
                await asyncio.sleep(0.1)  # pacing the controller at 10 Hz, not a wait
            controller.sendto(b"not a TSCBM datagram", port.local_address)

            def bodies() -> list[str]:
                return [str(e.WhichOneof("body")) for e in submitted(uplink)]

            # The controller stops: after 0.3 s a fault event; then it is back.
            await eventually(lambda: "event" in bodies(), within_s=3.0)
            controller.sendto(GOOD, port.local_address)
            await eventually(lambda: bodies().count("event") == 2, within_s=3.0)
            await eventually(
                lambda: any(
                    e.health.counters.get("udp.signal-controller.rx_datagrams") == 7
                    for e in submitted(uplink)
                    if e.HasField("health")
                ),
                within_s=3.0,
            )
    envelopes = submitted(uplink)
    spat = [e for e in envelopes if e.HasField("spat")]
    fault, back = (e.event for e in envelopes if e.HasField("event"))
    assert len(spat) == 6
    assert all(e.spat.phases[0].state == pb.SIGNAL_STATE_GREEN for e in spat)
    assert (fault.severity, back.severity) == (pb.SEVERITY_WARNING, pb.SEVERITY_INFO)
    health = [e.health for e in envelopes if e.HasField("health")][-1]
    assert health.counters["udp.signal-controller.rx_datagrams"] == 7
    assert health.counters["signal_controller.rejects.bad_length"] == 1
    assert health.counters["signal_controller.silences"] == 1
    assert health.counters["signal_controller.recoveries"] == 1


def test_a_plan_and_a_controller_together_are_refused() -> None:
    plan = FixedTimePlan(101, 60, (SignalGroupPlan(1, 0, 27),))
    port = UdpDatagramPort("signal-controller", "127.0.0.1", 0)  # never opened: not needed
    with pytest.raises(ValueError, match="not both"):
        RoadsideUnitPipeline(
            radars=[],
            gnss=None,
            fixes=NmeaFixAssembler(),
            signal_plan=plan,
            signal_controller=SignalControllerInput(port, decode),
            uplink=unreachable_uplink(),
            settings=RoadsideUnitSettings(),
        )
