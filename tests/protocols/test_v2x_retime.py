"""``retime_v2x``: every absolute time of a T/CSAE 53 ``MessageFrame`` moves by the shift (across
the minute, the hour and the year), everything else decodes as it was, and bytes that are not a
frame it can re-encode exactly are refused, never changed."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import V2xDecodeError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    GeoPoint,
    IntersectionMap,
    MapLane,
    MapLink,
    SignKind,
    StaticSign,
    decode_frame,
    encode_bsm,
    encode_frame,
    encode_map,
    encode_rsi,
    encode_rsm,
    encode_spat,
)
from protocols.v2x.retime import retime_v2x

NEW_YEAR_EVE = datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
T = NEW_YEAR_EVE.timestamp()
RSU = bytes.fromhex("0102030405060708")
REFERENCE = GeoPoint(31.2, 121.5, 4.0)


def minute_and_ms(at: datetime) -> tuple[int, int]:
    into = at - datetime(at.year, 1, 1, tzinfo=UTC)
    ms = into // timedelta(milliseconds=1)
    return ms // 60_000, ms % 60_000


def moved(moy: int, ms: int, shift_s: float, year: int) -> tuple[int, int]:
    """What a sender ``shift_s`` later would have stamped (datetime arithmetic)."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    return minute_and_ms(start + timedelta(minutes=moy, milliseconds=ms, seconds=shift_s))


def raw(data: bytes) -> tuple[str, dict[str, Any]]:
    return decode_frame(data)


def bsm(unix_s: float, msg_cnt: int = 5) -> bytes:
    state = pb.VehicleState(speed_mps=12.5, heading_rad=1.0)
    state.position.latitude_deg, state.position.longitude_deg = 31.2, 121.5
    return encode_bsm(state, vehicle_id=b"ABCDEFGH", msg_cnt=msg_cnt, unix_s=unix_s)


def bsm_with_path_history(unix_s: float, utc_time: dict[str, int]) -> bytes:
    choice, value = raw(bsm(unix_s))
    value["safetyExt"] = {
        "pathHistory": {
            "initialPosition": {
                "utcTime": utc_time,
                "pos": {"lat": 312_000_000, "long": 1_215_000_000},
            },
            "crumbData": [
                {
                    "llvOffset": {"offsetLL": ("position-LL1", {"lon": 5, "lat": -7})},
                    "timeOffset": 150,
                }
            ],
        }
    }
    return encode_frame((choice, value))


def spat(unix_s: float) -> bytes:
    """A SPAT with a counting phase (relative times) and a phase in UTC ``TimeMark``s."""
    phases = [
        pb.PhaseState(signal_group=1, state=pb.SIGNAL_STATE_RED, min_end_s=4, likely_end_s=6),
        pb.PhaseState(signal_group=2, state=pb.SIGNAL_STATE_GREEN, likely_end_s=9),
    ]
    data = encode_spat(
        pb.SignalPhaseTiming(intersection_id=77, phases=phases), msg_cnt=9, unix_s=unix_s
    )
    choice, value = raw(data)
    state = value["intersections"][0]["phases"][1]["phaseStates"][0]
    state["timing"] = (
        "utcTiming",
        {
            "startUTCTime": 35_990,
            "minEndUTCTime": 10,
            "likelyEndUTCTime": 36_001,  # unknown: stays
            "nextStartUTCTime": 1_234,
            "nextEndUTCTime": 36_000,  # "more than an hour": stays
            "timeConfidence": 150,
        },
    )
    return encode_frame((choice, value))


def a_map(unix_s: float) -> bytes:
    lane = MapLane(lane_id=1, points=((-30.0, 1.75), (-5.0, 1.75)))
    node = IntersectionMap(node_id=1, reference=REFERENCE, links=(MapLink(2, (lane,)),))
    return encode_map([node], msg_cnt=3, unix_s=unix_s)


def rsm(unix_s: float) -> bytes:
    objects = pb.ObjectList(sensor_id="fused", kind=pb.OBJECT_LIST_KIND_FUSED)
    for i in range(3):
        objects.objects.add(object_id=i + 1, object_class=pb.OBJECT_CLASS_CAR, x_m=i, speed_mps=3)
    return encode_rsm(objects, reference=REFERENCE, rsu_id=RSU, msg_cnt=1, unix_s=unix_s).frames[0]


