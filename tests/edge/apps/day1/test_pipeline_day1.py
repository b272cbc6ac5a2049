"""The vehicle gateway pipeline with the real Day-1 engine: a warning about what the radio
heard is published on the events stream after the state it judged, and counted in health."""

from __future__ import annotations

from edge.apps.day1.engine import Day1Engine
from edge.apps.day1.fcw import Fcw
from edge.apps.day1.heard_world import HeardWorld
from edge.apps.day1.picture import frame_at
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from edge.v2x.reception import ReceptionFilter
from firmware_py.simulation.v2x_scenes import ORIGIN, Mover, vehicle_state
from hal.can.frames import empty_batch
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame, encode_bsm, station_id_bytes
from tests.edge.pipeline_stubs import (
    FixedClock,
    RecordingUplink,
    StubDecoder,
    StubEstimator,
    StubFixes,
)


def test_a_forward_collision_warning_is_published_with_the_state() -> None:
    clock = FixedClock()
    uplink = RecordingUplink(pb.DEVICE_ROLE_VEHICLE_GATEWAY)
    estimator = StubEstimator()
    world = HeardWorld()
    reception = ReceptionFilter(world.hear)
    engine = Day1Engine("veh-1", world, [Fcw()])
    pipeline = VehicleGatewayPipeline(
        can_ports=[],
        decoder=StubDecoder(),
        estimator=estimator,
        gnss=None,
        fixes=StubFixes(),
        uplink=uplink,
        settings=VehicleGatewaySettings(),
        clock=clock,
        v2x_apps=engine,
    )
    frame = frame_at(ORIGIN)
    now_s = clock.now / 1e9
    stopped = Mover(east_m=0.0, north_m=30.0, heading_deg=0.0, speed_mps=0.0)
    for k, back_s in enumerate((0.2, 0.1)):
        bsm = encode_bsm(
            vehicle_state(stopped, 0.0, frame),
            vehicle_id=station_id_bytes(42),
            msg_cnt=k,
            unix_s=now_s - back_s,
        )
        reception(*decode_message_frame(bsm), now_s - back_s + 0.005)
    pipeline.on_can_batch(empty_batch(1))
    estimator.next_state = vehicle_state(
        Mover(east_m=0.0, north_m=0.0, heading_deg=0.0, speed_mps=15.0), 0.0, frame
    )
    pipeline.publish_state()
    assert uplink.kinds() == ["VehicleState"]  # found once: not yet a warning
    clock.advance(0.05)
    pipeline.publish_state()
    assert uplink.kinds() == ["VehicleState", "VehicleState", "TrafficEvent"]
    (event,) = uplink.of(pb.TrafficEvent)
    assert event.application == "FCW"
    assert event.remote_id == f"{42:016x}"
    counters = pipeline.health.snapshot().counters
    assert counters["apps.FCW.warnings"] == 1
    assert counters["apps.cycles"] == 2
