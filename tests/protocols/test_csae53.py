"""T/CSAE 53-2017 UPER: our BSM and SPaT in the standard's units (checked on the raw ASN.1
values), round trips within the standard's resolution, and arbitrary bytes never raising
anything but ``V2xError``."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import V2xError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    decode_message_frame,
    encode_bsm,
    encode_spat,
    specification,
    station_id_bytes,
    time_fields,
    to_spat,
    to_vehicle_state,
)

T = datetime(2026, 3, 2, 10, 15, 42, 250000, tzinfo=UTC).timestamp()
ID = station_id_bytes(1234)


def state(**overrides: float) -> pb.VehicleState:
    message = pb.VehicleState(
        position=pb.Position(
            latitude_deg=34.2237,
            longitude_deg=108.8906,
            altitude_m=415.0,
            horizontal_accuracy_m=0.03,
        ),
        speed_mps=13.3,
        heading_rad=math.radians(90.0),
        yaw_rate_rad_s=0.1,
        longitudinal_accel_mps2=-6.0,
        lateral_accel_mps2=0.5,
        steering_wheel_angle_rad=0.2,
        brake_applied=True,
        gear=pb.GEAR_DRIVE,
        length_m=4.6,
        width_m=1.8,
    )
    for key, value in overrides.items():
        setattr(message, key, value)
    return message


def raw(data: bytes) -> tuple[str, dict[str, Any]]:
    """The frame as asn1tools decodes it: the standard's own units."""
    choice, value = specification().decode("MessageFrame", data)
    return choice, value


def test_bsm_is_in_the_standards_units() -> None:
    choice, bsm = raw(encode_bsm(state(), vehicle_id=ID, msg_cnt=7, unix_s=T))
    assert choice == "bsmFrame"
    assert bsm["msgCnt"] == 7
    assert bsm["id"] == b"\x00\x00\x00\x00\x00\x00\x04\xd2"
    assert bsm["secMark"] == 42250  # ms in the minute
    assert bsm["pos"] == {"lat": 342237000, "long": 1088906000, "elevation": 4150}
    assert bsm["speed"] == 665  # 0.02 m/s
    assert bsm["heading"] == 7200  # 0.0125 deg
    assert bsm["transmission"] == "forwardGears"
    assert bsm["brakes"] == {"brakePadel": "on"}
    assert bsm["size"] == {"width": 180, "length": 460}
    assert bsm["posConfidence"] == {"pos": "a5cm"}
    # SAE J670 axes: right is positive for lateral acceleration, yaw rate and steering.
    assert bsm["accelSet"] == {"long": -600, "lat": -50, "vert": -127, "yaw": -573}
    assert bsm["angle"] == -8  # 0.2 rad = 11.46 deg, in 1.5 deg steps, to the left


def test_out_of_range_values_are_clamped_not_refused() -> None:
    data = encode_bsm(
        state(speed_mps=500.0, longitudinal_accel_mps2=-100.0, steering_wheel_angle_rad=10.0),
        vehicle_id=ID,
        msg_cnt=0,
        unix_s=T,
    )
    _, bsm = raw(data)
    assert bsm["speed"] == 8190  # 8191 would say "unavailable"
    assert bsm["accelSet"]["long"] == -2000
    assert bsm["angle"] == -126


def test_bsm_argument_errors() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        encode_bsm(state(), vehicle_id=b"abc", msg_cnt=0, unix_s=T)
    with pytest.raises(ValueError, match="0-127"):
        encode_bsm(state(), vehicle_id=ID, msg_cnt=128, unix_s=T)
    with pytest.raises(ValueError, match="8 bytes"):
        station_id_bytes(1 << 64)


def test_time_fields_count_from_new_year_utc() -> None:
    moy, ms = time_fields(T)
    assert moy == (31 + 28 + 1) * 1440 + 10 * 60 + 15
    assert ms == 42250


