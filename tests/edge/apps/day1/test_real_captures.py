"""Third-party T/CSAE 53 frames (tests/data/v2x/hisense: another party's BSM and SPATs, see its
SOURCES.md), whole and mutated, through the vehicle gateway's receive path: the radio, the
reception filter, the picture and all sixteen applications. Nothing raises, every datagram is
counted, and no frame (nor one mutation of it) becomes a warning."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.apps.day1.engine import Day1Engine
from edge.apps.day1.heard_world import HeardWorld
from edge.apps.day1.registry import app_specs, build_apps
from edge.v2x.radio import V2xRadio
from edge.v2x.reception import ReceptionFilter
from hal.net.udp_link import UdpLink
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame

FRAMES = [
    bytes.fromhex(line)
    for line in (Path(__file__).parents[3] / "data/v2x/hisense/frames.hex").read_text().split("\n")
    if line and not line.startswith("#")
]
BSM_SEC_MARK_MS = 47091
# A receive time 5 ms after the BSM's secMark (second 47 of a minute).
RECEIVED_S = datetime(2026, 3, 2, 10, 15, 47, 96000, tzinfo=UTC).timestamp()


def test_the_frames_decode_to_what_their_sender_said() -> None:
    (bsm_kind, bsm), (spat_kind, spat), (spat2_kind, spat2) = map(decode_message_frame, FRAMES)
    assert (bsm_kind, spat_kind, spat2_kind) == ("bsm", "spat", "spat")
    assert bsm["station_id"].to_bytes(8, "big") == b"00143101"
    assert bsm["sec_mark_ms"] == BSM_SEC_MARK_MS
    assert math.isclose(bsm["latitude_deg"], 28.1260343, abs_tol=1e-7)
    assert math.isclose(bsm["longitude_deg"], 112.8799971, abs_tol=1e-7)
    assert [i["intersection_id"] for i in spat["intersections"]] == [33]
    assert len(spat["intersections"][0]["phases"]) == 12
    assert [i["intersection_id"] for i in spat2["intersections"]] == [184]


def _gateway() -> tuple[V2xRadio, Day1Engine]:
    world = HeardWorld()
    engine = Day1Engine(
        "veh-1",
        world,
        build_apps({code: spec.settings_type() for code, spec in app_specs().items()}),
    )
    # Never opened: the receive path does not send.
    link = UdpLink("v2x-radio", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=9)
    return V2xRadio(link, 1, on_heard=ReceptionFilter(world.hear)), engine


def _ego_beside_the_sender() -> pb.VehicleState:
    # The ego 10 m behind the BSM's sender, driving the same way.
    _, bsm = decode_message_frame(FRAMES[0])
    north = bsm["latitude_deg"] - 10 / 111_000
    return pb.VehicleState(
        position=pb.Position(latitude_deg=north, longitude_deg=bsm["longitude_deg"]),
        speed_mps=15.0,
        heading_rad=bsm["heading_rad"],
        length_m=4.6,
        width_m=1.8,
    )


def _warnings(events: list[pb.TrafficEvent]) -> list[str]:
    return [
        f"{e.application}: {e.description}"
        for e in events
        if e.severity in (pb.SEVERITY_WARNING, pb.SEVERITY_CRITICAL)
    ]


def test_the_frames_pass_the_whole_receive_path() -> None:
    radio, engine = _gateway()
    heard = [radio.datagram(frame, RECEIVED_S) for frame in FRAMES]
    assert [h[0] if h else None for h in heard] == ["bsm", "spat", "spat"]
    events = engine.cycle(_ego_beside_the_sender(), RECEIVED_S + 0.01)
    assert _warnings(events) == []
    assert not any(v for k, v in engine.counters.items() if k.endswith(".errors"))


MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.integers(0, 8 * 400 - 1), min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), st.integers(0, 400)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("splice"), st.tuples(st.integers(0, 400), st.binary(max_size=8))),
)


def _mutated(frame: bytes, mutation: tuple[str, object]) -> bytes:
    kind, how = mutation
    data = bytearray(frame)
    if kind == "flip":
        assert isinstance(how, list)
        for bit in how:
            data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    elif kind == "truncate":
        assert isinstance(how, int)
        del data[how % len(data) :]
    elif kind == "append":
        assert isinstance(how, bytes)
        data += how
    else:
        assert isinstance(how, tuple)
        at, new = how
        data[at % len(data) : at % len(data) + len(new)] = new
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(mutations=st.lists(st.tuples(st.integers(0, 2), MUTATIONS), min_size=1, max_size=6))
def test_mutated_frames_are_counted_and_never_a_warning(
    mutations: list[tuple[int, tuple[str, object]]],
) -> None:
    radio, engine = _gateway()
    heard_any = False
    for index, mutation in mutations:
        heard_any |= bool(radio.datagram(_mutated(FRAMES[index], mutation), RECEIVED_S))
        events = engine.cycle(_ego_beside_the_sender(), RECEIVED_S + 0.01)
        if not heard_any:
            # Rejected frames warn of nothing. (A flip can leave a valid BSM of a vehicle
            # elsewhere, and that one may rightly warn: without 1609.2 nothing tells it apart.)
            assert _warnings(events) == []
    counters = radio.counters
    received = sum(v for k, v in counters.items() if k.startswith("rx."))
    assert received == len(mutations)  # each datagram decoded or rejected by reason
    assert not any(v for k, v in engine.counters.items() if k.endswith(".errors"))
