"""NaN and infinity in, none out: the state estimator drops and counts bad signal values, and
the pipelines never publish a body holding one (the guard refuses it and counts it)."""

from __future__ import annotations

import dataclasses
import logging
import math
import socket
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import can
import numpy as np
import pytest

from edge.geo import GeoPoint
from edge.identity import DeviceIdentity
from edge.pipelines.publish_guard import PublishGuard
from edge.pipelines.roadside_unit import RadarInput, RoadsideUnitPipeline, RoadsideUnitSettings
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from edge.roadside.object_fusion import SensorPose
from edge.roadside.track_list import FUSED_CHECKED_FIELDS
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from edge.vehicle.state_estimator import VehicleDimensions, VehicleStateEstimator
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.simulation.vehicle_can import VehicleCanSimulator
from firmware_py.simulation.world import ActorState, intersection_actors
from hal.can.frames import FrameBatch
from hal.can.python_can_port import PythonCanPort
from protocols.dbc import VectorDecoder, load_dbc
from protocols.envelope import non_finite_fields
from protocols.mqtt_connection import MqttConnection
from protocols.nmea import NmeaFixAssembler
from protocols.radar import RadarObject, RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.vss import SignalMapping, VssMapping
from tests.edge.pipeline_stubs import StubFix
from tests.support.tasks import running
from tests.support.waiting import eventually


@dataclasses.dataclass
class Columns:
    """A decoded message as the estimator reads it."""

    timestamp: Any
    signals: Mapping[str, Any]


GEAR = SignalMapping(
    "Vehicle.Powertrain.Transmission.SelectedGear", "GEAR", "G", values={0: 127, 1: 126}
)


def speed(factor: float) -> SignalMapping:
    """Vehicle.Speed from SPEED.S, in km/h times ``factor`` (the state converts to m/s)."""
    return SignalMapping("Vehicle.Speed", "SPEED", "S", factor=factor, unit="km/h")


def estimator(*signals: SignalMapping) -> VehicleStateEstimator:
    return VehicleStateEstimator(VssMapping(Path("test"), (*signals, GEAR)), VehicleDimensions())


def batch(**columns: list[float]) -> dict[str, Columns]:
    return {
        message: Columns(
            np.arange(len(values), dtype=np.float64),
            {"S" if message != "GEAR" else "G": np.array(values)},
        )
        for message, values in columns.items()
    }


def test_the_newest_finite_value_is_taken_and_the_others_counted() -> None:
    est = estimator(speed(3.6 / 2))  # half the DBC value, in m/s
    est.update_can(batch(SPEED=[10.0, 20.0, math.nan, math.inf]))
    assert est.signals["speed_mps"] == pytest.approx(10.0)  # the state's speed is filtered
    assert est.rejects == {"non_finite.speed_mps": 2}
    est.update_can(batch(SPEED=[math.nan]))  # nothing good: the last good value stays
    assert est.signals["speed_mps"] == pytest.approx(10.0)
    assert est.rejects == {"non_finite.speed_mps": 3}


def test_a_nan_scale_never_reaches_the_state() -> None:
    est = estimator(speed(math.nan))
    est.update_can(batch(SPEED=[10.0, 12.0]))
    state = est.state(1.0)
    assert state.speed_mps == 0.0
    assert non_finite_fields(state) == []
    assert est.rejects == {"bad_scaling.speed_mps": 1}
    assert est.last_can_time == 1.0  # the vehicle was heard, even if its value was bad


def test_a_nan_enum_code_is_dropped_without_raising() -> None:
    est = estimator()
    est.update_can(batch(GEAR=[1.0, math.nan]))
    assert est.state(1.0).gear == pb.GEAR_PARK
    assert est.rejects == {"non_finite.gear": 1}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["altitude_m", "speed_mps", "course_deg", "hdop"])
