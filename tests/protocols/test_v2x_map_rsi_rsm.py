"""T/CSAE 53-2017 MAP, RSI and RSM: our values round-trip within the standard's resolution,
out-of-range values clamp to the range ends, "unavailable" comes back as ``None``, and bytes
that do not decode raise only ``V2xDecodeError`` naming where they failed."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import V2xDecodeError, V2xError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    GeoPoint,
    IntersectionMap,
    LaneConnection,
    MapLane,
    MapLink,
    RsmParticipant,
    SignKind,
    StaticSign,
    decode_map,
    decode_message_frame,
    decode_rsi,
    decode_rsm,
    encode_map,
    encode_rsi,
    encode_rsm,
    specification,
    to_object_list,
    to_traffic_events,
)
from protocols.v2x.map import LANE_TYPES, MANEUVERS
from protocols.v2x.units import (
    HEADING_CONFIDENCE,
    POSITION_CONFIDENCE,
    SPEED_CONFIDENCE,
    metres_of,
)

T = datetime(2026, 3, 2, 10, 15, 42, 250000, tzinfo=UTC).timestamp()
RSU = bytes.fromhex("0102030405060708")
# Half of 1e-7 degree is at most 5.6 mm on the ground; quantised offsets round-trip within it.
POINT_M = 0.006
DEGREE_UNIT = 1e-7

references = st.builds(
    GeoPoint,
    st.floats(-80, 80),
    st.floats(-179, 179),
    st.none() | st.floats(-409.5, 6143.9),
)
metres = st.floats(-400, 400)


def close_heading(a: float, b: float, tolerance: float) -> bool:
    return abs((a - b + math.pi) % (2 * math.pi) - math.pi) <= tolerance


# --- MAP -------------------------------------------------------------------------------

connections = st.builds(
    LaneConnection,
    node_id=st.integers(0, 0xFFFF),
    lane_id=st.integers(0, 255),
    signal_group=st.none() | st.integers(0, 255),
    region=st.none() | st.integers(0, 0xFFFF),
)
lanes = st.builds(
    MapLane,
    lane_id=st.integers(0, 255),
    points=st.lists(st.tuples(metres, metres), min_size=2, max_size=6).map(tuple),
    width_m=st.none() | st.floats(0, 327.67),
    maneuvers=st.frozensets(st.sampled_from(MANEUVERS)),
    connections=st.lists(connections, max_size=3).map(tuple),
    speed_limit_mps=st.none() | st.floats(0, 163.8),
    lane_type=st.none() | st.sampled_from(sorted(LANE_TYPES)),
)
links = st.builds(
    MapLink,
    upstream_node_id=st.integers(0, 0xFFFF),
    lanes=st.lists(lanes, min_size=1, max_size=3).map(tuple),
    name=st.none()
    | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=63),
    speed_limit_mps=st.none() | st.floats(0, 163.8),
)
intersections = st.builds(
    IntersectionMap,
    node_id=st.integers(0, 0xFFFF),
    reference=references,
    links=st.lists(links, min_size=1, max_size=2).map(tuple),
    region=st.none() | st.integers(0, 0xFFFF),
    name=st.none()
    | st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=63),
)


def assert_reference(got: GeoPoint, sent: GeoPoint) -> None:
    assert got.latitude_deg == pytest.approx(sent.latitude_deg, abs=DEGREE_UNIT)
    assert got.longitude_deg == pytest.approx(sent.longitude_deg, abs=DEGREE_UNIT)
    if sent.altitude_m is None:
        assert got.altitude_m is None
    else:
        assert got.altitude_m == pytest.approx(sent.altitude_m, abs=0.05 + 1e-9)


def assert_speed_limit(got: float | None, sent: float | None) -> None:
    assert (got is None) == (sent is None)
    if sent is not None:
        assert got == pytest.approx(sent, abs=0.01 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(intersections, min_size=1, max_size=2), st.integers(0, 127))
def test_a_map_round_trips_within_the_standards_resolution(
    nodes: list[IntersectionMap], msg_cnt: int
) -> None:
    decoded = decode_map(encode_map(nodes, msg_cnt=msg_cnt, unix_s=T))
    assert decoded.msg_cnt == msg_cnt
    assert (
        decoded.minute_of_year
        == (datetime.fromtimestamp(T, UTC) - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds() // 60
    )
    assert len(decoded.nodes) == len(nodes)
    for got, sent in zip(decoded.nodes, nodes, strict=True):
        assert (got.node_id, got.region, got.name) == (sent.node_id, sent.region, sent.name)
        assert_reference(got.reference, sent.reference)
        for got_link, sent_link in zip(got.links, sent.links, strict=True):
            assert got_link.upstream_node_id == sent_link.upstream_node_id
            assert got_link.name == sent_link.name
            assert_speed_limit(got_link.speed_limit_mps, sent_link.speed_limit_mps)
            for got_lane, lane in zip(got_link.lanes, sent_link.lanes, strict=True):
                assert got_lane.lane_id == lane.lane_id
                assert got_lane.maneuvers == lane.maneuvers
                assert got_lane.lane_type == lane.lane_type
                assert_speed_limit(got_lane.speed_limit_mps, lane.speed_limit_mps)
                if lane.width_m is None:
                    assert got_lane.width_m is None
                else:
                    assert got_lane.width_m == pytest.approx(lane.width_m, abs=0.005 + 1e-9)
                assert [(c.node_id, c.lane_id, c.signal_group) for c in got_lane.connections] == [
                    (c.node_id, c.lane_id, c.signal_group) for c in lane.connections
                ]
                assert len(got_lane.points) == len(lane.points)
                for (east, north), (sent_east, sent_north) in zip(
                    got_lane.points, lane.points, strict=True
                ):
                    assert east == pytest.approx(sent_east, abs=POINT_M)
                    assert north == pytest.approx(sent_north, abs=POINT_M)


def simple_map(**lane_values: Any) -> IntersectionMap:
    lane = MapLane(lane_id=1, points=((-30.0, 1.75), (-5.0, 1.75)))
    lane = dataclasses.replace(lane, **lane_values)
    return IntersectionMap(
        node_id=1,
        reference=GeoPoint(31.2, 121.5, 4.0),
        links=(MapLink(upstream_node_id=2, lanes=(lane,)),),
    )


def test_map_widths_and_speed_limits_clamp_at_the_range_ends() -> None:
    wide = simple_map(width_m=1000.0, speed_limit_mps=500.0)
    lane = decode_map(encode_map([wide], msg_cnt=0, unix_s=T)).nodes[0].links[0].lanes[0]
    assert lane.width_m == pytest.approx(327.67)
    assert lane.speed_limit_mps == pytest.approx(8190 * 0.02)  # 8191 means unavailable
    negative = simple_map(width_m=-1.0, speed_limit_mps=-3.0)
    lane = decode_map(encode_map([negative], msg_cnt=0, unix_s=T)).nodes[0].links[0].lanes[0]
    assert (lane.width_m, lane.speed_limit_mps) == (0.0, 0.0)


def test_a_far_map_point_goes_as_an_absolute_position() -> None:
    # Beyond the largest offset (±0.8388607 degrees, ~93 km): position-LatLon.
    far = simple_map(points=((0.0, 0.0), (0.0, 120_000.0)))
    lane = decode_map(encode_map([far], msg_cnt=0, unix_s=T)).nodes[0].links[0].lanes[0]
    assert lane.points[1][1] == pytest.approx(120_000.0, rel=1e-3)


@pytest.mark.parametrize(
    "lane_values",
    [
        {"points": ((0.0, 0.0),)},
        {"points": tuple((float(i), 0.0) for i in range(32))},
        {"lane_id": 256},
        {"connections": tuple(LaneConnection(node_id=1, lane_id=1) for _ in range(17))},
        {"connections": (LaneConnection(node_id=1, lane_id=1, signal_group=256),)},
    ],
)
def test_a_map_outside_the_standards_counts_is_unencodable(lane_values: dict[str, Any]) -> None:
    with pytest.raises(V2xError) as caught:
        encode_map([simple_map(**lane_values)], msg_cnt=0, unix_s=T)
    assert caught.value.reason == "unencodable"


def test_a_map_needs_one_to_63_nodes() -> None:
    for count in (0, 64):
        with pytest.raises(V2xError):
            encode_map([simple_map()] * count, msg_cnt=0, unix_s=T)


# --- RSM -------------------------------------------------------------------------------

CLASSES_BACK = {
    pb.OBJECT_CLASS_PEDESTRIAN: pb.OBJECT_CLASS_PEDESTRIAN,
    pb.OBJECT_CLASS_BICYCLE: pb.OBJECT_CLASS_BICYCLE,
    pb.OBJECT_CLASS_MOTORCYCLE: pb.OBJECT_CLASS_MOTORCYCLE,
    pb.OBJECT_CLASS_CAR: pb.OBJECT_CLASS_CAR,
    pb.OBJECT_CLASS_TRUCK: pb.OBJECT_CLASS_TRUCK,
}


@st.composite
def object_lists(draw: st.DrawFn) -> tuple[pb.ObjectList, GeoPoint]:
    reference = draw(references)
    objects = pb.ObjectList(sensor_id="fused", kind=pb.OBJECT_LIST_KIND_FUSED)
    objects.sensor_position.latitude_deg = reference.latitude_deg
    objects.sensor_position.longitude_deg = reference.longitude_deg
    for _ in range(draw(st.integers(0, 40))):
        item = objects.objects.add(
            object_id=draw(st.integers(1, 0xFFFF)),
            object_class=draw(st.sampled_from(list(pb.ObjectClass.values()))),
            x_m=draw(st.floats(-2000, 2000)),
            y_m=draw(st.floats(-2000, 2000)),
            speed_mps=draw(st.floats(0, 163.8) | st.just(math.nan)),
            heading_rad=draw(st.floats(0, 2 * math.pi, exclude_max=True)),
            length_m=draw(st.floats(0, 40.95)),
            width_m=draw(st.floats(0, 10.23)),
            speed_accuracy_mps=draw(st.floats(0, 200)),
            heading_accuracy_rad=draw(st.floats(0, 1)),
        )
        sigma = draw(st.floats(0, 600))
        item.position_covariance.east_east = sigma**2
        item.position_covariance.north_north = draw(st.floats(0, 1)) * sigma**2
    return objects, reference


def assert_bound_covers(
    bound: float | None, sent: float, levels: tuple[tuple[float, str], ...]
) -> None:
    if sent <= 0 or sent > levels[-1][0]:
        assert bound is None  # unknown, or coarser than the coarsest level: unavailable
    else:
        assert bound is not None
        assert bound >= sent * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(object_lists(), st.integers(0, 127))
def test_an_object_list_round_trips_through_rsm(
    drawn: tuple[pb.ObjectList, GeoPoint], msg_cnt: int
) -> None:
    objects, reference = drawn
    result = encode_rsm(objects, reference=reference, rsu_id=RSU, msg_cnt=msg_cnt, unix_s=T)
    assert len(result.frames) == math.ceil(len(objects.objects) / 16)
    assert sum(result.skipped.values()) == 0
    received: list[RsmParticipant] = []
    for i, frame in enumerate(result.frames):
        rsm = decode_rsm(frame)
        assert (rsm.msg_cnt, rsm.rsu_id) == ((msg_cnt + i) % 128, RSU)
        assert_reference(rsm.reference, reference)
        received += rsm.participants
    assert len(received) == len(objects.objects)
    for got, sent in zip(received, objects.objects, strict=True):
        assert got.object_id == sent.object_id
        assert got.object_class == CLASSES_BACK.get(sent.object_class, pb.OBJECT_CLASS_UNKNOWN)
        assert got.east_m == pytest.approx(sent.x_m, abs=POINT_M)
        assert got.north_m == pytest.approx(sent.y_m, abs=POINT_M)
        if math.isnan(sent.speed_mps):
            assert got.speed_mps is None
        else:
            assert got.speed_mps == pytest.approx(sent.speed_mps, abs=0.01 + 1e-9)
        assert close_heading(got.heading_rad, sent.heading_rad, math.radians(0.0125) / 2 + 1e-9)
        assert got.length_m == pytest.approx(sent.length_m, abs=0.005 + 1e-9)
        assert got.width_m == pytest.approx(sent.width_m, abs=0.005 + 1e-9)
        cov = sent.position_covariance
        sigma = math.sqrt(max(cov.east_east, cov.north_north))
        assert_bound_covers(got.position_accuracy_m, sigma, POSITION_CONFIDENCE)
        assert_bound_covers(got.speed_accuracy_mps, sent.speed_accuracy_mps, SPEED_CONFIDENCE)
        assert_bound_covers(got.heading_accuracy_rad, sent.heading_accuracy_rad, HEADING_CONFIDENCE)


def test_rsm_values_clamp_and_objects_without_a_position_are_counted() -> None:
    reference = GeoPoint(31.2, 121.5)
    objects = pb.ObjectList(sensor_id="radar0", kind=pb.OBJECT_LIST_KIND_SENSOR)
    placed = objects.objects.add(object_id=0, speed_mps=1e9, length_m=99.0, width_m=-2.0)
    placed.position.latitude_deg, placed.position.longitude_deg = 31.2001, 121.5001
    objects.objects.add(object_id=5)  # a raw sensor list's object with no position
    result = encode_rsm(objects, reference=reference, rsu_id=RSU, msg_cnt=0, unix_s=T)
    assert result.skipped == {"no_position": 1}
    (got,) = decode_rsm(result.frames[0]).participants
    assert got.object_id == 0xFFFF  # 0 is the RSU itself: ids wrap into 1-65535
    assert got.speed_mps == pytest.approx(8190 * 0.02)
    assert got.length_m == pytest.approx(40.95)
    assert got.width_m == 0.0
    assert got.source == "microwaveRadar"
    assert got.position.latitude_deg == pytest.approx(31.2001, abs=DEGREE_UNIT)
    assert got.position_accuracy_m is None
    assert got.speed_accuracy_mps is None


def test_a_decoded_rsm_becomes_a_fused_object_list_east_north_of_its_reference() -> None:
    reference = GeoPoint(31.2, 121.5)
    objects = pb.ObjectList(sensor_id="fused", kind=pb.OBJECT_LIST_KIND_FUSED)
    objects.sensor_position.latitude_deg, objects.sensor_position.longitude_deg = 31.2, 121.5
    objects.objects.add(
        object_id=9,
        object_class=pb.OBJECT_CLASS_CAR,
        x_m=12.0,
        y_m=-7.0,
        speed_mps=10.0,
        heading_rad=math.pi / 2,
        cooperative_id="bsm:0011223344556677",
    )
    rsm = decode_rsm(
        encode_rsm(objects, reference=reference, rsu_id=RSU, msg_cnt=0, unix_s=T).frames[0]
    )
    (item,) = to_object_list(rsm, intersection_id=4).objects
    assert (item.x_m, item.y_m) == pytest.approx((12.0, -7.0), abs=POINT_M)
    assert (item.vx_mps, item.vy_mps) == pytest.approx((10.0, 0.0), abs=0.01)
    assert item.cooperative_id == "bsm:0011223344556677"
    assert metres_of(
        GeoPoint(item.position.latitude_deg, item.position.longitude_deg), reference
    ) == pytest.approx((12.0, -7.0), abs=POINT_M)


# --- RSI -------------------------------------------------------------------------------

ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40)
event_types = st.sampled_from([v for v in pb.EventType.values() if v != 0])
severities = st.sampled_from([pb.SEVERITY_INFO, pb.SEVERITY_WARNING, pb.SEVERITY_CRITICAL])


@st.composite
def events(draw: st.DrawFn) -> pb.TrafficEvent:
    event = pb.TrafficEvent(
        event_id=draw(ascii_text),
        type=draw(event_types),
        severity=draw(severities),
        radius_m=draw(st.floats(0.1, 6553.5)),
        description=draw(ascii_text),
    )
    event.position.latitude_deg = draw(st.floats(30.0, 30.1))
    event.position.longitude_deg = draw(st.floats(120.0, 120.1))
    return event


signs = st.builds(
    StaticSign,
    kind=st.sampled_from(list(SignKind)),
    position=st.builds(GeoPoint, st.floats(30.0, 30.1), st.floats(120.0, 120.1)),
    speed_limit_kph=st.none() | st.floats(0, 999.9),
    sign_id=st.integers(0, 255),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(events(), max_size=8), st.lists(signs, max_size=16), st.integers(0, 127))
def test_events_and_signs_round_trip_through_rsi(
    sent_events: list[pb.TrafficEvent], sent_signs: list[StaticSign], msg_cnt: int
) -> None:
    reference = GeoPoint(30.05, 120.05, 10.0)
    data = encode_rsi(
        sent_events, sent_signs, reference=reference, rsu_id=RSU, msg_cnt=msg_cnt, unix_s=T
    )
    rsi = decode_rsi(data)
    assert (rsi.msg_cnt, rsi.rsu_id) == (msg_cnt, RSU)
    for got, sent in zip(rsi.events, sent_events, strict=True):
        assert (got.event_type, got.severity, got.description) == (
            sent.type,
            sent.severity,
            sent.description,
        )
        assert got.radius_m == pytest.approx(sent.radius_m, abs=0.05 + 1e-9)
        assert got.position is not None
        assert got.position.latitude_deg == pytest.approx(
            sent.position.latitude_deg, abs=DEGREE_UNIT
        )
        assert got.position.longitude_deg == pytest.approx(
            sent.position.longitude_deg, abs=DEGREE_UNIT
        )
    assert len(rsi.signs) == len(sent_signs)
    for got_sign, sign in zip(rsi.signs, sent_signs, strict=True):
        assert (got_sign.kind, got_sign.rts_id) == (sign.kind, sign.sign_id)
        if sign.kind == SignKind.SPEED_LIMIT and sign.speed_limit_kph is not None:
            assert got_sign.speed_limit_kph == pytest.approx(sign.speed_limit_kph, abs=0.05 + 1e-9)
        else:
            assert got_sign.speed_limit_kph is None
    back = to_traffic_events(rsi)
    assert [e.type for e in back] == [e.type for e in sent_events]


def test_rsi_radius_clamps_and_too_many_events_are_unencodable() -> None:
    event = pb.TrafficEvent(event_id="x", type=pb.EVENT_TYPE_HAZARD_LIGHTS, radius_m=1e9)
    rsi = decode_rsi(
        encode_rsi([event], [], reference=GeoPoint(30, 120), rsu_id=RSU, msg_cnt=0, unix_s=T)
    )
    assert rsi.events[0].radius_m == pytest.approx(6553.5)
    assert rsi.events[0].position is None  # the event had no position: none sent
    with pytest.raises(V2xError) as caught:
        encode_rsi([event] * 9, [], reference=GeoPoint(30, 120), rsu_id=RSU, msg_cnt=0, unix_s=T)
    assert caught.value.reason == "unencodable"
    unknown = pb.TrafficEvent(event_id="y", type=pb.EVENT_TYPE_UNSPECIFIED)
    with pytest.raises(V2xError):
        encode_rsi([unknown], [], reference=GeoPoint(30, 120), rsu_id=RSU, msg_cnt=0, unix_s=T)


def test_roadworks_use_the_standards_under_construction_sign_code() -> None:
    sign = StaticSign(SignKind.ROADWORKS, GeoPoint(30.0, 120.0))
    data = encode_rsi([], [sign], reference=GeoPoint(30, 120), rsu_id=RSU, msg_cnt=0, unix_s=T)
    _, raw = specification().decode("MessageFrame", data)
    assert raw["rtss"][0]["signType"] == 38  # "UnderConstruction = 38" in RSI.asn


# --- decode errors ---------------------------------------------------------------------


def sample_frames() -> dict[str, bytes]:
    reference = GeoPoint(31.2, 121.5, 4.0)
    objects = pb.ObjectList(sensor_id="fused", kind=pb.OBJECT_LIST_KIND_FUSED)
    objects.sensor_position.latitude_deg, objects.sensor_position.longitude_deg = 31.2, 121.5
    for i in range(3):
        objects.objects.add(
            object_id=i + 1, object_class=pb.OBJECT_CLASS_CAR, x_m=i, y_m=-i, speed_mps=3
        )
    event = pb.TrafficEvent(
        event_id="e", type=pb.EVENT_TYPE_HAZARD_LIGHTS, radius_m=20, description="x"
    )
    event.position.latitude_deg, event.position.longitude_deg = 31.2001, 121.5001
    sign = StaticSign(SignKind.SPEED_LIMIT, reference, speed_limit_kph=40)
    return {
        "mapFrame": encode_map(
            [simple_map(width_m=3.5, speed_limit_mps=13.9)], msg_cnt=1, unix_s=T
        ),
        "rsmFrame": encode_rsm(
            objects, reference=reference, rsu_id=RSU, msg_cnt=1, unix_s=T
        ).frames[0],
        "rsiFrame": encode_rsi(
            [event], [sign], reference=reference, rsu_id=RSU, msg_cnt=1, unix_s=T
        ),
    }


FRAMES = sample_frames()
DECODERS = {"mapFrame": decode_map, "rsmFrame": decode_rsm, "rsiFrame": decode_rsi}


@pytest.mark.parametrize("alternative", sorted(FRAMES))
def test_a_truncated_frame_names_where_it_ran_out(alternative: str) -> None:
    data = FRAMES[alternative]
    for cut in range(1, len(data)):
        with pytest.raises(V2xDecodeError) as caught:
            DECODERS[alternative](data[:cut])
        assert caught.value.detail == "truncated"
        assert caught.value.reason == "malformed"
        assert caught.value.path.startswith(f"MessageFrame.{alternative}")
        assert caught.value.path in str(caught.value)


def test_a_frame_of_another_message_is_the_wrong_kind() -> None:
    with pytest.raises(V2xDecodeError) as caught:
        decode_map(FRAMES["rsmFrame"])
    assert caught.value.detail == "wrong_kind"


def test_an_extension_alternative_names_the_likely_edition_mismatch() -> None:
    # The MessageFrame's extension bit, then alternative index 5 (a later edition's message)
    # and its open-type contents.
    data = bytes([0x80 | 0x05, 0x01, 0x00])
    for decode in (decode_map, decode_message_frame):
        with pytest.raises(V2xDecodeError) as caught:
            decode(data)
        assert caught.value.detail == "unknown_alternative"
        assert "2020" in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(FRAMES)),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_mutated_frames_never_raise_anything_but_the_decode_error(
    alternative: str, mutations: list[tuple[int, int]]
) -> None:
    data = bytearray(FRAMES[alternative])
    for at, value in mutations:
        data[at % len(data)] = value
    for decode in (DECODERS[alternative], decode_message_frame):
        failure: tuple[str, str] | None = None
        try:
            decode(bytes(data))
        except V2xDecodeError as err:  # nothing else may escape
            failure = (err.reason, err.detail)
        assert failure is None or failure[0] in ("malformed", "empty")


def test_a_value_beyond_its_range_names_the_field() -> None:
    # A heading of 32000 fits the 15 bits UPER gives 0..28800 but not the constraint.
    _, value = specification().decode("MessageFrame", FRAMES["rsmFrame"])
    value["participants"][0]["heading"] = 32000
    data = specification().encode("MessageFrame", ("rsmFrame", value), check_constraints=False)
    with pytest.raises(V2xDecodeError) as caught:
        decode_rsm(data)
    assert caught.value.detail == "out_of_range"
    assert caught.value.path == "MessageFrame.rsmFrame.participants.heading"
