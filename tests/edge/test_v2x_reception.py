"""Robust reception: every rejection reason with a crafted message, a real car's BSM stream passes
whole, one spoofed frame is dropped without locking its sender out, SPAT/RSM freshness, minute
and year rollover, bounded memory, and arbitrary input never raises."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.geodesy import LocalFrame
from edge.v2x.reception import ReceptionFilter, ReceptionSettings
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import decode_message_frame, encode_bsm, station_id_bytes, time_fields

FRAME = LocalFrame.at(34.2237, 108.8906, 400.0)
T0 = 1_772_446_542.0  # 2026-03-02 10:15:42 UTC
STATION = 0x1234


class Sink:
    """The downstream: keeps what passed."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, Mapping[str, Any], float]] = []

    def __call__(self, kind: str, fields: Mapping[str, Any], received_s: float) -> None:
        self.heard.append((kind, fields, received_s))


def bsm(
    capture_s: float,
    east_m: float = 0.0,
    north_m: float = 0.0,
    *,
    speed_mps: float = 15.0,
    heading_rad: float = 0.0,
    msg_cnt: int = 0,
    station: int = STATION,
    gear: pb.Gear.ValueType = pb.GEAR_DRIVE,
) -> dict[str, Any]:
    """The decoded fields of a BSM (through the real encoder and decoder) of a car at
    ``east_m``/``north_m`` of ``FRAME`` at ``capture_s``."""
    lat, lon, _ = FRAME.enu_to_geodetic(east_m, north_m, 0.0)
    state = pb.VehicleState(
        position=pb.Position(latitude_deg=float(lat), longitude_deg=float(lon), altitude_m=400.0),
        speed_mps=speed_mps,
        heading_rad=heading_rad,
        gear=gear,
    )
    data = encode_bsm(
        state, vehicle_id=station_id_bytes(station), msg_cnt=msg_cnt, unix_s=capture_s
    )
    kind, fields = decode_message_frame(data)
    assert kind == "bsm"
    return fields


def drive(
    start_s: float, seconds: float, *, station: int = STATION
) -> list[tuple[dict[str, Any], float]]:
    """A car's BSMs at 10 Hz and their receive times: 15 m/s north, braking hard (8 m/s^2) to
    5 m/s, a 90 degree right turn at 5 m/s, then accelerating east at 3 m/s^2; latencies of
    20-80 ms and GNSS fixes that wander by up to 1 m."""
    out = []
    east = north = 0.0
    speed, heading = 15.0, 0.0
    dt = 0.1
    for i in range(int(seconds / dt)):
        t = i * dt
        if 1.0 <= t < 2.25:
            speed -= 8.0 * dt
        elif 2.25 <= t < 2.25 + math.pi / 2 * 10.0 / 5.0:  # radius 10 m at 5 m/s
            heading = min(math.pi / 2, heading + 5.0 / 10.0 * dt)
        elif t >= 5.5:
            speed = min(25.0, speed + 3.0 * dt)
        east += speed * math.sin(heading) * dt
        north += speed * math.cos(heading) * dt
        wander = math.sin(i * 0.37)  # a slowly varying fix error, |.| <= 1 m
        capture = start_s + t
        fields = bsm(
            capture,
            east + wander,
            north - wander,
            speed_mps=speed,
            heading_rad=heading,
            msg_cnt=i % 128,
            station=station,
        )
        out.append((fields, capture + 0.02 + 0.06 * ((i * 7) % 10) / 10))
    return out


def reception(**overrides: Any) -> tuple[ReceptionFilter, Sink]:
    sink = Sink()
    return ReceptionFilter(sink, ReceptionSettings(**overrides)), sink


def rejects(flt: ReceptionFilter) -> dict[str, int]:
    return {k: v for k, v in flt.counters.items() if k.startswith("rejects.") and v}


def test_a_real_drive_passes_whole_across_the_minute_rollover() -> None:
    flt, sink = reception()
    stream = drive(T0 + 10.0, 12.0)  # 10:15:52 to 10:16:04
    assert {f["sec_mark_ms"] for f, _ in stream} >= {59_900, 0}
    for fields, received in stream:
        flt("bsm", fields, received)
    assert rejects(flt) == {}
    assert flt.counters["passed"] == len(stream) == len(sink.heard)
    assert [f for _, f, _ in sink.heard] == [f for f, _ in stream]


