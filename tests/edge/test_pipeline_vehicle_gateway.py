"""The vehicle gateway pipeline, built from stub roles and driven through its step methods."""

from __future__ import annotations

import asyncio
import math

import pytest

from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from hal.can.frames import empty_batch
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.pipeline_stubs import (
    FixedClock,
    RecordingRadio,
    RecordingUplink,
    StubDecoder,
    StubEstimator,
    StubFixes,
    task_names,
)
from tests.support.tasks import running
from tests.support.waiting import eventually


class BrakeApp:
    """Raises an event for every state with the brake applied."""

    def __init__(self) -> None:
        self.judged: list[pb.VehicleState] = []

    def evaluate(self, state: pb.VehicleState) -> pb.TrafficEvent | None:
        self.judged.append(state)
        if not state.brake_applied:
            return None
        return pb.TrafficEvent(event_id=f"brake-{len(self.judged)}", description="braking")


class Parts:
    def __init__(self) -> None:
        self.uplink = RecordingUplink(pb.DEVICE_ROLE_VEHICLE_GATEWAY)
        self.clock = FixedClock()
        self.decoder = StubDecoder()
        self.estimator = StubEstimator()
        self.fixes = StubFixes()
        self.app = BrakeApp()
        self.radio = RecordingRadio()

    def pipeline(
        self, *, radio: bool = True, settings: VehicleGatewaySettings | None = None
    ) -> VehicleGatewayPipeline:
        return VehicleGatewayPipeline(
            can_ports=[],
            decoder=self.decoder,
            estimator=self.estimator,
            gnss=None,
            fixes=self.fixes,
            uplink=self.uplink,
            settings=settings or VehicleGatewaySettings(),
            apps=[self.app],
            radio=self.radio if radio else None,
            clock=self.clock,
        )


def test_no_state_is_published_before_the_vehicle_is_heard() -> None:
    parts = Parts()
    parts.pipeline().publish_state()
    assert parts.uplink.submitted == []
    assert parts.radio.states == []
    assert parts.app.judged == []


def test_frames_go_through_the_decoder_into_the_estimator() -> None:
    parts = Parts()
    pipeline = parts.pipeline()
    batch = empty_batch(3)
    pipeline.on_can_batch(batch)
    assert [b is batch for b in parts.decoder.batches] == [True]
    assert parts.estimator.can_updates == [parts.decoder.output]
    assert pipeline.counters["can_frames"] == 3


def test_the_state_is_published_at_clock_time_and_broadcast() -> None:
    parts = Parts()
    pipeline = parts.pipeline()
    pipeline.on_can_batch(empty_batch(1))
    parts.clock.advance(0.25)
    pipeline.publish_state()
    now = parts.clock.now
    assert parts.uplink.submitted == [(parts.estimator.next_state, now)]
    assert parts.estimator.asked_at == [now / 1e9]
    assert parts.radio.states == [(parts.estimator.next_state, now)]
    assert parts.app.judged == [parts.estimator.next_state]


def test_an_apps_event_is_published_after_the_state_it_judged() -> None:
    parts = Parts()
    pipeline = parts.pipeline(radio=False)
    pipeline.on_can_batch(empty_batch(1))
    parts.estimator.next_state = pb.VehicleState(speed_mps=10.0, brake_applied=True)
    pipeline.publish_state()
    assert parts.uplink.kinds() == ["VehicleState", "TrafficEvent"]
    assert parts.uplink.of(pb.TrafficEvent)[0].event_id == "brake-1"
    assert {t for _, t in parts.uplink.submitted} == {parts.clock.now}


def test_a_non_finite_state_is_neither_published_nor_broadcast_nor_judged() -> None:
    parts = Parts()
    pipeline = parts.pipeline()
    pipeline.on_can_batch(empty_batch(1))
    parts.estimator.next_state = pb.VehicleState(speed_mps=math.nan, brake_applied=True)
    pipeline.publish_state()
    assert parts.uplink.submitted == []
    assert parts.radio.states == []
    assert parts.app.judged == []
    pipeline.publish_health()
    (health,) = parts.uplink.of(pb.DeviceHealth)
    assert health.counters["publish.refused.non_finite.VehicleState"] == 1


def test_a_completed_fix_reaches_the_estimator_stamped_by_the_clock() -> None:
    parts = Parts()
    pipeline = parts.pipeline()
    pipeline.on_gnss_line(b"$GPGGA,garbage")
    assert parts.estimator.gnss_updates == []
    pipeline.on_gnss_line(b"FIX")
    ((fix, received),) = parts.estimator.gnss_updates
    assert fix.latitude_deg == 34.0
    assert received == parts.clock.now / 1e9
    assert pipeline.counters["gnss_fixes"] == 1


def test_the_health_report_carries_every_stages_counters() -> None:
    parts = Parts()
    pipeline = parts.pipeline()
    pipeline.on_can_batch(empty_batch(4))
    pipeline.on_gnss_line(b"bad")
    pipeline.publish_state()
    parts.clock.advance(7.0)
    pipeline.publish_health()
    health, stamped = parts.uplink.submitted[-1]
    assert isinstance(health, pb.DeviceHealth)
    assert stamped == parts.clock.now
    assert health.uptime_s == pytest.approx(7.0)
    counters = dict(health.counters)
    assert counters["pipeline.can_frames"] == 4
    assert counters["uplink.submitted"] == 1  # the state, before this report
    assert counters["can.rejects.short_frame"] == 2
    assert counters["nmea.rejects.checksum"] == 1
    assert counters["state.rejects.bad_scaling.speed_mps"] == 1
    assert counters["v2x.tx.bsm"] == 1
    assert counters["udp.v2x-radio.tx_datagrams"] == 3


@pytest.mark.asyncio
async def test_run_starts_every_role_in_a_named_task_and_publishes_on_schedule() -> None:
    parts = Parts()
    parts.estimator.update_can({})  # the vehicle is heard: states flow
    pipeline = parts.pipeline(
        settings=VehicleGatewaySettings(state_rate_hz=50.0, health_period_s=0.05)
    )
    before = asyncio.all_tasks()
    async with running(pipeline.run(), "pipeline-under-test"):
        await eventually(lambda: parts.uplink.running.is_set() and parts.radio.running.is_set())
        assert task_names(before) == {
            "pipeline-under-test",
            "uplink",
            "v2x-radio",
            "vehicle-state",
            "health",
        }
        await eventually(
            lambda: (
                len(parts.uplink.of(pb.VehicleState)) >= 2
                and len(parts.uplink.of(pb.DeviceHealth)) >= 2
            )
        )