def test_a_fix_with_a_non_finite_field_uses_only_its_finite_ones(bad: float, field: str) -> None:
    est = estimator()
    changes: dict[str, Any] = {field: bad}
    fix = dataclasses.replace(StubFix(), **changes)
    est.update_gnss(fix, receive_time=1.0)
    state = est.state(1.0)
    assert non_finite_fields(state) == []
    assert state.position.latitude_deg == pytest.approx(34.0, abs=1e-12)  # via the ENU frame


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_fix_with_a_non_finite_position_is_no_fix(bad: float) -> None:
    est = estimator()
    est.update_gnss(StubFix(latitude_deg=bad), receive_time=1.0)
    assert not est.state(1.0).HasField("position")
    assert est.rejects == {"gnss_non_finite": 1}


# --- the pipelines, with an uplink whose broker is absent: submitted bodies stay in its outbox


def unreachable_uplink(role: pb.DeviceRole.ValueType) -> UplinkPublisher:
    with socket.socket() as probe:  # a TCP port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    identity = DeviceIdentity("dev-nan", "test", role)
    settings = UplinkSettings(MqttConnection(port=port, reconnect_min_s=5.0, reconnect_max_s=5.0))
    return UplinkPublisher(identity, settings, SqliteOutbox(":memory:"))


def submitted(uplink: UplinkPublisher) -> list[pb.Envelope]:
    return [pb.Envelope.FromString(e.body) for e in uplink.outbox.peek(10_000)]


def last_health(uplink: UplinkPublisher) -> Mapping[str, int]:
    healths = [e.health for e in submitted(uplink) if e.HasField("health")]
    return healths[-1].counters if healths else {}


