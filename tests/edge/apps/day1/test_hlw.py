"""HLW scenarios: warns in time of roadworks ahead on the path (severity from the RSI's
priority, unknown codes named by their code); silent for an event behind, beside the road, on
the other carriageway, one an RSU raised about the ego itself, an equipment fault, and an RSU
no longer heard."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.apps.day1.ego import Ego
from edge.apps.day1.heard_world import HeardWorld
from edge.apps.day1.hlw import NOT_HAZARDS, Hlw, HlwSettings
from edge.apps.day1.picture import HeardEvent, Picture, frame_at
from firmware_py.simulation.v2x_scenes import ORIGIN, T0_UNIX, Mover, V2xScene, run_scene
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.csae53 import decode_frame, encode_frame

FRAME = frame_at(ORIGIN)
SPEED = 20.0
# Northbound at 20 m/s from 300 m south of the origin: 8 s lead time is 160 m.
EGO = Mover(east_m=0.0, north_m=-300.0, heading_deg=0.0, speed_mps=SPEED)
HALF_LENGTH = EGO.length_m / 2
Tamper = Callable[[int, bytes], bytes | None]


def event(
    event_id: str,
    east: float,
    north: float,
    *,
    radius: float = 20.0,
    kind: pb.EventType.ValueType = pb.EVENT_TYPE_HAZARDOUS_LOCATION,
    severity: pb.Severity.ValueType = pb.SEVERITY_UNSPECIFIED,
    description: str = "roadworks, right lane closed",
) -> pb.TrafficEvent:
    lat, lon, _ = FRAME.enu_to_geodetic(east, north, 0.0)
    return pb.TrafficEvent(
        event_id=event_id,
        type=kind,
        severity=severity,
        position=pb.Position(latitude_deg=float(lat), longitude_deg=float(lon)),
        radius_m=radius,
        description=description,
    )


def edge_time(centre_north: float, radius: float, distance_m: float) -> float:
    """When the ego's front is ``distance_m`` from the near edge of a zone on its path."""
    return (centre_north - radius - HALF_LENGTH - distance_m - EGO.north_m) / SPEED


def test_roadworks_ahead_warn_at_the_lead_distance() -> None:
    roadworks = event("rw-1", 0.0, 100.0)
    run = run_scene(V2xScene(ego=EGO, events=[roadworks]), [Hlw()], duration_s=14.0)
    first = run.first("HLW")
    assert first is not None
    # 8 s at 20 m/s is 160 m: not later than that plus two 0.1 s cycles (the cycle that
    # crosses it, the engine's confirming one); not more than 0.5 s (10 m) before.
    assert edge_time(100.0, 20.0, 170.0) <= first <= edge_time(100.0, 20.0, 160.0) + 0.2
    assert run.count("HLW") == 1
    (_, warning) = run.started[0]
    assert warning.type == pb.EVENT_TYPE_HAZARDOUS_LOCATION
    assert warning.severity == pb.SEVERITY_WARNING  # no priority given
    assert "roadworks, right lane closed" in warning.description
    assert warning.remote_id.startswith("rsi:")
    assert warning.radius_m == pytest.approx(20.0)
    assert 150.0 <= warning.distance_m <= 160.0


@pytest.mark.parametrize("severity", [pb.SEVERITY_INFO, pb.SEVERITY_WARNING, pb.SEVERITY_CRITICAL])
def test_severity_is_the_rsi_priority(severity: pb.Severity.ValueType) -> None:
    accident = event("acc-1", 0.0, -100.0, severity=severity, description="accident")
    run = run_scene(V2xScene(ego=EGO, events=[accident]), [Hlw()], duration_s=4.0)
    assert run.count("HLW") == 1
    assert run.started[0][1].severity == severity