def test_one_spoofed_jump_is_dropped_and_the_next_good_bsm_passes() -> None:
    flt, sink = reception()
    stream = drive(T0, 3.0)
    for i, (fields, received) in enumerate(stream):
        if i == 15:  # a frame claiming the car is two and a half lanes to the side
            north, speed = fields_north(fields), fields["speed_mps"]
            spoof = bsm(received - 0.05, 9.0, north, speed_mps=speed, msg_cnt=100)
            flt("bsm", spoof, received)
        flt("bsm", fields, received)
    assert rejects(flt) == {"rejects.position_jump": 1}
    assert len(sink.heard) == len(stream)


def fields_north(fields: Mapping[str, Any]) -> float:
    _, north, _ = FRAME.geodetic_to_enu(fields["latitude_deg"], fields["longitude_deg"], 400.0)
    return float(north)


def test_a_jump_within_the_speed_limit_but_against_the_stated_motion_is_dropped() -> None:
    flt, _ = reception()
    flt("bsm", bsm(T0, speed_mps=0.0), T0 + 0.05)  # waiting at a light
    flt("bsm", bsm(T0 + 0.1, 0.0, 8.0, speed_mps=0.0, msg_cnt=1), T0 + 0.15)  # 8 m on
    flt("bsm", bsm(T0 + 1.0, 0.0, 5.0, speed_mps=10.0, msg_cnt=2), T0 + 1.05)
    flt("bsm", bsm(T0 + 2.0, 40.0, 15.0, speed_mps=10.0, msg_cnt=3), T0 + 2.05)  # 40 m aside
    flt("bsm", bsm(T0 + 2.1, 0.0, 16.0, speed_mps=10.0, msg_cnt=4), T0 + 2.15)
    assert rejects(flt) == {"rejects.position_jump": 2}
    assert flt.counters["passed"] == 3


def test_without_a_speed_a_jump_is_bounded_by_the_top_speed() -> None:
    flt, _ = reception()
    flt("bsm", {**bsm(T0), "speed_mps": None}, T0 + 0.05)
    flt("bsm", {**bsm(T0 + 0.1, 0.0, 11.0, msg_cnt=1), "speed_mps": None}, T0 + 0.15)
    flt("bsm", {**bsm(T0 + 0.2, 0.0, 24.0, msg_cnt=2), "speed_mps": None}, T0 + 0.25)
    assert rejects(flt) == {"rejects.position_jump": 1}  # 13 m in 0.1 s: over 70 m/s + 5 m


def test_a_reversing_car_moves_against_its_heading() -> None:
    flt, _ = reception()
    reverse = pb.GEAR_REVERSE
    flt("bsm", bsm(T0, speed_mps=8.0, gear=reverse), T0 + 0.05)
    flt("bsm", bsm(T0 + 1.0, 0.0, -8.0, speed_mps=8.0, gear=reverse, msg_cnt=1), T0 + 1.05)
    assert rejects(flt) == {}


def test_a_spoofed_speed_is_dropped() -> None:
    flt, _ = reception()
    flt("bsm", bsm(T0, 0.0, 0.0, speed_mps=15.0), T0 + 0.05)
    flt("bsm", bsm(T0 + 0.1, 0.0, 1.5, speed_mps=40.0, msg_cnt=1), T0 + 0.15)
    flt("bsm", bsm(T0 + 0.2, 0.0, 3.0, speed_mps=15.0, msg_cnt=2), T0 + 0.25)
    assert rejects(flt) == {"rejects.speed_jump": 1}
    assert flt.counters["passed"] == 2


def test_a_sender_whose_first_bsm_was_bad_is_followed_after_three_consistent_ones() -> None:
    flt, _ = reception()
    flt("bsm", bsm(T0 - 0.1, 500.0, 0.0), T0 - 0.05)  # the bad one, first heard
    stream = drive(T0, 1.0)
    for fields, received in stream:
        flt("bsm", fields, received)
    assert rejects(flt) == {"rejects.position_jump": 2}
    assert flt.counters["passed"] == 1 + len(stream) - 2