def rsi(unix_s: float) -> bytes:
    event = pb.TrafficEvent(event_id="e", type=pb.EVENT_TYPE_HAZARD_LIGHTS, radius_m=20)
    event.position.latitude_deg, event.position.longitude_deg = 31.2001, 121.5001
    sign = StaticSign(SignKind.SPEED_LIMIT, REFERENCE, speed_limit_kph=40)
    data = encode_rsi([event], [sign], reference=REFERENCE, rsu_id=RSU, msg_cnt=1, unix_s=unix_s)
    choice, value = raw(data)
    value["rtes"][0]["timeDetails"] = {"startTime": 525_590, "endTime": 10}
    value["rtss"][0]["timeDetails"] = {"endTime": 527_040, "endTimeConfidence": "time-000-100"}
    return encode_frame((choice, value))


def test_a_bsm_moves_its_secmark_modulo_the_minute_and_its_path_history_utc_time() -> None:
    utc = {"year": 2026, "month": 12, "day": 31, "hour": 23, "minute": 59, "second": 59_000}
    data = bsm_with_path_history(T, utc)
    _, before = raw(data)
    _, after = raw(retime_v2x(data, 0.75, T))
    expected = copy.deepcopy(before)
    expected["secMark"] = 250  # 59.500 + 0.750 s: the next minute's 0.250 s
    expected["safetyExt"]["pathHistory"]["initialPosition"]["utcTime"] = dict(utc, second=59_750)
    assert after == expected
    _, later = raw(retime_v2x(data, 1.25, T))
    assert later["safetyExt"]["pathHistory"]["initialPosition"]["utcTime"] == {
        "year": 2027,
        "month": 1,
        "day": 1,
        "hour": 0,
        "minute": 0,
        "second": 250,
    }
    assert later["safetyExt"]["pathHistory"]["crumbData"][0]["timeOffset"] == 150  # relative


def test_a_partial_utc_time_moves_modulo_its_largest_unit() -> None:
    data = bsm_with_path_history(T, {"minute": 59, "second": 30_000, "offset": 480})
    _, after = raw(retime_v2x(data, 45.0, T))
    assert after["safetyExt"]["pathHistory"]["initialPosition"]["utcTime"] == {
        "minute": 0,
        "second": 15_000,
        "offset": 480,
    }
    unusable = {"year": 2026, "month": 2, "day": 30, "hour": 1, "minute": 2, "second": 3}
    _, kept = raw(retime_v2x(bsm_with_path_history(T, unusable), 45.0, T))
    assert kept["safetyExt"]["pathHistory"]["initialPosition"]["utcTime"] == unusable


def test_a_spat_moves_its_minutes_and_milliseconds_across_the_year_and_its_utc_marks() -> None:
    data = spat(T)
    _, before = raw(data)
    _, after = raw(retime_v2x(data, 0.75, T))
    assert (before["moy"], before["timeStamp"]) == (525_599, 59_500)
    expected = copy.deepcopy(before)
    for stamped in (expected, expected["intersections"][0]):
        stamped["moy"], stamped["timeStamp"] = 0, 250  # 1 January 2027, 00:00:00.250
    marks = expected["intersections"][0]["phases"][1]["phaseStates"][0]["timing"][1]
    # +7.5 tenths, rounded half up; modulo the hour
    marks.update(startUTCTime=35_998, minEndUTCTime=18, nextStartUTCTime=1_242)
    assert after == expected
    # Counting down: times from now, not moved.
    counting = after["intersections"][0]["phases"][0]["phaseStates"][0]["timing"]
    assert counting == before["intersections"][0]["phases"][0]["phaseStates"][0]["timing"]
    # Back across the year: 2027's first minute heard in 2027 goes to 2026's last.
    back = retime_v2x(retime_v2x(data, 0.7, T), -0.7, T + 0.7)
    assert back == data


def test_a_spat_minute_without_its_milliseconds_moves_by_whole_minutes() -> None:
    choice, value = raw(spat(T))
    value["timeStamp"] = 65_535  # unavailable
    del value["intersections"][0]["moy"]  # a timeStamp alone: modulo the minute
    data = encode_frame((choice, value))
    _, after = raw(retime_v2x(data, 100.0, T))
    assert (after["moy"], after["timeStamp"]) == (1, 65_535)  # 525599 + 2 min (1 min 40 s)
    assert after["intersections"][0]["timeStamp"] == (59_500 + 100_000) % 60_000
    value["moy"], value["timeStamp"] = 527_040, 59_500  # the invalid minute: ms alone move
    _, after = raw(retime_v2x(encode_frame((choice, value)), 100.0, T))
    assert (after["moy"], after["timeStamp"]) == (527_040, 39_500)


