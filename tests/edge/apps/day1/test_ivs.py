"""IVS scenarios with the example intersection 101's signs (a school zone on the south
approach's right verge, roadworks beside the westbound lanes of the west arm): the school zone
is shown in time to the northbound ego, once; silent for the roadworks on another arm, for
the southbound ego passing the same sign, a sign behind, one RSI frame and an RSU no longer
heard; a text sign shows its text."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.apps.day1.ego import Ego
from edge.apps.day1.ivs import Ivs, IvsSettings, signs_ahead
from edge.apps.day1.picture import HeardSign, frame_at
from firmware_py.simulation.v2x_scenes import ORIGIN, Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import GeoPoint, SignKind, StaticSign
from protocols.v2x.csae53 import decode_frame, encode_frame
from protocols.v2x.intersection_file import read_intersection_file

EXAMPLE = Path(__file__).parents[4] / "firmware_py" / "examples" / "intersection-101.toml"
EXAMPLE_FILE = read_intersection_file(EXAMPLE)
SIGNS = EXAMPLE_FILE.signs  # school zone (12.5, -100), roadworks (-60, 9)
FRAME = frame_at(ORIGIN)
SPEED = 15.0
HALF_LENGTH = 2.3
# Northbound on the south approach's straight lane, 200 m before the school zone sign.
NORTHBOUND = Mover(east_m=5.25, north_m=-300.0, heading_deg=0.0, speed_mps=SPEED)
Tamper = Callable[[int, bytes], bytes | None]


def sign_at(kind: SignKind, east: float, north: float, sign_id: int) -> StaticSign:
    lat, lon, _ = FRAME.enu_to_geodetic(east, north, 0.0)
    return StaticSign(kind, GeoPoint(float(lat), float(lon)), sign_id=sign_id)


def scene(ego: Mover = NORTHBOUND, signs: tuple[StaticSign, ...] = SIGNS) -> V2xScene:
    return V2xScene(ego=ego, intersection=EXAMPLE_FILE.map, signs=signs)


def test_the_school_zone_ahead_is_shown_in_time_once() -> None:
    run = run_scene(scene(), [Ivs()], duration_s=30.0)
    first = run.first("IVS")
    assert first is not None
    reach = (200.0 - HALF_LENGTH - 150.0) / SPEED  # 150 m from the ego's front
    assert reach <= first <= reach + 0.2  # the crossing cycle and the confirming one
    # One episode: the ego passes the sign (13 s) and crosses the junction past the
    # roadworks of the west arm, which is never its own.
    assert run.count("IVS") == 1
    warning = run.started[0][1]
    assert warning.type == pb.EVENT_TYPE_IN_VEHICLE_SIGNAGE
    assert warning.severity == pb.SEVERITY_INFO
    assert warning.description.startswith("school zone")
    assert warning.remote_id.startswith("rts:")


def test_the_roadworks_are_shown_to_the_westbound_ego() -> None:
    # Westbound on the west arm's outer egress lane (5.25 m north): the sign is 3.75 m right.
    westbound = Mover(east_m=-15.0, north_m=5.25, heading_deg=270.0, speed_mps=SPEED)
    run = run_scene(scene(westbound), [Ivs()], duration_s=4.0)
    assert run.count("IVS") == 1
    assert run.started[0][1].description.startswith("roadworks")


def test_the_other_direction_and_signs_behind_are_silent() -> None:
    # Southbound through the junction and down the south arm: the school zone sign stands
    # ahead but on the far verge (17.75 m left); the roadworks are 55 m to the right.
    southbound = Mover(east_m=-5.25, north_m=100.0, heading_deg=180.0, speed_mps=SPEED)
    assert run_scene(scene(southbound), [Ivs()], duration_s=20.0).first("IVS") is None
    behind = (sign_at(SignKind.ROADWORKS, 12.0, -320.0, 3),)
    assert run_scene(scene(signs=behind), [Ivs()], duration_s=5.0).first("IVS") is None


def _rsi_ticks(keep: Callable[[int], bool]) -> Tamper:
    def tamper(tick: int, data: bytes) -> bytes | None:
        return data if keep(tick) or decode_frame(data)[0] != "rsiFrame" else None

    return tamper


def test_one_rsi_frame_or_an_rsu_no_longer_heard_shows_nothing() -> None:
    once = _rsi_ticks(lambda tick: tick == 40)  # the sign is 145 m ahead then
    assert run_scene(scene(), [Ivs()], duration_s=8.0, tamper=once).first("IVS") is None
    # Heard until 2 s, forgotten 5 s later: the sign comes within 150 m after 9.9 s.
    until_two_s = _rsi_ticks(lambda tick: tick <= 20)
    far = replace(NORTHBOUND, north_m=-400.0)
    run = run_scene(scene(far), [Ivs()], duration_s=12.0, tamper=until_two_s)
    assert run.first("IVS") is None
    assert run_scene(scene(far), [Ivs()], duration_s=12.0).first("IVS") is not None


def test_a_text_sign_shows_its_text() -> None:
    def icy(tick: int, data: bytes) -> bytes | None:
        kind, value = decode_frame(data)
        if kind != "rsiFrame":
            return data
        for rts in value.get("rtss", ()):
            rts["signType"] = 0  # a text message warning
            rts["description"] = ("textString", "ICY BRIDGE")
        return encode_frame((kind, value))

    school = SIGNS[:1]
    run = run_scene(scene(signs=school), [Ivs()], duration_s=6.0, tamper=icy)
    assert run.count("IVS") == 1
    assert run.started[0][1].description.startswith("ICY BRIDGE")


def test_settings_are_honoured() -> None:
    run = run_scene(scene(), [Ivs(IvsSettings(max_distance_m=50.0))], duration_s=12.0)
    first = run.first("IVS")
    assert first is not None
    reach = (200.0 - HALF_LENGTH - 50.0) / SPEED
    assert reach <= first <= reach + 0.2
    narrow = Ivs(IvsSettings(corridor_right_m=5.0))  # the verge sign is 7.25 m right
    assert run_scene(scene(), [narrow], duration_s=12.0).first("IVS") is None


EGO = Ego(
    east=0.0,
    north=0.0,
    speed=SPEED,
    heading=0.0,
    accel=0.0,
    yaw_rate=0.0,
    length=4.6,
    width=1.8,
    turn_signal=pb.TURN_SIGNAL_OFF,
    brake=False,
    lane=None,
)


@given(
    st.lists(
        st.tuples(st.floats(-300, 300), st.floats(-300, 300)) | st.just((math.nan, math.nan)),
        max_size=16,
    ),
    st.floats(0, 2 * math.pi),
)
def test_signs_ahead_are_in_the_corridor_and_nearest_first(
    points: list[tuple[float, float]], heading: float
) -> None:
    signs = [
        HeardSign(
            key=f"rts:00:{k}",
            kind=SignKind.ROADWORKS,
            sign_code=38,
            east=None if math.isnan(east) else east,
            north=None if math.isnan(north) else north,
            speed_limit_mps=None,
            description="",
        )
        for k, (east, north) in enumerate(points)
    ]
    ego = replace(EGO, heading=heading)
    found, unplaced = signs_ahead(ego, signs, max_distance_m=150.0, left_m=5.25, right_m=15.0)
    assert unplaced == sum(1 for east, _ in points if math.isnan(east))
    distances = [item.distance_m for item in found]
    assert distances == sorted(distances)
    for item in found:
        east, north = item.sign.east, item.sign.north
        assert east is not None
        assert north is not None
        along = east * math.sin(heading) + north * math.cos(heading)
        left = -east * math.cos(heading) + north * math.sin(heading)
        assert along >= 0
        assert -15.0 - 1e-9 <= left <= 5.25 + 1e-9
        assert item.distance_m == pytest.approx(max(along - ego.length / 2, 0.0), abs=1e-6)
        assert item.distance_m <= 150.0


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_settings_refuse_negative_and_non_finite_values(bad: float) -> None:
    with pytest.raises(ValueError, match="corridor_left_m"):
        IvsSettings(corridor_left_m=bad)
