"""T/CSAE 53 frames as JSON and back: bytes -> JSON -> bytes is the identity for frames built
from random values of ours and for the MAP/RSM/RSI samples; JSON that is not a frame is
refused with a reason; arbitrary bytes never raise anything but ``V2xError``."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_py.benchmarks.v2x_samples import JSON_SAMPLES, UNIX_S
from protocols.errors import V2xError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import encode_bsm, encode_spat, specification, station_id_bytes
from protocols.v2x.frame_json import decode_json, encode_json, from_json, to_json

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def vehicle_states(draw: st.DrawFn) -> pb.VehicleState:
    return pb.VehicleState(
        position=pb.Position(
            latitude_deg=draw(floats),
            longitude_deg=draw(floats),
            altitude_m=draw(floats),
            horizontal_accuracy_m=draw(floats),
        ),
        speed_mps=draw(floats),
        heading_rad=draw(st.floats(-10.0, 10.0)),
        yaw_rate_rad_s=draw(floats),
        longitudinal_accel_mps2=draw(floats),
        lateral_accel_mps2=draw(floats),
        steering_wheel_angle_rad=draw(floats),
        brake_applied=draw(st.booleans()),
        gear=draw(st.sampled_from(list(pb.Gear.values()))),
        length_m=draw(floats),
        width_m=draw(floats),
    )


phases = st.builds(
    pb.PhaseState,
    signal_group=st.integers(0, 255),
    state=st.sampled_from(list(pb.SignalState.values())),
    min_end_s=floats,
    max_end_s=floats,
    likely_end_s=floats,
)
spats = st.builds(
    pb.SignalPhaseTiming,
    intersection_id=st.integers(0, 65535),
    phases=st.lists(phases, min_size=1, max_size=16),
)


def assert_lossless(data: bytes, kind: str) -> dict[str, Any]:
    got_kind, value = decode_json(data)
    assert got_kind == kind
    text = json.dumps(value, allow_nan=False)  # plain JSON: no bytes, tuples or NaN left
    assert encode_json(json.loads(text)) == data
    assert from_json(value) == specification().decode("MessageFrame", data)
    return value


@settings(max_examples=60, deadline=None)
@given(
    vehicle_states(),
    st.integers(0, (1 << 64) - 1),
    st.integers(0, 127),
    st.floats(0, 4e9),
)
def test_any_bsm_survives_json(state: pb.VehicleState, station: int, cnt: int, t: float) -> None:
    data = encode_bsm(state, vehicle_id=station_id_bytes(station), msg_cnt=cnt, unix_s=t)
    value = assert_lossless(data, "bsm")
    assert value["bsmFrame"]["id"] == f"{station:016X}"
    assert value["bsmFrame"]["msgCnt"] == cnt


@settings(max_examples=40, deadline=None)
@given(spats, st.integers(0, 127), st.one_of(st.none(), st.integers(0, 65535)))
def test_any_spat_survives_json(spat: pb.SignalPhaseTiming, cnt: int, region: int | None) -> None:
    data = encode_spat(spat, msg_cnt=cnt, unix_s=UNIX_S, region=region)
    value = assert_lossless(data, "spat")
    (intersection,) = value["spatFrame"]["intersections"]
    assert intersection["intersectionId"]["id"] == spat.intersection_id
    assert intersection["status"] == "0000"  # fixed-size BIT STRING: bare hex
    timing = intersection["phases"][0]["phaseStates"][0]["timing"]
    assert set(timing) == {"counting"}  # a CHOICE: one member


@pytest.mark.parametrize("kind", sorted(JSON_SAMPLES))
def test_map_rsm_rsi_samples_survive_json(kind: str) -> None:
    sample = JSON_SAMPLES[kind]
    data = encode_json(sample)
    assert assert_lossless(data, kind) == sample


def test_octet_strings_are_hex_and_choices_tuples() -> None:
    choice, value = from_json(JSON_SAMPLES["rsm"])
    assert choice == "rsmFrame"
    assert value["id"] == bytes.fromhex("5253550000000001")
    offset = value["participants"][0]["pos"]["offsetLL"]
    assert offset == ("position-LL1", {"lon": 120, "lat": -340})
    assert to_json((choice, value)) == JSON_SAMPLES["rsm"]


def _rsm(**participant: object) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads(json.dumps(JSON_SAMPLES["rsm"]))
    sample["rsmFrame"]["participants"][0].update(participant)
    return sample


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "bad_json"),
        ({}, "bad_json"),
        ({"bsmFrame": {}, "mapFrame": {}}, "bad_json"),
        ({"camFrame": {}}, "bad_json"),  # not an alternative of the 2017 MessageFrame
        (_rsm(ptcType="bicycle"), "bad_json"),  # no such enumeration value
        (_rsm(pos={"offsetLL": {"position-LL1": {"lon": "east", "lat": 1}}}), "unencodable"),
        (_rsm(speed=8192), "unencodable"),  # Speed is 0..8191
        (_rsm(id="zz"), "bad_json"),  # not hex
        ({"rsiFrame": {"msgCnt": 3}}, "bad_json"),  # mandatory members missing
    ],
)
def test_json_that_is_not_a_frame_is_refused_with_a_reason(value: object, reason: str) -> None:
    with pytest.raises(V2xError) as caught:
        encode_json(value)
    assert caught.value.reason == reason


def test_bytes_that_are_not_a_frame_are_refused() -> None:
    with pytest.raises(V2xError) as empty:
        decode_json(b"")
    assert empty.value.reason == "empty"
    with pytest.raises(V2xError) as short:
        decode_json(b"\x00\xff")
    assert short.value.reason == "malformed"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_to_json_that_encodes_back_or_raise_v2x_error(
    data: bytes,
) -> None:
    try:
        kind, value = decode_json(data)
    except V2xError as err:
        reason = err.reason
        assert reason in {"empty", "malformed", "unconvertible"}
        return
    # Padding bits need not survive, but the frame does: decoding the re-encoding gives it.
    assert decode_json(encode_json(value)) == (kind, value)
    assert not any(
        isinstance(v, float) and not math.isfinite(v) for v in _leaves(value)
    )  # JSON-ready


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_a_misspelled_optional_member_is_refused_not_dropped() -> None:
    sample = json.loads(json.dumps(JSON_SAMPLES["rsm"]))
    sample["rsmFrame"]["participants"][1]["vehicleClas"] = {"classification": 10}
    with pytest.raises(V2xError, match=r"participants\[1\]\.vehicleClas") as caught:
        encode_json(sample)
    assert caught.value.reason == "bad_json"
