"""The live hub's memory bounds: the newest message per device and stream, a few events."""

from __future__ import annotations

import pytest

from cloud_bridge.web.live_hub import RECENT_EVENTS, LiveHub, TooManyClientsError
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.web.support import REGION_A, REGION_B, T0_NS, Sequencer, event, rsu_status


def test_the_cache_keeps_the_newest_per_device_and_stream_within_its_bound() -> None:
    hub = LiveHub(max_cached=5)
    for n in range(20):
        device = Sequencer(REGION_A, f"dev-{n}")
        hub.publish([(device.next(rsu_status()), T0_NS), (device.next(rsu_status()), T0_NS)])
    snapshot = hub.snapshot(REGION_A)
    assert len(snapshot) == 5  # the five newest devices, one status each
    assert all('"dev-1' in text for text in snapshot)  # dev-15 .. dev-19
    assert hub.snapshot(REGION_B) == []


def test_events_are_kept_a_few_per_region() -> None:
    hub = LiveHub()
    rsu = Sequencer(REGION_A, "rsu")
    hub.publish([(rsu.next(event(pb.EVENT_TYPE_SPEEDING, str(i))), T0_NS) for i in range(50)])
    snapshot = hub.snapshot(REGION_A)
    assert len(snapshot) == RECENT_EVENTS
    assert '"event_id":"49"' in snapshot[-1]


@pytest.mark.asyncio
async def test_a_client_starts_with_the_snapshot_and_counts_against_the_limit() -> None:
    hub = LiveHub(client_queue=4, max_clients=1)
    rsu = Sequencer(REGION_A, "rsu")
    hub.publish([(rsu.next(event(pb.EVENT_TYPE_SPEEDING, str(i))), T0_NS) for i in range(10)])
    with hub.connect(REGION_A) as client:
        assert client.queue.qsize() == 4  # the newest that fit
        with pytest.raises(TooManyClientsError), hub.connect(REGION_A):
            pass
        hub.publish([(rsu.next(rsu_status()), T0_NS)])  # a full queue: dropped
        assert client.dropped
        assert hub.client_count == 0
        assert client.queue.qsize() == 1
    assert hub.clients_dropped == 1
