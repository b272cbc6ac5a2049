"""Every decoder that takes bytes from outside yields finite values only, and the Envelope
check finds every NaN and infinity a body could carry; the V2X encoders take non-finite
values without raising."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.envelope import non_finite_fields
from protocols.errors import TscbmError, V2xError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import SIZE, decode_tscbm, to_spat
from protocols.v2x import (
    decode_message_frame,
    encode_bsm,
    encode_spat,
    station_id_bytes,
    to_vehicle_state,
)
from protocols.v2x import to_spat as v2x_to_spat

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)


def floats_in(value: Any) -> list[float]:
    """Every float in decoded fields (dicts, lists, tuples, protobuf messages)."""
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for item in value.values() for f in floats_in(item)]
    if isinstance(value, list | tuple):
        return [f for item in value for f in floats_in(item)]
    if isinstance(value, Message):
        return [f for _, item in value.ListFields() for f in floats_in(item)]
    return []


# --- decoders of outside bytes ----------------------------------------------------------------


@settings(max_examples=300)
@given(st.one_of(st.binary(min_size=SIZE, max_size=SIZE), st.binary(max_size=2 * SIZE)))
def test_tscbm_datagrams_give_finite_spat_or_a_typed_error(data: bytes) -> None:
    try:
        message = decode_tscbm(data)
    except TscbmError:
        return
    spat = to_spat(message, intersection_id=1)
    assert non_finite_fields(spat) == []


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_v2x_frames_give_finite_fields_or_a_typed_error(data: bytes) -> None:
    try:
        kind, fields = decode_message_frame(data)
    except V2xError:
        return
    assert all(math.isfinite(f) for f in floats_in(fields))
    if kind == "bsm":
        assert non_finite_fields(to_vehicle_state(fields)) == []
    if kind == "spat":
        assert all(non_finite_fields(spat) == [] for spat in v2x_to_spat(fields))


@given(
    speed=ANY_FLOAT,
    heading=ANY_FLOAT,
    latitude=ANY_FLOAT,
    altitude=ANY_FLOAT,
    accel=ANY_FLOAT,
)
def test_a_bsm_of_any_floats_encodes_and_decodes_to_finite_values(
    speed: float, heading: float, latitude: float, altitude: float, accel: float
) -> None:
    state = pb.VehicleState(
        speed_mps=speed,
        heading_rad=heading,
        longitudinal_accel_mps2=accel,
        yaw_rate_rad_s=accel,
        width_m=speed,
        position=pb.Position(latitude_deg=latitude, altitude_m=altitude),
    )
    data = encode_bsm(state, vehicle_id=station_id_bytes(1), msg_cnt=0, unix_s=1e9)
    kind, fields = decode_message_frame(data)
    assert kind == "bsm"
    assert non_finite_fields(to_vehicle_state(fields)) == []


@given(end=ANY_FLOAT, unix_s=st.floats(0, 4e9))
def test_a_spat_of_any_floats_encodes(end: float, unix_s: float) -> None:
    spat = pb.SignalPhaseTiming(intersection_id=1)
    spat.phases.append(
        pb.PhaseState(signal_group=1, state=pb.SIGNAL_STATE_GREEN, min_end_s=end, max_end_s=end)
    )
    kind, fields = decode_message_frame(encode_spat(spat, msg_cnt=0, unix_s=unix_s))
    assert kind == "spat"
    assert all(math.isfinite(f) for f in floats_in(fields))


# --- the Envelope check -----------------------------------------------------------------------


@given(value=NON_FINITE, index=st.integers(0, 4))
def test_a_non_finite_value_anywhere_in_a_body_is_found(value: float, index: int) -> None:
    objects = pb.ObjectList(sensor_id="r", sensor_heading_rad=0.5)
    for i in range(5):
        objects.objects.append(pb.PerceivedObject(object_id=i, x_m=1.0, speed_mps=2.0))
    objects.objects[index].position.latitude_deg = value
    assert non_finite_fields(objects) == [f"objects[{index}].position.latitude_deg"]
    objects.objects[index].position.latitude_deg = 1.0
    assert non_finite_fields(objects) == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (pb.VehicleState(speed_mps=math.nan), "speed_mps"),
        (pb.VehicleState(position=pb.Position(altitude_m=math.inf)), "position.altitude_m"),
        (pb.DeviceHealth(cpu_load=-math.inf), "cpu_load"),
        (pb.TrafficEvent(time_to_collision_s=math.nan), "time_to_collision_s"),
    ],
)
def test_each_body_kind_is_checked(body: Message, path: str) -> None:
    assert non_finite_fields(body) == [path]


@given(st.lists(st.tuples(st.floats(allow_nan=False, allow_infinity=False), st.booleans())))
def test_finite_values_are_never_flagged(values: list[tuple[float, bool]]) -> None:
    spat = pb.SignalPhaseTiming(intersection_id=3)
    for value, _ in values:
        spat.phases.append(pb.PhaseState(min_end_s=value, max_end_s=-value, likely_end_s=0.0))
    health = pb.DeviceHealth(uptime_s=1.0)
    health.counters["x"] = 2**63
    assert non_finite_fields(spat) == []
    assert non_finite_fields(health) == []