@given(
    lat=st.floats(-89.9, 89.9),
    lon=st.floats(-179.9, 179.9),
    alt=st.floats(-400.0, 6000.0),
    speed=st.floats(0.0, 160.0),
    heading=st.floats(0.0, 2 * math.pi, exclude_max=True),
    yaw=st.floats(-5.0, 5.0),
    accel=st.floats(-19.0, 19.0),
    steering=st.floats(-3.2, 3.2),
    brake=st.booleans(),
    gear=st.sampled_from([pb.GEAR_PARK, pb.GEAR_REVERSE, pb.GEAR_NEUTRAL, pb.GEAR_DRIVE]),
    msg_cnt=st.integers(0, 127),
)
def test_bsm_round_trip_within_resolution(
    lat: float,
    lon: float,
    alt: float,
    speed: float,
    heading: float,
    yaw: float,
    accel: float,
    steering: float,
    brake: bool,
    gear: pb.Gear.ValueType,
    msg_cnt: int,
) -> None:
    sent = pb.VehicleState(
        position=pb.Position(latitude_deg=lat, longitude_deg=lon, altitude_m=alt),
        speed_mps=speed,
        heading_rad=heading,
        yaw_rate_rad_s=yaw,
        longitudinal_accel_mps2=accel,
        lateral_accel_mps2=-accel,
        steering_wheel_angle_rad=steering,
        brake_applied=brake,
        gear=gear,
        length_m=4.6,
        width_m=1.8,
    )
    kind, fields = decode_message_frame(encode_bsm(sent, vehicle_id=ID, msg_cnt=msg_cnt, unix_s=T))
    assert kind == "bsm"
    assert fields["msg_cnt"] == msg_cnt
    assert fields["station_id"] == 1234
    got = to_vehicle_state(dict(fields))
    assert got.position.latitude_deg == pytest.approx(lat, abs=0.51e-7)
    assert got.position.longitude_deg == pytest.approx(lon, abs=0.51e-7)
    assert got.position.altitude_m == pytest.approx(alt, abs=0.051)
    assert got.speed_mps == pytest.approx(speed, abs=0.011)
    heading_error = (math.degrees(got.heading_rad - heading) + 180.0) % 360.0 - 180.0
    assert abs(heading_error) <= 0.00626
    assert got.yaw_rate_rad_s == pytest.approx(yaw, abs=math.radians(0.0051))
    assert got.longitudinal_accel_mps2 == pytest.approx(accel, abs=0.0051)
    assert got.lateral_accel_mps2 == pytest.approx(-accel, abs=0.0051)
    if abs(math.degrees(steering)) <= 189:
        assert got.steering_wheel_angle_rad == pytest.approx(steering, abs=math.radians(0.751))
    assert got.brake_applied == brake
    assert got.gear == gear
    assert (got.length_m, got.width_m) == pytest.approx((4.6, 1.8))


def spat(*phases: tuple[int, pb.SignalState.ValueType, float]) -> pb.SignalPhaseTiming:
    return pb.SignalPhaseTiming(
        intersection_id=101,
        phases=[
            pb.PhaseState(
                signal_group=g, state=s, min_end_s=end, max_end_s=end + 5, likely_end_s=end
            )
            for g, s, end in phases
        ],
    )


def test_spat_is_in_the_standards_units() -> None:
    message = spat((1, pb.SIGNAL_STATE_GREEN, 3.04), (2, pb.SIGNAL_STATE_RED, 6.0))
    choice, frame = raw(encode_spat(message, msg_cnt=3, unix_s=T, region=7))
    assert choice == "spatFrame"
    (intersection,) = frame["intersections"]
    assert intersection["intersectionId"] == {"region": 7, "id": 101}
    assert intersection["moy"] == frame["moy"] == time_fields(T)[0]
    first, second = intersection["phases"]
    assert first["id"] == 1
    (green,) = first["phaseStates"]
    assert green["light"] == "protected-green"
    assert green["timing"] == (
        "counting",
        {"startTime": 0, "minEndTime": 30, "maxEndTime": 80, "likelyEndTime": 30},
    )
    assert second["phaseStates"][0]["light"] == "red"


