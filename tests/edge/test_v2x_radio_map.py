"""The roadside unit's intersection goes on the air as MAP and its static signs as RSI, over a
real UDP link; what cannot go out is counted, never raised."""

from __future__ import annotations

import math
from dataclasses import replace

from edge.v2x import V2xRadio
from firmware_py.config.loader import EXAMPLES_DIR
from protocols.v2x import decode_map, decode_message_frame, decode_rsi, station_id_bytes
from protocols.v2x.intersection_file import read_intersection_file
from protocols.v2x.rsi import SignKind, StaticSign
from protocols.v2x.units import GeoPoint
from tests.edge.test_v2x_radio import FakeLink
from tests.edge.test_v2x_radio_rsm_rsi import NOW_NS, StepClock, radio_over_udp

DESCRIPTION = read_intersection_file(EXAMPLES_DIR / "intersection-101.toml")


def test_the_intersection_goes_out_as_a_map_with_its_lanes_and_counts_per_message() -> None:
    with radio_over_udp(StepClock()) as (radio, module):
        radio.broadcast_map(DESCRIPTION.map, NOW_NS)
        radio.broadcast_map(DESCRIPTION.map, NOW_NS + 1_000_000_000)
        first, second = (decode_map(module.recvfrom(4000)[0]) for _ in range(2))
    assert (first.msg_cnt, second.msg_cnt) == (0, 1)
    (node,) = first.nodes
    assert node.node_id == 101
    lanes = {lane.lane_id: lane for link in node.links for lane in link.lanes}
    ego = lanes[32]
    assert math.dist(ego.points[-1], (5.25, -12.0)) < 0.01
    assert [(c.lane_id, c.signal_group) for c in ego.connections] == [(16, 1)]
    assert radio.counters["tx.map"] == 2


def test_the_signs_go_out_as_one_rsi_about_the_reference_from_the_rsu() -> None:
    reference = DESCRIPTION.map.reference
    with radio_over_udp(StepClock()) as (radio, module):
        radio.broadcast_signs(DESCRIPTION.signs, reference, NOW_NS)
        rsi = decode_rsi(module.recvfrom(4000)[0])
    assert rsi.rsu_id == station_id_bytes(4321)
    assert math.isclose(rsi.reference.latitude_deg, reference.latitude_deg, abs_tol=1e-7)
    assert [(s.rts_id, s.kind) for s in rsi.signs] == [
        (1, SignKind.SCHOOL_ZONE),
        (2, SignKind.ROADWORKS),
    ]
    for sent, heard in zip(DESCRIPTION.signs, rsi.signs, strict=True):
        assert heard.position is not None
        assert math.isclose(heard.position.latitude_deg, sent.position.latitude_deg, abs_tol=2e-7)
    assert radio.counters["tx.rsi"] == 1


def test_no_signs_send_nothing() -> None:
    link = FakeLink()
    radio = V2xRadio(link, 4321)
    radio.broadcast_signs((), DESCRIPTION.map.reference, NOW_NS)
    assert link.sent == []
    assert radio.counters["tx.rsi"] == 0


def test_a_map_or_signs_the_standard_cannot_carry_are_counted_not_raised() -> None:
    link = FakeLink()
    radio = V2xRadio(link, 4321)
    radio.broadcast_map(replace(DESCRIPTION.map, node_id=70_000), NOW_NS)
    too_many = [StaticSign(SignKind.ROADWORKS, GeoPoint(34.2, 108.9), sign_id=i) for i in range(17)]
    radio.broadcast_signs(too_many, DESCRIPTION.map.reference, NOW_NS)
    assert link.sent == []
    assert radio.counters["tx.unencodable"] == 2
    assert (radio.counters["tx.map"], radio.counters["tx.rsi"]) == (0, 0)


def test_a_refused_send_is_counted_and_the_next_map_goes_out() -> None:
    link = FakeLink()
    radio = V2xRadio(link, 4321)
    link.refuse = True
    radio.broadcast_map(DESCRIPTION.map, NOW_NS)
    link.refuse = False
    radio.broadcast_map(DESCRIPTION.map, NOW_NS)
    assert radio.counters["tx.errors"] == 1
    assert radio.counters["tx.map"] == 1
    kind, _ = decode_message_frame(link.sent[0])
    assert kind == "map"
