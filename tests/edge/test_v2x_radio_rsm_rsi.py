"""The roadside unit's objects go on the air as RSM (16 per frame, at most 10 Hz) and its
events as RSI, over a real UDP link; what cannot go out is counted, never raised."""

from __future__ import annotations

import itertools
import math
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.v2x import V2xRadio
from hal.net.udp_link import UdpLink
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame, decode_rsi, decode_rsm, station_id_bytes
from protocols.v2x.rsi import EVENT_CODES
from tests.edge.test_v2x_radio import FakeLink

NOW_NS = 1_772_446_542_250_000_000
REFERENCE = pb.Position(latitude_deg=34.2237, longitude_deg=108.8906, altitude_m=400.0)


class StepClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def fused_list(count: int) -> pb.ObjectList:
    """``count`` objects on a 4 m grid around the reference point, metres east/north of it."""
    objects = pb.ObjectList(
        sensor_id="fused",
        kind=pb.OBJECT_LIST_KIND_FUSED,
        sensor_position=REFERENCE,
        sensor_heading_rad=math.pi / 2,
    )
    for i in range(count):
        objects.objects.add(
            object_id=i + 1,
            object_class=pb.OBJECT_CLASS_CAR,
            x_m=-30.0 + 4.0 * (i % 8) + 0.37,
            y_m=20.0 - 4.0 * (i // 8) - 0.81,
            speed_mps=8.0,
            heading_rad=1.0,
            length_m=4.5,
            width_m=1.8,
        )
    return objects


@contextmanager
def radio_over_udp(clock: StepClock) -> Iterator[tuple[V2xRadio, socket.socket]]:
    """A radio on a real UDP link and the socket of the radio module it talks to."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as module:
        module.bind(("127.0.0.1", 0))
        module.settimeout(2.0)
        port = module.getsockname()[1]
        with UdpLink("v2x-radio", "127.0.0.1", 0, peer_host="127.0.0.1", peer_port=port) as link:
            yield V2xRadio(link, 4321, monotonic_s=clock), module


def test_twenty_objects_go_out_as_two_rsm_frames_at_their_positions() -> None:
    objects = fused_list(20)
    with radio_over_udp(StepClock()) as (radio, module):
        radio.broadcast_objects(objects, NOW_NS)
        frames = [decode_rsm(module.recvfrom(2000)[0]) for _ in range(2)]
    assert [len(f.participants) for f in frames] == [16, 4]
    assert [f.msg_cnt for f in frames] == [0, 1]
    assert {f.rsu_id for f in frames} == {station_id_bytes(4321)}
    heard = {p.object_id: p for f in frames for p in f.participants}
    assert sorted(heard) == [o.object_id for o in objects.objects]
    for sent in objects.objects:
        p = heard[sent.object_id]
        assert math.hypot(p.east_m - sent.x_m, p.north_m - sent.y_m) < 0.1
    assert radio.counters["tx.rsm"] == 2


def test_rsm_goes_out_at_most_at_10_hz_and_its_count_continues() -> None:
    clock = StepClock()
    link = FakeLink()
    radio = V2xRadio(link, 1, monotonic_s=clock)
    # Fused lists after every radar list: ~28 Hz for two radars, for one second.
    sent_at = []
    for i in range(28):
        clock.now_s = 100.0 + i / 28
        before = len(link.sent)
        radio.broadcast_objects(fused_list(20), NOW_NS + i * 35_700_000)
        if len(link.sent) > before:
            sent_at.append(clock.now_s)
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert len(sent_at) == 10  # every third list: 107 ms apart
    assert min(gaps) >= 0.1
    assert radio.counters["tx.rsm_rate_limited"] == 28 - 10
    assert radio.counters["tx.rsm"] == 20  # two frames a list
    counts = [decode_rsm(d).msg_cnt for d in link.sent]
    assert counts == list(range(20))


def test_an_event_goes_out_as_an_rsi_about_the_intersection() -> None:
    event = pb.TrafficEvent(
        event_id="rsu-1-speeding-3",
        type=pb.EVENT_TYPE_SPEEDING,
        severity=pb.SEVERITY_WARNING,
        position=pb.Position(latitude_deg=34.2239, longitude_deg=108.8904),
        radius_m=50.0,
        description="object 7 at 72 km/h (limit 50 km/h)",
    )
    with radio_over_udp(StepClock()) as (radio, module):
        radio.broadcast_objects(fused_list(1), NOW_NS)
        module.recvfrom(2000)
        radio.broadcast_event(event, NOW_NS)
        rsi = decode_rsi(module.recvfrom(2000)[0])
    assert math.isclose(rsi.reference.latitude_deg, REFERENCE.latitude_deg, abs_tol=1e-7)
    assert math.isclose(rsi.reference.longitude_deg, REFERENCE.longitude_deg, abs_tol=1e-7)
    assert rsi.rsu_id == station_id_bytes(4321)
    (heard,) = rsi.events
    assert heard.event_code == EVENT_CODES[pb.EVENT_TYPE_SPEEDING]
    assert heard.event_type == pb.EVENT_TYPE_SPEEDING
    assert heard.severity == pb.SEVERITY_WARNING
    assert heard.radius_m == 50.0
    assert heard.description == event.description
    assert heard.position is not None
    assert math.isclose(heard.position.latitude_deg, 34.2239, abs_tol=1e-7)
    assert math.isclose(heard.position.longitude_deg, 108.8904, abs_tol=1e-7)
    assert radio.counters["tx.rsi"] == 1


def test_before_any_rsm_an_event_is_about_its_own_position_or_not_sent() -> None:
    link = FakeLink()
    radio = V2xRadio(link, 1)
    placed = pb.TrafficEvent(
        event_id="e1",
        type=pb.EVENT_TYPE_SPEEDING,
        position=pb.Position(latitude_deg=34.2, longitude_deg=108.9),
    )
    nowhere = pb.TrafficEvent(event_id="e2", type=pb.EVENT_TYPE_CLOCK_FAULT)
    radio.broadcast_event(placed, NOW_NS)
    radio.broadcast_event(nowhere, NOW_NS)
    (data,) = link.sent
    rsi = decode_rsi(data)
    assert math.isclose(rsi.reference.latitude_deg, 34.2, abs_tol=1e-7)
    assert math.isclose(rsi.reference.longitude_deg, 108.9, abs_tol=1e-7)
    assert (radio.counters["tx.rsi"], radio.counters["tx.no_reference"]) == (1, 1)


def test_objects_without_a_position_and_lists_without_a_reference_are_counted() -> None:
    clock = StepClock()
    link = FakeLink()
    radio = V2xRadio(link, 1, monotonic_s=clock)
    objects = fused_list(3)
    objects.objects[0].x_m = math.nan
    objects.objects[1].y_m = math.inf
    radio.broadcast_objects(objects, NOW_NS)
    (data,) = link.sent
    assert [p.object_id for p in decode_rsm(data).participants] == [3]
    assert radio.counters["tx.rsm_skipped.no_position"] == 2
    clock.now_s += 1.0
    nowhere = fused_list(2)
    nowhere.ClearField("sensor_position")
    radio.broadcast_objects(nowhere, NOW_NS)
    clock.now_s += 1.0
    radio.broadcast_objects(pb.ObjectList(kind=pb.OBJECT_LIST_KIND_FUSED), NOW_NS)
    assert len(link.sent) == 1
    assert radio.counters["tx.no_reference"] == 2


def test_an_event_the_standard_cannot_carry_is_counted() -> None:
    link = FakeLink()
    radio = V2xRadio(link, 1)
    radio.broadcast_objects(fused_list(1), NOW_NS)
    radio.broadcast_event(pb.TrafficEvent(event_id="x", type=pb.EVENT_TYPE_UNSPECIFIED), NOW_NS)
    assert len(link.sent) == 1  # the RSM only: type 0 has no eventType code
    assert (radio.counters["tx.rsi"], radio.counters["tx.unencodable"]) == (0, 1)


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT, ANY_FLOAT), max_size=20),
    lat=ANY_FLOAT,
    lon=ANY_FLOAT,
)
def test_any_values_go_out_as_decodable_frames_or_are_counted(
    values: list[tuple[float, float, float, float]], lat: float, lon: float
) -> None:
    link = FakeLink()
    radio = V2xRadio(link, 1)
    objects = fused_list(0)
    objects.sensor_position.latitude_deg = lat
    objects.sensor_position.longitude_deg = lon
    for i, (x, y, speed, heading) in enumerate(values):
        objects.objects.add(object_id=i, x_m=x, y_m=y, speed_mps=speed, heading_rad=heading)
    radio.broadcast_objects(objects, NOW_NS)
    radio.broadcast_event(
        pb.TrafficEvent(
            event_id="e",
            type=pb.EVENT_TYPE_SPEEDING,
            position=pb.Position(latitude_deg=lat, longitude_deg=lon),
            radius_m=abs(speed) if values else 0.0,
        ),
        NOW_NS,
    )
    kinds = [decode_message_frame(d)[0] for d in link.sent]
    counters = radio.counters
    assert kinds.count("rsm") == counters["tx.rsm"]
    assert kinds.count("rsi") == counters["tx.rsi"]
    assert counters["tx.rsi"] + counters["tx.no_reference"] + counters["tx.unencodable"] >= 1
    placed = math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180
    if placed and (lat, lon) != (0.0, 0.0):
        participants = sum(
            len(decode_rsm(d).participants)
            for d, kind in zip(link.sent, kinds, strict=True)
            if kind == "rsm"
        )
        skipped = counters.get("tx.rsm_skipped.no_position", 0)
        assert participants + skipped == len(values)
    else:
        assert counters["tx.rsm"] == 0
        assert counters["tx.no_reference"] == 2
