"""The uplink refuses a message the broker would disconnect it for, instead of re-sending it."""

from __future__ import annotations

from edge.identity import DeviceIdentity
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import MAX_PAYLOAD_BYTES, UplinkPublisher
from edge.uplink.settings import UplinkSettings
from protocols.schema.v1 import roadgate_pb2 as pb


def test_oversize_message_is_refused_and_counted_and_the_next_one_queued() -> None:
    identity = DeviceIdentity("rsu-1", "test-region", pb.DEVICE_ROLE_ROADSIDE_UNIT)
    with SqliteOutbox(":memory:") as outbox:
        uplink = UplinkPublisher(identity, UplinkSettings(), outbox)
        uplink.submit(pb.TrafficEvent(event_id="x" * MAX_PAYLOAD_BYTES), capture_time_ns=1)
        assert len(outbox) == 0
        assert uplink.counters()["uplink.refused.oversize.events"] == 1
        # Just under the limit (the envelope adds its header) still goes.
        uplink.submit(pb.TrafficEvent(event_id="y" * (MAX_PAYLOAD_BYTES - 200)), capture_time_ns=2)
        assert len(outbox) == 1
        assert len(outbox.peek(1)[0].body) <= MAX_PAYLOAD_BYTES
