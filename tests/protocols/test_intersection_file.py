"""Intersection description files: the shipped example, what a minimal file means, every broken
file an error naming the file, table and key, and nothing but ``IntersectionFileError`` for
any document (hypothesis)."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_py.config.loader import EXAMPLES_DIR
from protocols.errors import DefinitionError, IntersectionFileError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_map, decode_rsi, encode_map, encode_rsi
from protocols.v2x.intersection_file import (
    IntersectionDescription,
    parse_intersection,
    point_of_metres,
    read_intersection_file,
)
from protocols.v2x.intersection_geometry import to_intersection_geometry
from protocols.v2x.map import LaneConnection
from protocols.v2x.rsi import SignKind
from protocols.v2x.units import GeoPoint, metres_of

EXAMPLE = EXAMPLES_DIR / "intersection-101.toml"
SOURCE = "test.toml"
DELETE = object()


def example() -> IntersectionDescription:
    return read_intersection_file(EXAMPLE)


def lanes_of(description: IntersectionDescription) -> dict[int, Any]:
    return {lane.lane_id: lane for link in description.map.links for lane in link.lanes}


# --- the shipped example -----------------------------------------------------------------------


def test_the_example_is_intersection_101_with_four_approaches_of_five_lanes() -> None:
    description = example()
    node = description.map
    assert (node.node_id, node.reference) == (101, GeoPoint(34.2235, 108.8905, 410.0))
    assert [link.name for link in node.links] == ["north", "east", "south", "west"]
    assert [len(link.lanes) for link in node.links] == [5, 5, 5, 5]
    assert [link.speed_limit_mps for link in node.links] == [pytest.approx(50 / 3.6)] * 4
    ids = {arm * 10 + k for arm in (1, 2, 3, 4) for k in (1, 2, 3, 5, 6)}
    assert set(lanes_of(description)) == ids


def test_the_south_approach_straight_lane_leads_north_into_lane_16_on_group_1() -> None:
    lanes = lanes_of(example())
    ego = lanes[32]
    assert ego.points[0] == (5.25, -162.0)
    assert ego.points[-1] == (5.25, -12.0)  # the stop line, 12 m south of the centre
    assert ego.maneuvers == {"straight"}
    assert ego.width_m == 3.5
    assert ego.connections == (LaneConnection(101, 16, 1),)
    assert lanes[16].points == ((5.25, 12.0), (5.25, 132.0))


def test_every_connection_of_the_example_goes_to_an_egress_lane_on_its_arms_group() -> None:
    lanes = lanes_of(example())
    for lane_id, lane in lanes.items():
        arm, kind = divmod(lane_id, 10)
        if kind in (5, 6):
            assert not lane.connections
            assert not lane.maneuvers
            continue
        (connection,) = lane.connections
        assert connection.lane_id % 10 in (5, 6)
        assert connection.lane_id // 10 != arm
        assert connection.signal_group == (1 if arm in (1, 3) else 2)
        # Each ingress lane runs towards the centre and ends 12 m from it.
        start, end = lane.points[0], lane.points[-1]
        assert math.hypot(*end) < math.hypot(*start)
        assert 12.0 in (abs(end[0]), abs(end[1]))
        assert 80.0 <= math.dist(start, end) <= 150.0


def test_the_example_signs_are_a_school_zone_and_roadworks_where_the_file_puts_them() -> None:
    description = example()
    reference = description.map.reference
    kinds = {sign.sign_id: sign.kind for sign in description.signs}
    assert kinds == {1: SignKind.SCHOOL_ZONE, 2: SignKind.ROADWORKS}
    east, north = metres_of(description.signs[0].position, reference)
    assert (east, north) == pytest.approx((12.5, -100.0), abs=1e-6)


def test_the_example_goes_on_the_air_and_comes_back_within_a_centimetre() -> None:
    description = example()
    node = decode_map(encode_map([description.map], msg_cnt=3, unix_s=1.7e9)).nodes[0]
    assert node.node_id == 101
    heard = {lane.lane_id: lane for link in node.links for lane in link.lanes}
    for lane_id, lane in lanes_of(description).items():
        assert heard[lane_id].maneuvers == lane.maneuvers
        assert heard[lane_id].connections == lane.connections
        for sent, got in zip(lane.points, heard[lane_id].points, strict=True):
            assert math.dist(sent, got) < 0.01
    rsi = decode_rsi(
        encode_rsi(
            [],
            description.signs,
            reference=description.map.reference,
            rsu_id=bytes(8),
            msg_cnt=0,
            unix_s=1.7e9,
        )
    )
    assert [s.kind for s in rsi.signs] == [SignKind.SCHOOL_ZONE, SignKind.ROADWORKS]


def test_the_cloud_geometry_carries_the_same_lanes_connections_and_signs() -> None:
    geometry = to_intersection_geometry(example())
    assert geometry.intersection_id == 101
    assert geometry.reference.altitude_m == 410.0
    south = geometry.approaches[2]
    assert south.name == "south"
    assert south.speed_limit_mps == pytest.approx(50 / 3.6)
    ego = next(lane for lane in south.lanes if lane.lane_id == 32)
    assert [(p.east_m, p.north_m) for p in ego.points] == [(5.25, -162), (5.25, -42), (5.25, -12)]
    assert list(ego.maneuvers) == [pb.MANEUVER_STRAIGHT]
    assert ego.type == pb.LANE_TYPE_VEHICLE
    assert [(c.intersection_id, c.lane_id, c.signal_group) for c in ego.connections] == [
        (101, 16, 1)
    ]
    school = geometry.signs[0]
    assert school.kind == pb.STATIC_SIGN_KIND_SCHOOL_ZONE
    assert (school.east_m, school.north_m) == pytest.approx((12.5, -100.0))
    assert school.position.altitude_m == 410.0  # no altitude of its own: the junction's


# --- a minimal file ------------------------------------------------------------------------------


def minimal() -> dict[str, Any]:
    return {
        "intersection": {"id": 7, "reference": {"latitude_deg": 34.0, "longitude_deg": 108.0}},
        "approach": [
            {
                "upstream_node_id": 1,
                "lane": [
                    {
                        "id": 1,
                        "width_m": 3.5,
                        "points": [[0.0, -50.0], [0.0, -10.0]],
                        "maneuvers": ["straight"],
                        "connections": [{"lane": 2, "signal_group": 1}],
                    },
                    {"id": 2, "width_m": 3.5, "points": [[0.0, 10.0], [0, 50]]},
                ],
            }
        ],
    }


def changed(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """``minimal()`` with the value at ``path`` set (or deleted: ``DELETE``)."""
    data = minimal()
    node: Any = data
    for part in path[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


def test_a_minimal_file_takes_the_defaults() -> None:
    description = parse_intersection(minimal(), SOURCE)
    node = description.map
    assert (node.name, node.region, node.reference.altitude_m) == (None, None, None)
    (link,) = node.links
    assert (link.name, link.speed_limit_mps) == (None, None)
    first, second = link.lanes
    assert first.connections == (LaneConnection(7, 2, 1),)  # this intersection's lane 2
    assert (first.lane_type, first.speed_limit_mps) == ("vehicle", None)
    assert second.maneuvers == frozenset()
    assert description.signs == ()


def test_a_connection_to_another_intersection_is_not_looked_up_here() -> None:
    data = changed(("approach", 0, "lane", 0, "connections"), [{"lane": 99, "node": 8}])
    lane = parse_intersection(data, SOURCE).map.links[0].lanes[0]
    assert lane.connections == (LaneConnection(8, 99, None),)


def test_an_approach_limit_overrides_the_intersections() -> None:
    data = changed(("intersection", "speed_limit_kph"), 50)
    data["approach"].append(copy.deepcopy(data["approach"][0]))
    data["approach"][1]["speed_limit_kph"] = 30
    for lane in data["approach"][1]["lane"]:
        lane["id"] += 10
        lane.pop("connections", None)
    limits = [link.speed_limit_mps for link in parse_intersection(data, SOURCE).map.links]
    assert limits == [pytest.approx(50 / 3.6), pytest.approx(30 / 3.6)]


def test_signs_by_metres_or_by_degrees_and_a_speed_limit_with_its_limit() -> None:
    data = minimal()
    data["sign"] = [
        {"kind": "speed_limit", "id": 3, "east_m": 10.0, "north_m": -30.0, "speed_limit_kph": 40},
        {"kind": "roadworks", "id": 4, "latitude_deg": 34.0001, "longitude_deg": 108.0002},
    ]
    limit, works = parse_intersection(data, SOURCE).signs
    reference = GeoPoint(34.0, 108.0)
    assert limit.position == point_of_metres(10.0, -30.0, reference)
    assert metres_of(limit.position, reference) == pytest.approx((10.0, -30.0))
    assert (limit.kind, limit.speed_limit_kph, limit.sign_id) == (SignKind.SPEED_LIMIT, 40.0, 3)
    assert works.position == GeoPoint(34.0001, 108.0002)


# --- broken files ----------------------------------------------------------------------------

LANE0 = ("approach", 0, "lane", 0)
SIGN = {"kind": "roadworks", "id": 1, "east_m": 0.0, "north_m": 0.0}


def with_signs(signs: list[dict[str, Any]]) -> dict[str, Any]:
    return changed(("sign",), signs)


def too_many_points() -> list[list[float]]:
    return [[0.0, -100.0 + i] for i in range(32)]


BROKEN: list[tuple[dict[str, Any], str]] = [
    (changed(("intersection",), DELETE), "intersection is required"),
    (changed(("intersection", "id"), 65536), "intersection.id = 65536"),
    (changed(("intersection", "id"), "101"), "intersection.id = '101'"),
    (changed(("intersection", "name"), "x" * 64), "intersection.name = 'xxx"),
    (changed(("intersection", "name"), "Kējì Road"), "printable ASCII"),
    (changed(("intersection", "region"), -1), "intersection.region = -1"),
    (changed(("intersection", "reference", "latitude_deg"), 91), "reference.latitude_deg = 91"),
    (changed(("intersection", "reference"), DELETE), "intersection.reference is required"),
    (changed(("intersection", "speed_limit_kph"), 0), "intersection.speed_limit_kph = 0"),
    (changed(("intersection", "colour"), "red"), "unknown key 'intersection.colour'"),
    (changed(("approach",), []), "approach: 0 [[approach]] tables, a MAP or RSI takes 1-32"),
    (
        changed(("approach",), [copy.deepcopy(minimal()["approach"][0]) for _ in range(33)]),
        "approach: 33 [[approach]] tables",
    ),
    (changed(("approach", 0, "upstream_node_id"), DELETE), "approach[0].upstream_node_id is"),
    (changed(("approach", 0, "lane"), []), "approach[0].lane: 0 [[approach.lane]] tables"),
    (changed((*LANE0, "id"), 256), "approach[0].lane[0].id = 256"),
    (
        changed(("approach", 0, "lane", 1, "id"), 1),
        "approach[0].lane[1].id = 1 is invalid: a lane id not used before "
        "(also approach[0].lane[0].id)",
    ),
    (changed((*LANE0, "width_m"), 0), "approach[0].lane[0].width_m = 0"),
    (changed((*LANE0, "width_m"), 400), "approach[0].lane[0].width_m = 400"),
    (changed((*LANE0, "width_m"), DELETE), "approach[0].lane[0].width_m is required"),
    (changed((*LANE0, "type"), "road"), "approach[0].lane[0].type = 'road'"),
    (changed((*LANE0, "maneuvers"), ["sideways"]), "approach[0].lane[0].maneuvers = ['sideways']"),
    (changed((*LANE0, "maneuvers"), "straight"), "approach[0].lane[0].maneuvers = 'straight'"),
    (changed((*LANE0, "points"), [[0.0, 0.0]]), "approach[0].lane[0].points = [[0.0, 0.0]]"),
    (changed((*LANE0, "points"), too_many_points()), "2-31 points"),
    (changed((*LANE0, "points"), [[0, 0], [1, 1, 1]]), "point 1 is not [east_m, north_m]"),
    (changed((*LANE0, "points"), [[0, 0], [True, 1]]), "point 1 is not [east_m, north_m]"),
    (changed((*LANE0, "points"), [[0, 0], [0, 10_001]]), "point 1 is more than 10000 m"),
    (changed((*LANE0, "points"), [[0, 0], [0, 0.05]]), "point 1 is within 0.1 m"),
    (changed((*LANE0, "points"), "0,0 0,10"), "approach[0].lane[0].points = '0,0 0,10'"),
    (changed((*LANE0, "speed_limit_kph"), 201), "approach[0].lane[0].speed_limit_kph = 201"),
    (
        changed((*LANE0, "connections"), [{"lane": 9, "signal_group": 1}]),
        "approach[0].lane[0].connections[0].lane = 9 is invalid: a lane of intersection 7",
    ),
    (
        changed((*LANE0, "connections"), [{"lane": 2, "signal_group": 0}]),
        "approach[0].lane[0].connections[0].signal_group = 0",
    ),
    (
        changed((*LANE0, "connections"), [{"lane": 2, "signal_group": 256}]),
        "connections[0].signal_group = 256",
    ),
    (
        changed((*LANE0, "connections"), [{"lane": 2, "phase": 1}]),
        "unknown key 'approach[0].lane[0].connections[0].phase'",
    ),
    (
        changed((*LANE0, "connections"), [{"lane": 2}] * 17),
        "approach[0].lane[0].connections: 17 connections, a MAP or RSI takes 0-16",
    ),
    (changed((*LANE0, "connections"), {"lane": 2}), "approach[0].lane[0].connections = {"),
    (changed((*LANE0, "colour"), "red"), "unknown key 'approach[0].lane[0].colour'"),
    (with_signs([{**SIGN, "kind": "stop"}]), "sign[0].kind = 'stop'"),
    (with_signs([SIGN, SIGN]), "sign[1].id = 1 is invalid: a sign id not used"),
    (with_signs([{**SIGN, "id": 256}]), "sign[0].id = 256"),
    (with_signs([{"kind": "roadworks", "id": 1}]), "sign[0]: give east_m and north_m"),
    (with_signs([{**SIGN, "latitude_deg": 34.0}]), "sign[0]: give east_m and north_m"),
    (with_signs([{**SIGN, "north_m": DELETE}]), "sign[0].north_m is required"),
    (
        with_signs([{"kind": "roadworks", "id": 1, "longitude_deg": 108.0}]),
        "sign[0].latitude_deg is required",
    ),
    (with_signs([{**SIGN, "east_m": 10_001}]), "sign[0].east_m = 10001"),
    (with_signs([{**SIGN, "kind": "speed_limit"}]), "sign[0].speed_limit_kph is required"),
    (with_signs([{**SIGN, "speed_limit_kph": 30}]), "only a speed_limit sign takes a limit"),
    (with_signs([{**SIGN, "id": i} for i in range(17)]), "sign: 17 [[sign]] tables"),
    (changed(("signs",), []), "unknown key 'signs'"),
    (changed(("intersection", "reference", "latitude_deg"), math.nan), "expected a finite"),
]


def _without_deleted(data: Any) -> Any:
    """``DELETE`` inside a sign's table (built by dict spreading) removes that key."""
    if isinstance(data, dict):
        return {k: _without_deleted(v) for k, v in data.items() if v is not DELETE}
    if isinstance(data, list):
        return [_without_deleted(v) for v in data]
    return data