@pytest.mark.parametrize(
    ("change", "received_delta_s", "reason"),
    [
        ({"station_id": "0x1234"}, 0.05, "malformed"),
        ({"speed_mps": math.nan}, 0.05, "malformed"),
        ({"latitude_deg": math.inf}, 0.05, "malformed"),
        ({"heading_rad": True}, 0.05, "malformed"),
        ({"msg_cnt": 128}, 0.05, "out_of_range"),
        ({"latitude_deg": 91.0}, 0.05, "out_of_range"),
        ({"heading_rad": 7.0}, 0.05, "out_of_range"),
        ({"speed_mps": 75.0}, 0.05, "out_of_range"),
        ({"sec_mark_ms": 60_000}, 0.05, "no_time"),
        ({}, 1.5, "stale"),
        ({}, -0.5, "future"),
    ],
)
def test_each_bad_bsm_is_refused_with_its_reason(
    change: dict[str, Any], received_delta_s: float, reason: str
) -> None:
    flt, sink = reception()
    fields = {**bsm(T0 + 0.5), **change}
    flt("bsm", fields, T0 + 0.5 + received_delta_s)
    assert rejects(flt) == {f"rejects.{reason}": 1}
    assert sink.heard == []
    flt("bsm", bsm(T0 + 0.5), T0 + 0.55)  # the good one still passes
    assert flt.counters["passed"] == 1


def test_a_bsm_without_a_fix_passes_without_moving_its_sender() -> None:
    flt, _ = reception()
    flt("bsm", bsm(T0), T0 + 0.05)
    flt("bsm", {**bsm(T0 + 0.1, msg_cnt=1), "latitude_deg": None, "speed_mps": None}, T0 + 0.15)
    flt("bsm", bsm(T0 + 0.2, 0.0, 3.0, msg_cnt=2), T0 + 0.25)
    assert rejects(flt) == {}
    assert flt.counters["passed"] == 3


def test_duplicates_and_frames_older_than_the_last_are_refused() -> None:
    flt, _ = reception()
    first, second = bsm(T0), bsm(T0 + 0.1, 0.0, 1.5, msg_cnt=1)
    flt("bsm", first, T0 + 0.05)
    flt("bsm", first, T0 + 0.07)  # heard again (another relay)
    flt("bsm", second, T0 + 0.15)
    flt("bsm", first, T0 + 0.16)  # the older one, late
    flt("bsm", {**second, "msg_cnt": 5}, T0 + 0.17)  # another frame for the same instant
    reordered = bsm(T0 + 0.05, 0.0, 0.7, msg_cnt=9)
    flt("bsm", reordered, T0 + 0.18)
    assert rejects(flt) == {"rejects.duplicate": 3, "rejects.out_of_order": 1}
    assert flt.counters["passed"] == 2


def test_sec_mark_rolls_over_the_minute_both_ways() -> None:
    minute = 1_772_446_560.0  # 10:16:00 UTC
    late = {**bsm(minute), "sec_mark_ms": 59_950}  # 10:15:59.950
    early = {**bsm(minute), "sec_mark_ms": 30, "station_id": 7}  # 10:16:00.030
    stale = {**bsm(minute), "sec_mark_ms": 59_000, "station_id": 8}  # 10:15:59.000
    flt, _ = reception()
    flt("bsm", late, minute + 0.02)  # 70 ms old
    flt("bsm", early, minute - 0.01)  # 40 ms ahead: a sender's clock a little fast
    flt("bsm", stale, minute + 0.5)  # 1.5 s old
    assert rejects(flt) == {"rejects.stale": 1}
    assert flt.counters["passed"] == 2


def spat(capture_s: float, msg_cnt: int = 0, *, moy: bool = True) -> dict[str, Any]:
    minute, ms = time_fields(capture_s)
    return {
        "msg_cnt": msg_cnt,
        "moy": minute if moy else None,
        "timestamp_ms": ms,
        "intersections": [{"intersection_id": 101, "region": None, "phases": []}],
    }


def test_spat_freshness_and_duplicates_by_its_time_stamp() -> None:
    flt, _ = reception()
    flt("spat", spat(T0), T0 + 0.05)
    flt("spat", spat(T0), T0 + 0.06)  # duplicate
    flt("spat", spat(T0 + 0.1, 1), T0 + 1.6)  # stale
    flt("spat", spat(T0 + 1.0, 2), T0 + 0.5)  # future
    flt("spat", spat(T0 + 0.2, 3, moy=False), T0 + 0.25)  # no minute: the nearest one
    flt("spat", {**spat(T0), "moy": None, "timestamp_ms": None}, T0 + 0.3)  # no time: passes
    assert rejects(flt) == {"rejects.duplicate": 1, "rejects.stale": 1, "rejects.future": 1}
    assert flt.counters["passed"] == 3


