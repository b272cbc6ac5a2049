"""SENSOR_FAULT events for the box's sensors, once each way (issue 14, item 9).

A real controller cannot be driven error-passive or bus-off on this machine (no CAN in the
kernel), so ``ScriptedBus`` stands in for a hal CAN port: a state and counters a test sets,
as ``SocketCanRawPort`` reports them. The serial port is a real one on a pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.geo import GeoPoint
from edge.pipelines.roadside_unit import RadarInput, RoadsideUnitPipeline, RoadsideUnitSettings
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from edge.roadside.object_fusion import SensorPose
from edge.sensor_faults import SensorFaultWatch, has_position
from hal.can.port import BusState, CanPort
from hal.serial.pyserial_port import PySerialLinePort
from protocols.nmea.fix import FixQuality
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.pipeline_stubs import (
    FixedClock,
    RecordingUplink,
    StubDecoder,
    StubEstimator,
    StubFix,
    StubFixes,
)


class ScriptedBus:
    def __init__(self, name: str = "radar") -> None:
        self.name = name
        self.state = BusState.ACTIVE
        self.counts = {"bus_error_passive": 0, "bus_off": 0, "interface_down": 0, "reopens": 0}

    @property
    def counters(self) -> Mapping[str, int]:
        return dict(self.counts)


def texts(outputs: list[tuple[pb.TrafficEvent, int]]) -> list[tuple[int, str]]:
    for event, _ in outputs:
        assert event.type == pb.EVENT_TYPE_SENSOR_FAULT
    return [(event.severity, event.description) for event, _ in outputs]


def test_a_bus_going_error_passive_and_back_gives_one_event_each_way() -> None:
    bus = ScriptedBus()
    watch = SensorFaultWatch("rsu-1", can_ports=[bus])
    assert watch.check(1.0) == []
    bus.state = BusState.PASSIVE
    bus.counts["bus_error_passive"] += 1
    first = texts(watch.check(2.0))
    assert first == [
        (
            pb.SEVERITY_WARNING,
            "CAN port 'radar' is error-passive: check the wiring, termination and bitrate",
        )
    ]
    bus.counts["bus_error_passive"] += 5  # more error frames while passive: no new event
    assert watch.check(3.0) == []
    bus.state = BusState.ACTIVE
    assert texts(watch.check(4.0)) == [(pb.SEVERITY_INFO, "CAN port 'radar' is error-active again")]
    assert watch.check(5.0) == []
    assert watch.counters["bus_faults"] == 1
    assert watch.counters["bus_recoveries"] == 1


def test_a_bus_off_and_recovered_between_two_checks_still_gives_both_events() -> None:
    bus = ScriptedBus()
    watch = SensorFaultWatch("rsu-1", can_ports=[bus])
    bus.counts["bus_off"] += 1  # state is ACTIVE again by the time we look
    got = texts(watch.check(1.0))
    assert [severity for severity, _ in got] == [pb.SEVERITY_WARNING, pb.SEVERITY_INFO]
    assert "bus-off" in got[0][1]


def test_passive_then_bus_off_escalates_once() -> None:
    bus = ScriptedBus()
    watch = SensorFaultWatch("rsu-1", can_ports=[bus])
    bus.state = BusState.PASSIVE
    assert len(watch.check(1.0)) == 1
    bus.state = BusState.BUS_OFF
    assert "bus-off" in texts(watch.check(2.0))[0][1]
    assert watch.check(3.0) == []  # still bus-off
    bus.state = BusState.DOWN
    assert watch.check(4.0) == []  # down is not a recovery


def test_event_ids_are_unique_and_numbered_per_source() -> None:
    bus = ScriptedBus()
    watch = SensorFaultWatch("rsu-1", can_ports=[bus])
    ids = []
    for _ in range(3):
        bus.counts["bus_off"] += 1
        ids += [event.event_id for event, _ in watch.check(1.0)]
    assert ids == [f"rsu-1-sensor-{n}" for n in range(1, 7)]


def test_a_fix_lost_and_regained_gives_one_event_each_way() -> None:
    watch = SensorFaultWatch("veh-1", fix_timeout_s=3.0)
    assert watch.check(0.0) == []  # never had a fix: a cold start is not a fault
    assert watch.on_fix(True, 1.0) == []
    assert watch.check(3.9) == []
    lost = texts(watch.check(4.0))
    assert lost == [(pb.SEVERITY_WARNING, "GNSS fix lost: no GNSS fix for 3.0 s")]
    assert watch.check(10.0) == []
    assert watch.on_fix(False, 10.5) == []  # still lost
    assert texts(watch.on_fix(True, 11.0)) == [(pb.SEVERITY_INFO, "GNSS fix regained")]
    assert watch.on_fix(True, 11.2) == []


def test_a_no_fix_epoch_loses_the_fix_at_once() -> None:
    watch = SensorFaultWatch("veh-1")
    watch.on_fix(True, 1.0)
    assert texts(watch.on_fix(False, 1.2)) == [
        (pb.SEVERITY_WARNING, "GNSS fix lost: the receiver reports no fix")
    ]
    assert watch.check(100.0) == []  # already reported


def test_has_position_needs_a_position_and_a_quality() -> None:
    assert has_position(StubFix())
    assert not has_position(StubFix(quality=FixQuality.NONE))
    assert not has_position(StubFix(latitude_deg=None))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(BusState)),
            st.integers(0, 3),
            st.integers(0, 3),
            st.integers(0, 2),
            st.integers(0, 2),
        ),
        max_size=30,
    )
)
def test_fault_and_recovery_events_alternate_per_bus(
    steps: list[tuple[BusState, int, int, int, int]],
) -> None:
    """Whatever the bus does, a recovery never comes without a fault before it, and a port
    reopened follows a port lost: once each way."""
    bus = ScriptedBus()
    watch = SensorFaultWatch("rsu-1", can_ports=[bus])
    faulty = lost = False
    for state, passive, off, down, back in steps:
        bus.state = state
        bus.counts["bus_error_passive"] += passive
        bus.counts["bus_off"] += off
        bus.counts["interface_down"] += down
        bus.counts["reopens"] += back
        for severity, text in texts(watch.check(0.0)):
            if "lost" in text:
                assert not lost
                lost = True
            elif "reopened" in text:
                assert lost
                lost = False
            elif severity == pb.SEVERITY_INFO:
                assert faulty
                faulty = False
            else:
                faulty = True


def test_a_real_serial_port_lost_and_reopened(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    link = tmp_path / "gnss0"
    link.symlink_to(os.ttyname(slave))
    os.close(slave)
    port = PySerialLinePort("gnss", str(link), reopen_interval=0.01)
    try:
        with port:
            watch = SensorFaultWatch("veh-1", serial_ports=[port])
            os.write(master, b"$GPTXT,hello*00\r\n")
            port.read_lines(timeout=0.2)
            # Unplugged: the pty's master closes, the port sees the device gone.
            os.close(master)
            link.unlink()
            for _ in range(20):
                port.read_lines(timeout=0.02)
            assert texts(watch.check(1.0)) == [(pb.SEVERITY_WARNING, "serial port 'gnss' lost")]
            master, slave = pty.openpty()
            link.symlink_to(os.ttyname(slave))
            os.close(slave)
            for _ in range(50):
                port.read_lines(timeout=0.02)
                if port.connected:
                    break
            assert port.connected
            assert texts(watch.check(2.0)) == [(pb.SEVERITY_INFO, "serial port 'gnss' reopened")]
    finally:
        os.close(master)


def test_the_vehicle_gateway_publishes_fix_lost_and_regained_on_the_events_stream() -> None:
    uplink = RecordingUplink(pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    clock = FixedClock()
    pipeline = VehicleGatewayPipeline(
        can_ports=[],
        decoder=StubDecoder(),
        estimator=StubEstimator(),
        gnss=None,
        fixes=StubFixes(),
        uplink=uplink,
        settings=VehicleGatewaySettings(),
        clock=clock,
    )
    pipeline.on_gnss_line(b"FIX")
    clock.advance(10.0)
    pipeline.publish_health()
    pipeline.publish_health()
    pipeline.on_gnss_line(b"FIX")
    events = uplink.of(pb.TrafficEvent)
    assert [(e.type, e.severity) for e in events] == [
        (pb.EVENT_TYPE_SENSOR_FAULT, pb.SEVERITY_WARNING),
        (pb.EVENT_TYPE_SENSOR_FAULT, pb.SEVERITY_INFO),
    ]
    health = uplink.of(pb.DeviceHealth)[-1]
    assert health.counters["sensor_faults.fixes_lost"] == 1


def test_a_fix_timeout_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="fix_timeout_s"):
        SensorFaultWatch("x", fix_timeout_s=0)


def test_the_roadside_unit_publishes_a_bus_off_and_its_recovery_on_the_events_stream() -> None:
    uplink = RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT)
    bus = ScriptedBus()
    radar = RadarInput(
        cast(CanPort, bus), lambda _batch: [], SensorPose("front", GeoPoint(34.0, 108.0), 0.0)
    )
    pipeline = RoadsideUnitPipeline(
        radars=[radar],
        gnss=None,
        fixes=StubFixes(),
        signal_plan=None,
        uplink=uplink,
        settings=RoadsideUnitSettings(),
        clock=FixedClock(),
    )
    bus.state = BusState.BUS_OFF
    pipeline.publish_health()
    bus.state = BusState.ACTIVE
    pipeline.publish_health()
    pipeline.publish_health()
    events = uplink.of(pb.TrafficEvent)
    assert [(e.type, e.severity) for e in events] == [
        (pb.EVENT_TYPE_SENSOR_FAULT, pb.SEVERITY_WARNING),
        (pb.EVENT_TYPE_SENSOR_FAULT, pb.SEVERITY_INFO),
    ]
    assert "bus-off" in events[0].description
    # Published before the health report that counts it.
    assert uplink.kinds()[:2] == ["TrafficEvent", "DeviceHealth"]
