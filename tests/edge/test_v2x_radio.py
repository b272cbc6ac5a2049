"""The box's C-V2X radio: published state and SPaT go out as T/CSAE 53 frames with their own
message counts; what the radio heard is decoded and counted by type, bad datagrams by reason,
refused sends counted; nothing raises. Also over a real UDP link, as the pipelines run it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping
from typing import Any

import pytest

from edge.v2x import V2xRadio
from hal.errors import TransmitError
from hal.net.port import Datagram
from hal.net.udp_link import UdpLink
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame, encode_bsm, station_id_bytes
from tests.support.waiting import eventually

NOW_NS = 1_772_446_542_250_000_000
STATE = pb.VehicleState(
    position=pb.Position(latitude_deg=34.2237, longitude_deg=108.8906), speed_mps=13.3
)
SPAT = pb.SignalPhaseTiming(
    intersection_id=101,
    phases=[pb.PhaseState(signal_group=1, state=pb.SIGNAL_STATE_GREEN, likely_end_s=3.0)],
)


class FakeLink:
    """A DatagramLink that keeps what is sent and can refuse it."""

    name = "v2x-radio"
    counters: Mapping[str, int] = {}

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.refuse = False

    def send(self, data: bytes) -> None:
        if self.refuse:
            raise TransmitError("send buffer full")
        self.sent.append(data)

    def open(self) -> None: ...
    def close(self) -> None: ...
    def receive(self, timeout: float = 0.1, max_datagrams: int = 64) -> list[Datagram]:
        return []

    def __enter__(self) -> FakeLink:
        return self

    def __exit__(self, *args: object) -> None: ...


def test_state_and_spat_go_out_with_counts_per_type() -> None:
    link = FakeLink()
    radio = V2xRadio(link, 1234)
    for _ in range(130):
        radio.broadcast_state(STATE, NOW_NS)
    radio.broadcast_spat(SPAT, NOW_NS)
    bsms = [decode_message_frame(d)[1] for d in link.sent[:-1]]
    assert [b["msg_cnt"] for b in bsms[126:]] == [126, 127, 0, 1]  # MsgCount wraps at 128
    assert {b["station_id"] for b in bsms} == {1234}
    assert bsms[0]["sec_mark_ms"] == 42250  # the capture time's millisecond in the minute
    kind, spat = decode_message_frame(link.sent[-1])
    assert (kind, spat["msg_cnt"]) == ("spat", 0)
    assert radio.counters["tx.bsm"] == 130
    assert radio.counters["tx.spat"] == 1


def test_refused_and_unencodable_sends_are_counted_not_raised() -> None:
    link = FakeLink()
    radio = V2xRadio(link, 1)
    link.refuse = True
    radio.broadcast_state(STATE, NOW_NS)
    radio.broadcast_state(STATE, NOW_NS)
    link.refuse = False
    radio.broadcast_spat(pb.SignalPhaseTiming(intersection_id=1), NOW_NS)  # no phases
    assert link.sent == []
    assert (radio.counters["tx.errors"], radio.counters["tx.unencodable"]) == (2, 1)
    assert radio.counters["tx.bsm"] == 0


def test_received_messages_are_counted_by_type_and_bad_ones_by_reason() -> None:
    heard: list[tuple[str, Mapping[str, Any]]] = []
    radio = V2xRadio(FakeLink(), 1, on_message=lambda kind, f: heard.append((kind, f)))
    remote = encode_bsm(STATE, vehicle_id=station_id_bytes(77), msg_cnt=5, unix_s=NOW_NS / 1e9)
    assert radio.datagram(remote) is not None
    assert radio.datagram(b"") is None
    assert radio.datagram(b"\xff" * 3) is None
    assert radio.datagram(b"\xff" * 4) is None
    counters = radio.counters
    assert (counters["rx.bsm"], counters["rx.spat"]) == (1, 0)
    assert (counters["rx.rejects.empty"], counters["rx.rejects.malformed"]) == (1, 2)
    assert [(kind, f["station_id"]) for kind, f in heard] == [("bsm", 77)]


def test_a_bad_station_id_is_refused() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        V2xRadio(FakeLink(), -1)


@pytest.mark.asyncio
async def test_over_a_real_udp_link() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as radio_side:
        radio_side.bind(("127.0.0.1", 0))
        radio_side.settimeout(2.0)
        port = radio_side.getsockname()[1]
        with UdpLink("v2x-radio", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=port) as link:
            radio = V2xRadio(link, 9)
            task = asyncio.create_task(radio.run())
            radio.broadcast_state(STATE, NOW_NS)
            data, box_address = radio_side.recvfrom(1000)
            assert decode_message_frame(data)[0] == "bsm"
            radio_side.sendto(data, box_address)  # heard back, as from another station
            radio_side.sendto(b"junk", box_address)
            await eventually(
                lambda: bool(radio.counters["rx.bsm"] and radio.counters["rx.rejects.malformed"]),
                within_s=2.0,
                what="the BSM heard back and the junk datagram counted",
            )
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert radio.counters["rx.bsm"] == 1
    assert radio.counters["rx.rejects.malformed"] == 1
    assert link.counters["tx_datagrams"] == 1