def test_spat_stamped_in_december_heard_in_january_is_fresh() -> None:
    new_year = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    flt, _ = reception()
    flt("spat", spat(new_year - 0.05), new_year + 0.02)
    assert flt.counters["passed"] == 1
    assert spat(new_year - 0.05)["moy"] == 365 * 24 * 60 - 1


def rsm(sec_marks: list[int], msg_cnt: int = 0) -> dict[str, Any]:
    return {
        "msgCnt": msg_cnt,
        "id": b"RSU00001",
        "refPos": {"lat": 0, "long": 0},
        "participants": [{"ptcId": i + 1, "secMark": m} for i, m in enumerate(sec_marks)],
    }


def test_rsm_is_as_fresh_as_its_newest_participant() -> None:
    now_ms = time_fields(T0)[1]
    flt, _ = reception()
    flt("rsm", rsm([now_ms - 3000, now_ms - 100]), T0)  # one coasting object, one fresh
    flt("rsm", rsm([now_ms - 3000, now_ms - 100]), T0 + 0.01)  # duplicate
    flt("rsm", rsm([now_ms - 3000, now_ms - 2000], 1), T0 + 0.1)  # stale
    assert rejects(flt) == {"rejects.duplicate": 1, "rejects.stale": 1}
    assert flt.counters["passed"] == 1


def test_map_and_rsi_pass_unchecked_and_unknown_kinds_too() -> None:
    flt, sink = reception()
    flt("map", {"msgCnt": 1, "timeStamp": 5, "nodes": []}, T0)
    flt("rsi", {"msgCnt": 1, "moy": 5, "id": b"RSU00001"}, T0)
    assert flt.counters["passed"] == 2
    assert [k for k, _, _ in sink.heard] == ["map", "rsi"]


def test_the_sender_table_is_capped_forgetting_the_least_recently_heard() -> None:
    flt, _ = reception(max_senders=10)
    kept = bsm(T0, station=999)
    flt("bsm", kept, T0 + 0.01)
    for station in range(100):
        flt("bsm", bsm(T0, station=station), T0 + 0.02)
        flt("bsm", kept, T0 + 0.03)  # heard again: stays the most recent
    assert flt.sender_count == 10
    assert flt.counters["rejects.duplicate"] == 100  # still remembered every time
    flt("bsm", bsm(T0, station=0), T0 + 0.04)  # forgotten: its duplicate is not recognised
    assert flt.counters["passed"] == 102


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_age_s"):
        ReceptionSettings(max_age_s=-1.0)
    with pytest.raises(ValueError, match="max_speed_mps"):
        ReceptionSettings(max_speed_mps=math.nan)
    with pytest.raises(ValueError, match="max_senders"):
        ReceptionSettings(max_senders=0)


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.binary(max_size=10),
    st.lists(
        st.dictionaries(
            st.sampled_from(["secMark", "intersection_id", "region"]), st.integers(-5, 70_000)
        ),
        max_size=3,
    ),
)
KEYS = st.sampled_from(
    [
        "station_id",
        "msg_cnt",
        "msgCnt",
        "sec_mark_ms",
        "latitude_deg",
        "longitude_deg",
        "altitude_m",
        "speed_mps",
        "heading_rad",
        "gear",
        "moy",
        "timestamp_ms",
        "intersections",
        "participants",
        "id",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(
        st.tuples(
            st.sampled_from(["bsm", "spat", "rsm", "map", "rsi", "other"]),
            st.one_of(
                st.dictionaries(KEYS, VALUES),
                st.builds(lambda d: {**bsm(T0), **d}, st.dictionaries(KEYS, VALUES, max_size=2)),
            ),
            st.one_of(st.floats(), st.just(T0 + 0.05)),
        ),
        max_size=6,
    )
)
def test_arbitrary_fields_never_raise_and_every_message_is_counted(
    messages: list[tuple[str, dict[str, Any], float]],
) -> None:
    flt, sink = reception(max_senders=3)
    for kind, fields, received in messages:
        flt(kind, fields, received)
    counters = flt.counters
    assert sum(counters.values()) == len(messages)
    assert counters["passed"] == len(sink.heard)
    assert flt.sender_count <= 3


def test_input_that_is_not_a_mapping_is_malformed() -> None:
    flt, _ = reception()
    flt("bsm", None, T0)  # type: ignore[arg-type]
    flt("bsm", bsm(T0), math.nan)
    assert rejects(flt) == {"rejects.malformed": 2}
