"""The BSM's events, lights, emergency extension and vehicle class: the standard's bits and
names on the wire, round trips, no change to the BSM without them, what our own vehicle says,
which BSM heard is an emergency vehicle to make way for, and foreign BSMs with a later
edition's flags still decoding."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.v2x import V2xRadio
from hal.net.port import Datagram
from protocols.errors import V2xError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    EVENT_FLAGS,
    RESPONSE_TYPES,
    BsmExtensions,
    csae53,
    decode_message_frame,
    encode_bsm,
    is_emergency_vehicle,
    own_extensions,
    specification,
    station_id_bytes,
)
from protocols.v2x.bsm_extensions import PASSENGER_VEHICLE
from protocols.v2x.frame_json import decode_json, encode_json

T = datetime(2026, 3, 2, 10, 15, 42, 250000, tzinfo=UTC).timestamp()
ID = station_id_bytes(1234)
TURN_SIGNALS = (
    pb.TURN_SIGNAL_UNSPECIFIED,
    pb.TURN_SIGNAL_OFF,
    pb.TURN_SIGNAL_LEFT,
    pb.TURN_SIGNAL_RIGHT,
    pb.TURN_SIGNAL_HAZARD,
)
SENT_AS_LIGHTS = (pb.TURN_SIGNAL_LEFT, pb.TURN_SIGNAL_RIGHT, pb.TURN_SIGNAL_HAZARD)


def state(**overrides: Any) -> pb.VehicleState:
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
        turn_signal=pb.TURN_SIGNAL_HAZARD,
    )
    for key, value in overrides.items():
        setattr(message, key, value)
    return message


def bsm(extensions: BsmExtensions | None, **overrides: Any) -> bytes:
    return encode_bsm(state(**overrides), vehicle_id=ID, msg_cnt=7, unix_s=T, extensions=extensions)


def raw(data: bytes) -> dict[str, Any]:
    """The BSM as asn1tools decodes it: the standard's own names and bits."""
    choice, value = specification().decode("MessageFrame", data)
    assert choice == "bsmFrame"
    return dict(value)


def decoded(data: bytes) -> dict[str, Any]:
    kind, fields = decode_message_frame(data)
    assert kind == "bsm"
    return fields


# Encoded before the extensions existed (same state, id, count and time).
BEFORE = bytes.fromhex(
    "0180e00000000000009a54a159416109158626a1e406cd42993840ecaf0f3c00fb85021683980500"
)


@pytest.mark.parametrize("extensions", [None, BsmExtensions()])
def test_without_anything_to_say_the_bsm_is_byte_identical_to_before(
    extensions: BsmExtensions | None,
) -> None:
    assert bsm(extensions) == BEFORE
    fields = decoded(BEFORE)
    assert fields["events"] == frozenset()
    assert fields["turn_signal"] == pb.TURN_SIGNAL_UNSPECIFIED
    assert (fields["emergency_response"], fields["siren_in_use"], fields["lightbar_in_use"]) == (
        None,
        None,
        None,
    )
    assert fields["vehicle_class"] == PASSENGER_VEHICLE == csae53.PASSENGER_VEHICLE


def test_extensions_are_in_the_standards_bits_and_names() -> None:
    extensions = BsmExtensions(
        events=frozenset({"hazard_lights", "hard_braking", "airbag_deployment"}),
        turn_signal=pb.TURN_SIGNAL_LEFT,
        emergency_response="emergency",
        siren_in_use=True,
        lightbar_in_use=False,
        vehicle_class=65,
    )
    value = raw(bsm(extensions))
    # Bits 0, 7 and 12 of 13 (bit 0 is the first byte's most significant).
    assert value["safetyExt"] == {"events": (b"\x81\x08", 13), "lights": (b"\x20\x00", 9)}
    assert value["emergencyExt"] == {
        "responseType": "emergency",
        "sirenUse": "inUse",
        "lightsUse": "notInUse",
    }
    assert value["vehicleClass"] == {"classification": 65}


@pytest.mark.parametrize(
    ("turn_signal", "bits"),
    [
        (pb.TURN_SIGNAL_LEFT, b"\x20\x00"),
        (pb.TURN_SIGNAL_RIGHT, b"\x10\x00"),
        (pb.TURN_SIGNAL_HAZARD, b"\x08\x00"),
    ],
)
def test_turn_signals_alone_send_lights_without_events(turn_signal: int, bits: bytes) -> None:
    value = raw(bsm(BsmExtensions(turn_signal=turn_signal)))
    assert value["safetyExt"] == {"lights": (bits, 9)}
    assert "emergencyExt" not in value