def _recoded(code: int) -> Tamper:
    """A tamper that gives every RSI event the GB/T 29100 ``eventType`` ``code``: what an RSU
    with the standard's codes sends (none of ours)."""

    def tamper(tick: int, data: bytes) -> bytes | None:
        kind, value = decode_frame(data)
        if kind != "rsiFrame":
            return data
        for rte in value.get("rtes", ()):
            rte["eventType"] = code
        return encode_frame((kind, value))

    return tamper


def test_an_unknown_event_code_is_still_a_hazard_named_by_its_code() -> None:
    hazard = event("fog-1", 0.0, -100.0, description="")
    run = run_scene(
        V2xScene(ego=EGO, events=[hazard]), [Hlw()], duration_s=4.0, tamper=_recoded(401)
    )
    assert run.count("HLW") == 1
    description = run.started[0][1].description
    assert "RSI event type 401" in description


def test_events_behind_beside_or_across_the_road_are_silent() -> None:
    behind = event("behind", 0.0, -330.0, radius=20.0)
    beside = event("beside", 14.0, 0.0, radius=10.0)  # 14 m off: beyond 10 m + 3.5 m
    other_way = event("other", -7.0, 0.0, radius=0.0)  # the other carriageway, 7 m left
    events = [behind, beside, other_way]
    assert len({zlib.crc32(e.event_id.encode()) & 0xFF for e in events}) == len(events)
    run = run_scene(V2xScene(ego=EGO, events=events), [Hlw()], duration_s=16.0)
    assert run.first("HLW") is None
    # The same distance off the path, inside the margin, is on the path.
    near = event("near", 13.0, 0.0, radius=10.0)
    assert run_scene(V2xScene(ego=EGO, events=[near]), [Hlw()], duration_s=16.0).count("HLW")


def _rsi_ticks(keep: Callable[[int], bool]) -> Tamper:
    """A tamper that lets the RSI through only at the ticks ``keep`` says."""

    def tamper(tick: int, data: bytes) -> bytes | None:
        return data if keep(tick) or decode_frame(data)[0] != "rsiFrame" else None

    return tamper


def moved(message: pb.TrafficEvent, north: float) -> pb.TrafficEvent:
    """``message`` placed at ``north`` on the ego's line."""
    result = pb.TrafficEvent()
    result.CopyFrom(message)
    lat, lon, _ = FRAME.enu_to_geodetic(0.0, north, 0.0)
    result.position.latitude_deg, result.position.longitude_deg = float(lat), float(lon)
    return result


@pytest.mark.parametrize(
    ("speed", "kind", "offset", "radius"),
    [
        # The speeding detector saw the moving ego (0.1 s of latency: 2 m back), 50 m radius.
        (SPEED, pb.EVENT_TYPE_SPEEDING, -2.0, 50.0),
        # The ego stands with its hazard lights on; the radar placed it 1 m ahead.
        (0.0, pb.EVENT_TYPE_HAZARD_LIGHTS, 1.0, 10.0),
    ],
)
def test_an_event_an_rsu_raised_about_the_ego_itself_is_silent(
    speed: float, kind: pb.EventType.ValueType, offset: float, radius: float
) -> None:
    ego = replace(EGO, speed_mps=speed)
    _, ego_north, *_ = ego.at(1.0)
    about_ego = event("about-ego", 0.0, ego_north + offset, radius=radius, kind=kind)
    from_one_s = _rsi_ticks(lambda tick: tick >= 10)  # what the RSU raised at 1 s
    run = run_scene(V2xScene(ego=ego, events=[about_ego]), [Hlw()], 5.0, tamper=from_one_s)
    assert run.first("HLW") is None
    # The same report about a vehicle 40 m ahead is a hazard, once its RSI came twice (2 s)
    # and the engine confirmed it (a cycle).
    ahead = moved(about_ego, ego_north + 40.0 + radius)
    run = run_scene(V2xScene(ego=ego, events=[ahead]), [Hlw()], 5.0, tamper=from_one_s)
    assert run.first("HLW") == pytest.approx(2.1)