@pytest.mark.parametrize(("data", "message"), BROKEN, ids=[m for _, m in BROKEN])
def test_a_broken_file_is_an_error_naming_the_file_table_and_key(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(IntersectionFileError) as caught:
        parse_intersection(_without_deleted(data), SOURCE)
    text = str(caught.value)
    assert text.startswith(f"{SOURCE}: "), text
    assert message in text
    assert len(text.splitlines()) == 1
    assert caught.value.reason == "intersection_file"
    assert isinstance(caught.value, DefinitionError)


def test_a_file_that_is_missing_or_not_toml_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(IntersectionFileError, match=f"cannot read intersection file {missing}"):
        read_intersection_file(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("[intersection\nid = 1\n")
    with pytest.raises(IntersectionFileError, match=f"{broken}: not valid TOML"):
        read_intersection_file(broken)


def test_the_file_is_read_as_the_same_document(tmp_path: Path) -> None:
    copied = tmp_path / "copy.toml"
    copied.write_text(EXAMPLE.read_text())
    assert read_intersection_file(copied) == example()


# --- fuzzing: any document is a description or an IntersectionFileError ---------------------

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=70),
    st.lists(st.floats(-20_000, 20_000), max_size=3),
    st.lists(st.lists(st.integers(-20_000, 20_000), max_size=3), max_size=40),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.lists(st.dictionaries(st.sampled_from(["lane", "node", "signal_group"]), st.integers())),
)


def paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key and list item of ``node``."""
    found: list[tuple[str | int, ...]] = [prefix] if prefix else []
    if isinstance(node, dict):
        found += [p for k, v in node.items() for p in paths(v, (*prefix, k))]
    elif isinstance(node, list):
        found += [p for i, v in enumerate(node) for p in paths(v, (*prefix, i))]
    return found


def _set(data: Any, path: tuple[str | int, ...], value: object) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    if value is DELETE and isinstance(node, dict):
        node.pop(path[-1], None)
    elif value is not DELETE:
        node[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """The example or the minimal document with a few values replaced, removed or added."""
    base = draw(st.sampled_from(["example", "minimal"]))
    data = copy.deepcopy(EXAMPLE_DATA if base == "example" else minimal())
    for _ in range(draw(st.integers(1, 3))):
        choices = paths(data)
        if not choices:  # an earlier mutation left nothing to mutate (a single key replaced)
            break
        path = draw(st.sampled_from(choices))
        if draw(st.booleans()) and isinstance(path[-1], str):
            path = (*path[:-1], draw(st.sampled_from(["id", "lane", "node", "kind", "x"])))
            parent: Any = data
            for part in path[:-1]:
                parent = parent[part]
            if not isinstance(parent, dict):
                continue
        _set(data, path, draw(ODD | st.just(DELETE)))
    return data


EXAMPLE_DATA: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())


def outcome(data: dict[str, Any]) -> IntersectionDescription | IntersectionFileError:
    """The description, or the error; anything else raised fails the test."""
    try:
        return parse_intersection(data, SOURCE)
    except IntersectionFileError as err:
        return err


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_any_mutation_is_a_description_or_an_intersection_file_error(data: dict[str, Any]) -> None:
    result = outcome(data)
    if isinstance(result, IntersectionFileError):
        assert str(result).startswith(f"{SOURCE}: ")
        assert len(str(result).splitlines()) == 1
    else:
        # What parses goes on the air and to the cloud.
        encode_map([result.map], msg_cnt=0, unix_s=1.7e9)
        to_intersection_geometry(result).SerializeToString()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["intersection", "approach", "sign", "x"]), ODD))
def test_any_document_is_a_description_or_an_intersection_file_error(data: dict[str, Any]) -> None:
    result = outcome(data)
    if isinstance(result, IntersectionFileError):
        assert str(result).startswith(f"{SOURCE}: ")