@given(
    events=st.frozensets(st.sampled_from(EVENT_FLAGS)),
    turn_signal=st.sampled_from(TURN_SIGNALS),
    response=st.sampled_from((None, *RESPONSE_TYPES)),
    siren=st.none() | st.booleans(),
    lightbar=st.none() | st.booleans(),
    vehicle_class=st.integers(0, 255),
)
def test_extensions_round_trip(
    events: frozenset[str],
    turn_signal: int,
    response: str | None,
    siren: bool | None,
    lightbar: bool | None,
    vehicle_class: int,
) -> None:
    sent = BsmExtensions(events, turn_signal, response, siren, lightbar, vehicle_class)
    data = bsm(sent)
    fields = decoded(data)
    assert fields["events"] == events
    expected_turn = turn_signal if turn_signal in SENT_AS_LIGHTS else pb.TURN_SIGNAL_UNSPECIFIED
    assert fields["turn_signal"] == expected_turn
    assert fields["emergency_response"] == response
    assert fields["siren_in_use"] is siren
    assert fields["lightbar_in_use"] is lightbar
    assert fields["vehicle_class"] == vehicle_class
    value = raw(data)
    assert ("safetyExt" in value) == bool(events or turn_signal in SENT_AS_LIGHTS)
    assert ("emergencyExt" in value) == any(x is not None for x in (response, siren, lightbar))
    assert decoded(encode_json(decode_json(data)[1])) == fields  # and the JSON form keeps them


@pytest.mark.parametrize(
    ("overrides", "events", "turn_signal"),
    [
        ({}, {"hazard_lights", "hard_braking"}, pb.TURN_SIGNAL_HAZARD),
        ({"turn_signal": pb.TURN_SIGNAL_LEFT}, {"hard_braking"}, pb.TURN_SIGNAL_LEFT),
        (
            {"turn_signal": pb.TURN_SIGNAL_OFF, "longitudinal_accel_mps2": -4.0},
            {"hard_braking"},
            pb.TURN_SIGNAL_OFF,
        ),
        (
            {"turn_signal": pb.TURN_SIGNAL_RIGHT, "longitudinal_accel_mps2": -3.9},
            set(),
            pb.TURN_SIGNAL_RIGHT,
        ),
        # Decelerating hard without the brake: engine braking, a collision; not "hard braking".
        (
            {"turn_signal": pb.TURN_SIGNAL_UNSPECIFIED, "brake_applied": False},
            set(),
            pb.TURN_SIGNAL_UNSPECIFIED,
        ),
        (
            {"turn_signal": pb.TURN_SIGNAL_OFF, "longitudinal_accel_mps2": math.nan},
            set(),
            pb.TURN_SIGNAL_OFF,
        ),
    ],
)
def test_own_extensions(overrides: dict[str, Any], events: set[str], turn_signal: int) -> None:
    assert own_extensions(state(**overrides)) == BsmExtensions(
        events=frozenset(events), turn_signal=turn_signal
    )


def test_own_hard_braking_threshold_is_configurable() -> None:
    gentle = state(turn_signal=pb.TURN_SIGNAL_OFF, longitudinal_accel_mps2=-3.0)
    assert own_extensions(gentle).events == frozenset()
    assert own_extensions(gentle, hard_braking_mps2=-2.5).events == {"hard_braking"}


@pytest.mark.parametrize(
    ("extensions", "emergency"),
    [
        (BsmExtensions(emergency_response="emergency"), True),
        (BsmExtensions(emergency_response="pursuit"), True),
        (
            BsmExtensions(
                emergency_response="emergency", siren_in_use=False, lightbar_in_use=False
            ),
            True,
        ),
        (BsmExtensions(siren_in_use=True), True),
        (BsmExtensions(lightbar_in_use=True), True),
        (BsmExtensions(emergency_response="nonEmergency", siren_in_use=True), True),
        (BsmExtensions(emergency_response="nonEmergency"), False),
        (BsmExtensions(emergency_response="stationary", lightbar_in_use=False), False),
        (BsmExtensions(emergency_response="notInUseOrNotEquipped", siren_in_use=False), False),
        # An ambulance driving back from a call: its class alone is no reason to make way.
        (BsmExtensions(vehicle_class=65), False),
        (None, False),
    ],
)
def test_is_emergency_vehicle(extensions: BsmExtensions | None, emergency: bool) -> None:
    assert is_emergency_vehicle(decoded(bsm(extensions))) is emergency


def test_is_emergency_vehicle_of_fields_without_the_extension_keys() -> None:
    assert not is_emergency_vehicle({"station_id": 1})


def foreign(value: dict[str, Any]) -> bytes:
    """A BSM another sender made: asn1tools' value encoded with asn1tools alone."""
    return bytes(
        specification().encode("MessageFrame", ("bsmFrame", value), check_constraints=True)
    )


@pytest.mark.parametrize(
    ("lights", "turn_signal"),
    [
        ((b"\x30\x00", 9), pb.TURN_SIGNAL_HAZARD),  # both turn signals flashing
        ((b"\x38\x00", 9), pb.TURN_SIGNAL_HAZARD),
        ((b"\xc0\x80", 9), pb.TURN_SIGNAL_OFF),  # headlights and parking lights only
        ((b"\x00\x00", 9), pb.TURN_SIGNAL_OFF),
    ],
)
def test_foreign_lights(lights: tuple[bytes, int], turn_signal: int) -> None:
    value = raw(BEFORE)
    value["safetyExt"] = {"lights": lights}
    assert decoded(foreign(value))["turn_signal"] == turn_signal