def test_a_map_moves_its_minute_of_the_year_across_the_year_boundary() -> None:
    data = a_map(T)
    _, before = raw(data)
    assert before["timeStamp"] == 525_599
    for shift_s, minute in ((120.0, 1), (29.0, 525_599), (31.0, 0), (-86_400.0, 525_599 - 1440)):
        _, after = raw(retime_v2x(data, shift_s, T))
        expected = copy.deepcopy(before)
        expected["timeStamp"] = minute
        assert after == expected, shift_s
    # Heard in a leap year, minute 527039 exists: 29 Feb 2028 pushes 31 December's on.
    leap = datetime(2028, 12, 31, 23, 59, 10, tzinfo=UTC).timestamp()
    _, after = raw(retime_v2x(a_map(leap), 60.0, leap))
    assert after["timeStamp"] == 0


def test_an_rsm_moves_each_participants_secmark() -> None:
    data = rsm(T)
    _, before = raw(data)
    _, after = raw(retime_v2x(data, 3.5, T))
    expected = copy.deepcopy(before)
    for participant in expected["participants"]:
        assert participant["secMark"] == 59_500
        participant["secMark"] = 3_000
    assert after == expected


def test_an_rsi_moves_its_minute_and_its_events_and_signs_times() -> None:
    data = rsi(T)
    _, before = raw(data)
    _, after = raw(retime_v2x(data, 3600.0, T))
    expected = copy.deepcopy(before)
    expected["moy"] = 59  # 525599 + 60 minutes, into 2027
    # 525590 + 60 minutes is 2027's minute 50.
    expected["rtes"][0]["timeDetails"] = {"startTime": 50, "endTime": 10 + 60}
    # 527040 is "invalid": stays.
    assert after == expected


@pytest.mark.parametrize(
    ("garbage", "detail"),
    [
        (b"", "empty"),
        (b"\xff" * 3, "invalid"),
        (b"BSM\x01", "truncated"),
        (bsm(T)[:-3], "truncated"),
        (bsm(T) + b"\x00\x00\x00\x00", "inexact"),  # would not come back as it was sent
    ],
)
def test_what_is_not_an_exact_frame_is_refused(garbage: bytes, detail: str) -> None:
    with pytest.raises(V2xDecodeError) as refused:
        retime_v2x(garbage, 5.0, T)
    assert refused.value.detail == detail


instants = st.floats(min_value=1.5e9, max_value=2.5e9).map(lambda t: round(t, 3))
centiseconds = st.integers(min_value=-400 * 86_400 * 100, max_value=400 * 86_400 * 100)
shifts = (centiseconds | centiseconds.map(lambda c: c // 10 * 10)).map(lambda c: c / 100)


@given(instants, shifts)
def test_any_shift_moves_every_absolute_time_as_datetime_arithmetic_says(
    unix_s: float, shift_s: float
) -> None:
    at = datetime.fromtimestamp(unix_s, UTC)
    later = at + timedelta(seconds=shift_s)
    # BSM and RSM: ms into the minute.
    _, moved_bsm = raw(retime_v2x(bsm(unix_s), shift_s, unix_s))
    _, moved_rsm = raw(retime_v2x(rsm(unix_s), shift_s, unix_s))
    assert moved_bsm["secMark"] == minute_and_ms(later)[1]
    assert moved_rsm["participants"][0]["secMark"] == minute_and_ms(later)[1]
    # SPAT: minute of the year and ms, of the message and its intersection.
    data = spat(unix_s)
    _, before = raw(data)
    _, after = raw(retime_v2x(data, shift_s, unix_s))
    assert (after["moy"], after["timeStamp"]) == minute_and_ms(later)
    assert (before["moy"], before["timeStamp"]) == minute_and_ms(at)
    assert (after["moy"], after["timeStamp"]) == moved(
        before["moy"], before["timeStamp"], shift_s, at.year
    )
    intersection = after["intersections"][0]
    assert (intersection["moy"], intersection["timeStamp"]) == minute_and_ms(later)
    # UTC marks: tenths in the hour, moved to the nearest tenth (half up).
    marks = intersection["phases"][1]["phaseStates"][0]["timing"][1]
    tenths = (round(shift_s * 1000) + 50) // 100
    assert marks["startUTCTime"] == (35_990 + tenths) % 36_000
    assert marks["likelyEndUTCTime"] == 36_001
    # And back, for a shift the tenths of the marks hold: the same bytes.
    if tenths * 100 == round(shift_s * 1000):
        back = retime_v2x(retime_v2x(data, shift_s, unix_s), -shift_s, unix_s + shift_s)
        assert back == data