@pytest.mark.asyncio
async def test_a_vehicle_gateway_with_a_nan_scale_publishes_no_non_finite_value() -> None:
    config = load_box_config(EXAMPLES_DIR / "vehicle-toyota.toml")
    assert config.vehicle is not None
    db = load_dbc(config.can[0].dbc).database
    # A scale of NaN (the tester's config) and one that overflows every value.
    broken = {"Vehicle.Speed": math.nan, "Vehicle.AngularVelocity.Yaw": 1e308}
    signal_map = dataclasses.replace(
        config.vehicle.signals,
        signals=tuple(
            dataclasses.replace(s, factor=broken[s.path]) if s.path in broken else s
            for s in config.vehicle.signals.signals
        ),
    )
    sim = VehicleCanSimulator(
        intersection_actors()["veh-001"], db, interface="virtual", channel="unused"
    )
    frames = sim.frames(ActorState(0, 0, 12.0, 0.0, 0.3, -1.0, False, "left", False), slow=True)
    channel = f"rg-test-{uuid.uuid4().hex}"
    uplink = unreachable_uplink(pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    with (
        PythonCanPort("vehicle", "virtual", channel) as port,
        can.Bus(interface="virtual", channel=channel, ignore_config=True) as car,
    ):
        pipeline = VehicleGatewayPipeline(
            can_ports=[port],
            decoder=VectorDecoder(db),
            estimator=VehicleStateEstimator(signal_map, VehicleDimensions()),
            gnss=None,
            fixes=NmeaFixAssembler(),
            uplink=uplink,
            settings=VehicleGatewaySettings(state_rate_hz=20.0, health_period_s=0.2),
        )
        async with running(pipeline.run(), "vehicle-gateway-under-test"):
            for frame_id, data in frames:
                car.send(can.Message(arbitration_id=frame_id, data=data, is_extended_id=False))

            def states() -> list[pb.VehicleState]:
                return [e.vehicle_state for e in submitted(uplink) if e.HasField("vehicle_state")]

            await eventually(lambda: len(states()) >= 3, within_s=5.0)
            await eventually(
                lambda: last_health(uplink).get("state.rejects.bad_scaling.speed_mps", 0) > 0,
                within_s=5.0,
            )
    envelopes = submitted(uplink)
    assert all(non_finite_fields(e) == [] for e in envelopes)
    assert all(e.vehicle_state.speed_mps == 0.0 for e in envelopes if e.HasField("vehicle_state"))
    assert any(e.vehicle_state.longitudinal_accel_mps2 < 0 for e in envelopes)  # the rest flows
    assert last_health(uplink)["state.rejects.bad_scaling.yaw_rate_rad_s"] > 0


def nan_objects(_: FrameBatch) -> Sequence[RadarObjectList]:
    """A radar role that hands the pipeline NaN and infinity (the assembler never does)."""
    good = RadarObject(1, 20.0, 1.0, -5.0, 0.0, 1, 10.0)
    bad = RadarObject(2, math.nan, 1.0, -math.inf, 0.0, 1, 10.0)
    return [RadarObjectList(0, 1, 1.0, (good, bad)), RadarObjectList(0, 2, 1.1, (good,))]


@pytest.mark.asyncio
async def test_a_roadside_unit_given_nan_objects_publishes_none_of_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = f"rg-test-{uuid.uuid4().hex}"
    uplink = unreachable_uplink(pb.DEVICE_ROLE_ROADSIDE_UNIT)
    pose = SensorPose("radar-0", GeoPoint(34.0, 108.0, 400.0), 0.0)
    with (
        PythonCanPort("radar", "virtual", channel) as port,
        can.Bus(interface="virtual", channel=channel, ignore_config=True) as radar,
    ):
        pipeline = RoadsideUnitPipeline(
            radars=[RadarInput(port, nan_objects, pose)],
            gnss=None,
            fixes=NmeaFixAssembler(),
            signal_plan=None,
            uplink=uplink,
            settings=RoadsideUnitSettings(health_period_s=0.2),
        )
        async with running(pipeline.run(), "roadside-unit-under-test"):
            radar.send(can.Message(arbitration_id=0x60A, data=bytes(8)))
            await eventually(
                lambda: last_health(uplink).get("publish.refused.non_finite.ObjectList", 0) >= 1,
                within_s=5.0,
            )
    envelopes = submitted(uplink)
    assert all(non_finite_fields(e) == [] for e in envelopes)
    # One frame, one batch: one list refused, the finite one published.
    assert last_health(uplink)["publish.refused.non_finite.ObjectList"] == 1
    assert last_health(uplink)["publish.refused.non_finite"] == 1
    lists = [e.object_list for e in envelopes if e.HasField("object_list")]
    assert [lst.cycle_counter for lst in lists] == [2]
    refusals = [r for r in caplog.records if "not publishing ObjectList" in r.getMessage()]
    assert len(refusals) == 1


def test_the_guard_counts_every_refusal_and_logs_once_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = PublishGuard("dev-nan")
    bad, good = pb.VehicleState(speed_mps=math.nan), pb.VehicleState(speed_mps=1.0)
    with caplog.at_level(logging.INFO, logger="edge.pipelines"):
        verdicts = [guard.admit(m) for m in (bad, bad, bad, good, good, bad, good)]
    assert verdicts == [False, False, False, True, True, False, True]
    assert guard.counters == {"non_finite": 4, "non_finite.VehicleState": 4}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not publishing VehicleState with non-finite speed_mps" in m for m in messages) == 2
    assert sum("finite again" in m for m in messages) == 2
    assert guard.admit(pb.ObjectList(sensor_heading_rad=-math.inf)) is False
    assert guard.counters["non_finite.ObjectList"] == 1


def test_the_guard_does_not_read_the_fields_a_source_checked() -> None:
    guard = PublishGuard("dev-checked")
    body = pb.ObjectList(objects=[pb.PerceivedObject(x_m=math.nan)])
    # The fusion's lists: objects made from columns it checked (see FUSED_CHECKED_FIELDS).
    assert guard.admit(body, FUSED_CHECKED_FIELDS) is True
    assert guard.admit(body) is False
    body.sensor_heading_rad = math.inf
    assert guard.admit(body, FUSED_CHECKED_FIELDS) is False
    assert guard.counters == {"non_finite": 2, "non_finite.ObjectList": 2}