@pytest.mark.parametrize(
    ("siren", "lights", "expected"),
    [
        ("unavailable", "unavailable", (None, None)),
        ("reserved", "yellowCautionLights", (None, False)),
        ("notInUse", "schooldBusLights", (False, False)),
        ("inUse", "arrowSignsActive", (True, False)),
    ],
)
def test_foreign_siren_and_light_bar(
    siren: str, lights: str, expected: tuple[bool | None, bool | None]
) -> None:
    value = raw(BEFORE)
    value["emergencyExt"] = {"sirenUse": siren, "lightsUse": lights}
    fields = decoded(foreign(value))
    assert (fields["siren_in_use"], fields["lightbar_in_use"]) == expected
    assert fields["emergency_response"] is None


def bits_of(data: bytes) -> str:
    return "".join(f"{byte:08b}" for byte in data)


def bytes_of(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def events_at() -> int:
    """The offset of VehicleEventFlags' first bit in our BSM's bits: where a BSM with bit 0
    set and one with bit 1 set differ."""
    first = bits_of(bsm(BsmExtensions(events=frozenset({"hazard_lights"}))))
    second = bits_of(bsm(BsmExtensions(events=frozenset({"stop_line_violation"}))))
    at = next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)
    assert first[at : at + 2] == "10"
    assert second[at : at + 2] == "01"
    return at


def longer_events(events: frozenset[str], extra: str) -> bytes:
    """Our BSM with ``events``, its VehicleEventFlags rewritten by hand as a later edition's
    sender would send 13 + len(extra) bits (X.691 16.6): extension bit 1, the length in an
    octet, the bits."""
    at = events_at()
    ours = bits_of(bsm(BsmExtensions(events=events)))
    assert ours[at - 1] == "0"  # the extension bit: within the root size
    size = 13 + len(extra)
    flags = ours[at : at + 13] + extra
    return bytes_of(ours[: at - 1] + "1" + f"{size:08b}" + flags + ours[at + 13 :])


@pytest.mark.parametrize("extra", ["1", "01", "111"])
def test_a_foreign_bsm_with_a_later_editions_event_bit_still_decodes(extra: str) -> None:
    events = frozenset({"abs_activated", "disabled_vehicle"})
    data = longer_events(events, extra)
    fields = decoded(data)
    assert fields["events"] == events  # the unknown bits left out
    assert fields["turn_signal"] == pb.TURN_SIGNAL_UNSPECIFIED
    assert fields["station_id"] == 1234
    assert fields["vehicle_class"] == PASSENGER_VEHICLE
    flags, size = raw(data)["safetyExt"]["events"]
    assert size == 13 + len(extra)
    assert bits_of(flags)[:size] == "0010000000010" + extra
    # Written back as it came (the hand-made bytes may carry a spare zero byte at the end).
    again = encode_json(decode_json(data)[1])
    assert data[: len(again)] == again
    assert not any(data[len(again) :])


def test_a_truncated_longer_event_bit_string_is_malformed() -> None:
    data = longer_events(frozenset({"flat_tire"}), "1")
    # Cut within the 14 flags that follow the extension bit and the length octet.
    with pytest.raises(V2xError) as caught:
        decoded(data[: (events_at() + 8 + 7) // 8])
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"events": frozenset({"hazard"})}, "unknown vehicle events"),
        ({"turn_signal": 9}, "TurnSignal"),
        ({"emergency_response": "ambulance"}, "response type"),
        ({"vehicle_class": 256}, "0-255"),
        ({"vehicle_class": -1}, "0-255"),
    ],
)
def test_bad_extensions_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BsmExtensions(**kwargs)


class SentDatagrams:
    """A DatagramLink that keeps what is sent."""

    name = "v2x-radio"
    counters: Mapping[str, int] = {}

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def open(self) -> None: ...
    def close(self) -> None: ...
    def receive(self, timeout: float = 0.1, max_datagrams: int = 64) -> list[Datagram]:
        return []

    def __enter__(self) -> SentDatagrams:
        return self

    def __exit__(self, *args: object) -> None: ...


def test_the_radio_sends_what_the_vehicle_says_of_itself() -> None:
    link = SentDatagrams()
    radio = V2xRadio(link, 1234)
    radio.broadcast_state(state(), int(T * 1e9))
    radio.broadcast_state(state(turn_signal=pb.TURN_SIGNAL_OFF, brake_applied=False), int(T * 1e9))
    hazard, quiet = (decoded(d) for d in link.sent)
    assert hazard["events"] == {"hazard_lights", "hard_braking"}
    assert hazard["turn_signal"] == pb.TURN_SIGNAL_HAZARD
    assert quiet["events"] == frozenset()
    assert quiet["turn_signal"] == pb.TURN_SIGNAL_UNSPECIFIED