def test_an_equipment_fault_is_no_hazard() -> None:
    fault = event("fault-1", 0.0, 0.0, kind=pb.EVENT_TYPE_SENSOR_FAULT, description="radar 2")
    run = run_scene(V2xScene(ego=EGO, events=[fault]), [Hlw()], duration_s=16.0)
    assert run.first("HLW") is None


def test_an_rsu_no_longer_heard_is_forgotten() -> None:
    # Its RSIs stop 2 s in; the ego reaches the lead distance after 10 s.
    roadworks = event("rw-1", 0.0, 100.0)
    until_two_s = _rsi_ticks(lambda tick: tick <= 20)
    run = run_scene(V2xScene(ego=EGO, events=[roadworks]), [Hlw()], 14.0, tamper=until_two_s)
    assert run.first("HLW") is None


def test_one_rsi_frame_is_never_a_warning() -> None:
    roadworks = event("rw-1", 0.0, -100.0)  # within the lead distance from the start
    once = _rsi_ticks(lambda tick: tick == 10)
    run = run_scene(V2xScene(ego=EGO, events=[roadworks]), [Hlw()], 5.0, tamper=once)
    assert run.first("HLW") is None
    twice = _rsi_ticks(lambda tick: tick in (10, 20))
    run = run_scene(V2xScene(ego=EGO, events=[roadworks]), [Hlw()], 5.0, tamper=twice)
    assert run.first("HLW") == pytest.approx(2.1)


def test_settings_are_honoured() -> None:
    roadworks = event("rw-1", 0.0, 100.0)
    app = Hlw(HlwSettings(lead_time_s=4.0))
    run = run_scene(V2xScene(ego=EGO, events=[roadworks]), [app], duration_s=16.0)
    first = run.first("HLW")
    assert first is not None
    assert edge_time(100.0, 20.0, 90.0) <= first <= edge_time(100.0, 20.0, 80.0) + 0.2


def _picture(events: tuple[HeardEvent, ...]) -> Picture:
    world = HeardWorld()
    world.centre_on(ORIGIN.latitude_deg, ORIGIN.longitude_deg, 0.0)
    return replace(world.picture(T0_UNIX), events=events)


EGO_HERE = Ego(
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
        st.tuples(
            st.floats(-400, 400),
            st.floats(-400, 400),
            st.one_of(st.none(), st.floats(0, 500)),
            st.sampled_from(list(pb.EventType.values())),
        ),
        max_size=8,
    ),
    st.floats(0, 2 * math.pi),
)
def test_only_events_ahead_on_the_path_within_the_lead_distance(
    items: list[tuple[float, float, float | None, int]], heading: float
) -> None:
    events = tuple(
        HeardEvent(
            key=f"rsi:00:{k}",
            event_type=pb.EventType.ValueType(kind),
            event_code=kind,
            east=east,
            north=north,
            radius_m=radius,
            description="",
            severity=pb.SEVERITY_UNSPECIFIED,
        )
        for k, (east, north, radius, kind) in enumerate(items)
    )
    ego = replace(EGO_HERE, heading=heading)
    findings = Hlw().evaluate(ego, _picture(events))
    by_key = {e.key: e for e in events}
    for finding in findings:
        found = by_key[finding.key]
        assert found.east is not None
        assert found.north is not None
        along = found.east * math.sin(heading) + found.north * math.cos(heading)
        left = -found.east * math.cos(heading) + found.north * math.sin(heading)
        assert along > ego.length / 2 + 2.0
        assert abs(left) <= (found.radius_m or 0.0) + 3.5 + 1e-9
        assert finding.distance_m <= 160.0 + 1e-9
        assert found.event_type not in NOT_HAZARDS


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_settings_refuse_negative_and_non_finite_values(bad: float) -> None:
    with pytest.raises(ValueError, match="lead_time_s"):
        HlwSettings(lead_time_s=bad)
