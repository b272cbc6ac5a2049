"""Queued packets written with one ``send``: the same bytes in the same order, and packets that
paho acts on once written (QoS 0 PUBLISH, DISCONNECT) left as they were."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.uplink.mqtt_link import COALESCE_BYTES, CoalescingClient, MqttLink, Will, coalesce
from protocols.mqtt_connection import MqttConnection
from tests.edge.test_uplink_mqtt_link import watcher
from tests.support.mosquitto import Broker
from tests.support.waiting import eventually

COMMANDS = [paho.PUBLISH, paho.PUBACK, paho.PINGREQ, paho.SUBSCRIBE, paho.DISCONNECT]


@st.composite
def queues(draw: st.DrawFn) -> list[dict[str, Any]]:
    packets = []
    for i in range(draw(st.integers(0, 12))):
        command = draw(st.sampled_from(COMMANDS))
        body = draw(st.binary(min_size=1, max_size=200))
        # paho's queue entries; only the one at the head may be partly written.
        pos = draw(st.integers(0, len(body) - 1)) if i == 0 else 0
        packets.append(
            {
                "command": command | (2 if command == paho.PUBLISH else 0),
                "mid": i + 1,
                "qos": draw(st.integers(0, 2)),
                "pos": pos,
                "to_process": len(body) - pos,
                "packet": body,
                "info": object(),
            }
        )
    return packets


def acted_on(packet: dict[str, Any]) -> bool:
    """paho does something once this packet is written."""
    command = packet["command"] & 0xF0
    return bool(command == paho.DISCONNECT or (command == paho.PUBLISH and packet["qos"] == 0))


def unwritten(queue: deque[dict[str, Any]]) -> bytes:
    return b"".join(bytes(p["packet"][p["pos"] :]) for p in queue)


@given(queues(), st.sampled_from([1, 150, 400, COALESCE_BYTES]))
def test_coalescing_keeps_the_bytes_their_order_and_what_paho_acts_on(
    packets: list[dict[str, Any]], limit: int
) -> None:
    queue = deque(packets)
    coalesce(queue, limit)
    assert unwritten(queue) == unwritten(deque(packets))
    # Packets paho acts on once written are the very same entries, in the same order.
    assert [p for p in queue if acted_on(p)] == [p for p in packets if acted_on(p)]
    assert all(any(p is q for q in packets) for p in queue if acted_on(p))
    for packet in queue:
        assert packet["to_process"] == len(packet["packet"]) - packet["pos"]
        if not any(packet is p for p in packets):  # a joined one: within the limit
            assert len(packet["packet"]) <= limit
            assert not acted_on(packet)
    # Only the head is joined: everything behind the first packet left alone is untouched.
    if len(queue) < len(packets):
        assert list(queue)[1:] == packets[len(packets) - len(queue) + 1 :]


def test_a_run_of_qos1_publishes_becomes_one_packet() -> None:
    packets = [
        {"command": paho.PUBLISH | 2, "mid": i, "qos": 1, "pos": 0, "to_process": 3,
         "packet": b"p%d_" % i, "info": None}
        for i in range(5)
    ]  # fmt: skip
    queue = deque(packets)
    coalesce(queue)
    assert len(queue) == 1
    assert queue[0]["packet"] == b"p0_p1_p2_p3_p4_"


def test_an_unknown_entry_is_left_for_paho() -> None:
    queue: deque[Any] = deque([{"packet": b"x"}, {"packet": b"y"}])
    coalesce(queue)
    assert list(queue) == [{"packet": b"x"}, {"packet": b"y"}]


@pytest.mark.mosquitto
@pytest.mark.asyncio
@pytest.mark.parametrize("qos", [0, 1])
async def test_a_window_of_messages_goes_in_few_sends_in_order(
    mosquitto: Broker, qos: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    sends: list[int] = []
    send = CoalescingClient._sock_send

    def counted(self: CoalescingClient, buf: bytes | bytearray) -> int:
        written = send(self, buf)
        sends.append(written)
        return written

    monkeypatch.setattr(CoalescingClient, "_sock_send", counted)
    delivered: list[int] = []
    client, received = watcher(mosquitto, "rg/v1/test/veh-2/state")
    connection = MqttLink(
        MqttConnection(host=mosquitto.host, port=mosquitto.port),
        client_id="veh-2",
        will=Will("rg/v1/test/veh-2/status", b"gone"),
        timeout_s=5.0,
        on_delivered=delivered.append,
    )
    try:
        await connection.connect()
        await asyncio.sleep(0.1)
        before = len(sends)
        payloads = [b"m%04d" % i for i in range(500)]
        mids = [
            connection.publish("rg/v1/test/veh-2/state", p, qos, retain=False, properties=None)
            for p in payloads
        ]
        await eventually(lambda: len(delivered) == len(mids), 10, "every message delivered")
        assert sorted(delivered) == sorted(mids)
        await eventually(lambda: len(received) == len(payloads), 10, "every message received")
        assert received == payloads
        if qos == 1:
            assert len(sends) - before < len(payloads) // 10
    finally:
        client.loop_stop()
        client.disconnect()
        await connection.close()