@given(
    st.lists(
        st.tuples(
            st.integers(0, 255),
            st.sampled_from(
                [
                    pb.SIGNAL_STATE_DARK,
                    pb.SIGNAL_STATE_RED,
                    pb.SIGNAL_STATE_GREEN,
                    pb.SIGNAL_STATE_AMBER,
                    pb.SIGNAL_STATE_FLASHING_AMBER,
                    pb.SIGNAL_STATE_FLASHING_RED,
                ]
            ),
            st.floats(0.0, 3590.0),
        ),
        min_size=1,
        max_size=16,
        unique_by=lambda p: p[0],
    ),
    st.integers(0, 65535),
)
def test_spat_round_trip_within_resolution(
    phases: list[tuple[int, pb.SignalState.ValueType, float]], intersection_id: int
) -> None:
    sent = spat(*phases)
    sent.intersection_id = intersection_id
    kind, fields = decode_message_frame(encode_spat(sent, msg_cnt=0, unix_s=T))
    assert kind == "spat"
    (got,) = to_spat(dict(fields))
    assert got.intersection_id == intersection_id
    assert [(p.signal_group, p.state) for p in got.phases] == [(g, s) for g, s, _ in phases]
    for want, have in zip(sent.phases, got.phases, strict=True):
        assert have.likely_end_s == pytest.approx(want.likely_end_s, abs=0.051)
        assert have.max_end_s == pytest.approx(want.max_end_s, abs=0.051)


def test_red_amber_goes_out_as_red_and_times_are_capped_at_an_hour() -> None:
    sent = spat((1, pb.SIGNAL_STATE_RED_AMBER, 7200.0))
    _, fields = decode_message_frame(encode_spat(sent, msg_cnt=0, unix_s=T))
    (phase,) = fields["intersections"][0]["phases"]
    assert phase["state"] == pb.SIGNAL_STATE_RED
    assert phase["likely_end_s"] == 3600.0


@pytest.mark.parametrize(
    "message",
    [
        pb.SignalPhaseTiming(intersection_id=1),
        spat(*[(g, pb.SIGNAL_STATE_RED, 1.0) for g in range(17)]),
        spat((256, pb.SIGNAL_STATE_RED, 1.0)),
        pb.SignalPhaseTiming(
            intersection_id=70000, phases=[pb.PhaseState(signal_group=1, state=pb.SIGNAL_STATE_RED)]
        ),
    ],
)
def test_spat_the_standard_cannot_carry_is_refused(message: pb.SignalPhaseTiming) -> None:
    with pytest.raises(V2xError) as caught:
        encode_spat(message, msg_cnt=0, unix_s=T)
    assert caught.value.reason == "unencodable"


def test_empty_and_truncated_frames_are_typed_errors() -> None:
    with pytest.raises(V2xError) as caught:
        decode_message_frame(b"")
    assert caught.value.reason == "empty"
    data = encode_bsm(state(), vehicle_id=ID, msg_cnt=0, unix_s=T)
    for cut in range(1, len(data)):
        with pytest.raises(V2xError) as caught:
            decode_message_frame(data[:cut])
        assert caught.value.reason == "malformed"


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_the_typed_error(data: bytes) -> None:
    reason = None
    try:
        kind, _ = decode_message_frame(data)
    except V2xError as err:  # a subclass of ProtocolError, with a counter label
        reason = err.reason
    else:
        assert kind in ("bsm", "spat", "map", "rsm", "rsi")
    assert reason in (None, "empty", "malformed")


def test_what_asn1tools_does_not_implement_is_malformed_too() -> None:
    # Found by fuzzing: asn1tools raises NotImplementedError (an extension bitmap over 64).
    data = bytes.fromhex("4ca34ab34663736ee84f3434d91ae84dbfa48fcb07c6f9e49a9bc6a0945933")
    with pytest.raises(V2xError) as caught:
        decode_message_frame(data)
    assert caught.value.reason == "malformed"
