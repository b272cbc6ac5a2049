"""The roadside unit with an intersection description: MAP and the signs' RSI on the air about
once a second, the description to the cloud at start and every minute."""

from __future__ import annotations

import asyncio

import pytest

from edge.identity import DeviceIdentity
from edge.pipelines.roadside_unit import RoadsideUnitPipeline, RoadsideUnitSettings
from edge.pipelines.roles import SYSTEM_CLOCK, Clock, Radio
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.uplink.settings import UplinkSettings
from edge.v2x import V2xRadio
from firmware_py.config.loader import EXAMPLES_DIR
from protocols.envelope import decode, stream_of
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream
from protocols.v2x import decode_message_frame
from protocols.v2x.intersection_file import read_intersection_file
from protocols.v2x.intersection_geometry import to_intersection_geometry
from tests.edge.pipeline_stubs import (
    FixedClock,
    RecordingRadio,
    RecordingUplink,
    StubFixes,
    task_names,
)
from tests.edge.test_v2x_radio import FakeLink
from tests.support.tasks import running
from tests.support.waiting import eventually

DESCRIPTION = read_intersection_file(EXAMPLES_DIR / "intersection-101.toml")


def pipeline(
    uplink: RecordingUplink,
    radio: Radio | None,
    *,
    clock: Clock,
    settings: RoadsideUnitSettings | None = None,
) -> RoadsideUnitPipeline:
    return RoadsideUnitPipeline(
        radars=[],
        gnss=None,
        fixes=StubFixes(),
        signal_plan=None,
        uplink=uplink,
        settings=settings or RoadsideUnitSettings(),
        radio=radio,
        clock=clock,
        intersection=DESCRIPTION,
    )


def test_the_description_is_published_as_intersection_geometry_at_clock_time() -> None:
    uplink, clock = RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT), FixedClock()
    unit = pipeline(uplink, RecordingRadio(), clock=clock)
    unit.publish_intersection()
    clock.advance(60.0)
    unit.publish_intersection()
    published = uplink.of(pb.IntersectionGeometry)
    assert published == [to_intersection_geometry(DESCRIPTION)] * 2
    assert [ns for body, ns in uplink.submitted if body in published] == [
        1_700_000_000_000_000_000,
        1_700_000_060_000_000_000,
    ]
    assert stream_of(pb.Envelope(intersection=published[0])) is Stream.INTERSECTION


def test_the_map_and_the_signs_go_to_the_radio_about_the_reference_at_clock_time() -> None:
    radio, clock = RecordingRadio(), FixedClock()
    unit = pipeline(RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT), radio, clock=clock)
    unit.broadcast_intersection()
    assert radio.maps == [(DESCRIPTION.map, clock.now_ns())]
    assert radio.signs == [(DESCRIPTION.signs, DESCRIPTION.map.reference, clock.now_ns())]


def test_through_the_real_radio_a_map_and_an_rsi_frame_go_out() -> None:
    link = FakeLink()
    radio = V2xRadio(link, 2001)
    unit = pipeline(RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT), radio, clock=FixedClock())
    unit.broadcast_intersection()
    assert [decode_message_frame(frame)[0] for frame in link.sent] == ["map", "rsi"]
    assert (radio.counters["tx.map"], radio.counters["tx.rsi"]) == (1, 1)


def test_without_a_radio_there_is_nothing_to_broadcast() -> None:
    uplink = RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT)
    unit = pipeline(uplink, None, clock=FixedClock())
    unit.broadcast_intersection()  # no radio: nothing, no error
    unit.publish_intersection()
    assert len(uplink.of(pb.IntersectionGeometry)) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("with_radio", [True, False])
async def test_run_publishes_at_start_and_repeats_in_named_tasks(with_radio: bool) -> None:
    uplink, radio = RecordingUplink(pb.DEVICE_ROLE_ROADSIDE_UNIT), RecordingRadio()
    settings = RoadsideUnitSettings(map_period_s=0.02, intersection_period_s=0.05)
    unit = pipeline(uplink, radio if with_radio else None, clock=SYSTEM_CLOCK, settings=settings)
    before = asyncio.all_tasks()
    async with running(unit.run(), "pipeline-under-test"):
        await eventually(lambda: uplink.running.is_set())
        expected = {"pipeline-under-test", "uplink", "health", "intersection"}
        if with_radio:
            expected |= {"v2x-radio", "v2x-map"}
        assert task_names(before) == expected
        await eventually(lambda: len(uplink.of(pb.IntersectionGeometry)) >= 2)
        if with_radio:
            await eventually(lambda: len(radio.maps) >= 3 and len(radio.signs) >= 3)
    if not with_radio:
        assert radio.maps == []


def test_the_real_uplink_queues_the_geometry_on_the_intersection_stream() -> None:
    identity = DeviceIdentity("rsu-001", "xian-gaoxin", pb.DEVICE_ROLE_ROADSIDE_UNIT)
    outbox = SqliteOutbox(":memory:")
    uplink = UplinkPublisher(identity, UplinkSettings(), outbox, software_version="test")
    geometry = to_intersection_geometry(DESCRIPTION)
    uplink.submit(geometry, 1_700_000_000_000_000_000)
    (entry,) = outbox.peek(10)
    assert entry.stream is Stream.INTERSECTION
    assert decode(entry.body).intersection == geometry
