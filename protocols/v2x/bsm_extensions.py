"""What a T/CSAE 53-2017 BSM says beyond motion: its ``safetyExt`` (``VehicleEventFlags``
and the turn signals and hazard lights of ``ExteriorLights``), its ``emergencyExt`` (response
type, siren, light bar) and its vehicle class; what our own vehicle says of these; and whether
a BSM heard comes from an emergency vehicle on a call.

``to_bsm_members`` and ``from_bsm_members`` convert between ``BsmExtensions`` and the ASN.1
members (``csae53.encode_bsm`` and its decoder use them). The standard's ``VehicleEventFlags``
and ``ExteriorLights`` are extensible BIT STRINGs that a later sender may make longer;
asn1tools does not implement that, ``accept_bit_string_extensions`` completes it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asn1tools
from asn1tools.codecs import uper

from protocols.schema.v1 import roadgate_pb2 as pb

EVENT_FLAGS: tuple[str, ...] = (
    "hazard_lights",
    "stop_line_violation",
    "abs_activated",
    "traction_control_loss",
    "stability_control_activated",
    "hazardous_materials",
    "reserved1",
    "hard_braking",
    "lights_changed",
    "wipers_changed",
    "flat_tire",
    "disabled_vehicle",
    "airbag_deployment",
)
"""``VehicleEventFlags`` bits 0-12, in order (asn/VehStatus.asn)."""
RESPONSE_TYPES: tuple[str, ...] = (
    "notInUseOrNotEquipped",
    "emergency",
    "nonEmergency",
    "pursuit",
    "stationary",
    "slowMoving",
    "stopAndGoMovement",
)
"""``ResponseType`` names, values 0-6 (asn/VehEmgExt.asn)."""
EMERGENCY_RESPONSES = frozenset({"emergency", "pursuit"})
"""Response types on which other drivers must make way: an "active service call at emergency
level" and a pursuit ("sender driving may be erratic"). ``nonEmergency`` is "also used when
returning from service call"; ``stationary``, ``slowMoving`` and ``stopAndGoMovement`` are
road works, litter trucks and school buses: obstacles, not vehicles to yield to."""
PASSENGER_VEHICLE = 10
"""``BasicVehicleClass`` passenger-Vehicle-TypeUnknown, the standard's default type."""
EMERGENCY_CLASSES = range(60, 70)
"""``BasicVehicleClass`` emergency-TypeUnknown (60) to emergency-Other-Ambulance (69)."""
HARD_BRAKING_MPS2 = -4.0
"""SAE J2945/1's hard braking: a deceleration of 0.4 g or more."""

EVENT_BITS = len(EVENT_FLAGS)  # the root size of VehicleEventFlags
LIGHT_BITS = 9  # the root size of ExteriorLights
_LEFT_TURN, _RIGHT_TURN, _HAZARD = 2, 3, 4  # ExteriorLights bits
_TURN_SIGNALS = (pb.TURN_SIGNAL_LEFT, pb.TURN_SIGNAL_RIGHT, pb.TURN_SIGNAL_HAZARD)
# SirenInUse "reserved" (3) and LightbarInUse "unavailable" say nothing: None. The light bar's
# caution patterns (yellow caution lights, school bus lights, arrow signs, slow-moving
# vehicle, frequent stops) are not an emergency's lights: False.
_SIREN = {"notInUse": False, "inUse": True}
_LIGHTBAR = {
    "notInUse": False,
    "inUse": True,
    "yellowCautionLights": False,
    "schooldBusLights": False,
    "arrowSignsActive": False,
    "slowMovingVehicle": False,
    "freqStops": False,
}
_FRAGMENTED_LENGTH = 16384  # X.691 11.9.3.8: longer lengths come in fragments


@dataclass(frozen=True)
class BsmExtensions:
    """What a BSM says beyond motion. The defaults say nothing: no ``safetyExt``, no
    ``emergencyExt``, a passenger vehicle of unknown type.

    ``turn_signal`` is a ``pb.TurnSignal``: LEFT, RIGHT and HAZARD go out as ``ExteriorLights``
    bits; OFF and UNSPECIFIED send no ``lights`` (an empty ``ExteriorLights`` would say the
    headlights are off too). ``emergency_response`` is a ``RESPONSE_TYPES`` name;
    ``siren_in_use`` and ``lightbar_in_use`` None: not said. Raises ``ValueError`` for an
    unknown event, turn signal or response type, or a class outside 0-255.
    """

    events: frozenset[str] = frozenset()
    turn_signal: int = pb.TURN_SIGNAL_UNSPECIFIED
    emergency_response: str | None = None
    siren_in_use: bool | None = None
    lightbar_in_use: bool | None = None
    vehicle_class: int = PASSENGER_VEHICLE

    def __post_init__(self) -> None:
        unknown = set(self.events) - set(EVENT_FLAGS)
        if unknown:
            raise ValueError(f"unknown vehicle events {sorted(unknown)}; known: {EVENT_FLAGS}")
        if self.turn_signal not in pb.TurnSignal.values():
            raise ValueError(f"not a pb.TurnSignal: {self.turn_signal}")
        if self.emergency_response is not None and self.emergency_response not in RESPONSE_TYPES:
            raise ValueError(f"unknown response type {self.emergency_response!r}")
        if not 0 <= self.vehicle_class <= 255:
            raise ValueError(f"a BasicVehicleClass is 0-255, got {self.vehicle_class}")


def own_extensions(
    state: pb.VehicleState, *, hard_braking_mps2: float = HARD_BRAKING_MPS2
) -> BsmExtensions:
    """What our own vehicle says: its turn signal, ``hazard_lights`` while the hazard lights
    flash, ``hard_braking`` while braking at ``hard_braking_mps2`` or harder."""
    events = set()
    if state.turn_signal == pb.TURN_SIGNAL_HAZARD:
        events.add("hazard_lights")
    # A non-finite acceleration compares False: no event on a bad reading.
    if state.brake_applied and state.longitudinal_accel_mps2 <= hard_braking_mps2:
        events.add("hard_braking")
    return BsmExtensions(events=frozenset(events), turn_signal=state.turn_signal)


def is_emergency_vehicle(fields: Mapping[str, Any]) -> bool:
    """Whether decoded BSM ``fields`` come from an emergency vehicle to make way for: on an
    emergency call or a pursuit (``EMERGENCY_RESPONSES``), or with its siren or its
    emergency light bar on. An emergency vehicle class alone is not enough: an ambulance
    back from a call drives as everyone else."""
    return (
        fields.get("emergency_response") in EMERGENCY_RESPONSES
        or fields.get("siren_in_use") is True
        or fields.get("lightbar_in_use") is True
    )


def to_bsm_members(extensions: BsmExtensions) -> dict[str, Any]:
    """The BSM members (asn1tools values) that say ``extensions``: ``vehicleClass``, and
    ``safetyExt`` and ``emergencyExt`` when they have something to say."""
    members: dict[str, Any] = {"vehicleClass": {"classification": extensions.vehicle_class}}
    safety: dict[str, Any] = {}
    if extensions.events:
        bits = [EVENT_FLAGS.index(name) for name in extensions.events]
        safety["events"] = (_bit_bytes(bits, EVENT_BITS), EVENT_BITS)
    light = _light_bit(extensions.turn_signal)
    if light is not None:
        safety["lights"] = (_bit_bytes([light], LIGHT_BITS), LIGHT_BITS)
    if safety:
        members["safetyExt"] = safety
    emergency: dict[str, Any] = {}
    if extensions.emergency_response is not None:
        emergency["responseType"] = extensions.emergency_response
    if extensions.siren_in_use is not None:
        emergency["sirenUse"] = "inUse" if extensions.siren_in_use else "notInUse"
    if extensions.lightbar_in_use is not None:
        emergency["lightsUse"] = "inUse" if extensions.lightbar_in_use else "notInUse"
    if emergency:
        members["emergencyExt"] = emergency
    return members


def from_bsm_members(bsm: Mapping[str, Any]) -> dict[str, Any]:
    """The decoded fields of a BSM's (asn1tools value) extensions: ``events`` (names; bits a
    later edition added are left out), ``turn_signal`` (``TURN_SIGNAL_UNSPECIFIED`` without
    ``lights``), ``emergency_response`` (None when not sent, or a later edition's type),
    ``siren_in_use`` and ``lightbar_in_use`` (None when not sent or unavailable)."""
    safety = bsm.get("safetyExt", {})
    emergency = bsm.get("emergencyExt", {})
    events = safety.get("events")
    lights = safety.get("lights")
    return {
        "events": frozenset() if events is None else _event_names(*events),
        "turn_signal": pb.TURN_SIGNAL_UNSPECIFIED if lights is None else _turn_signal(*lights),
        "emergency_response": emergency.get("responseType"),
        "siren_in_use": _SIREN.get(emergency.get("sirenUse", "unavailable")),
        "lightbar_in_use": _LIGHTBAR.get(emergency.get("lightsUse", "unavailable")),
    }


def _light_bit(turn_signal: int) -> int | None:
    if turn_signal == pb.TURN_SIGNAL_LEFT:
        return _LEFT_TURN
    if turn_signal == pb.TURN_SIGNAL_RIGHT:
        return _RIGHT_TURN
    if turn_signal == pb.TURN_SIGNAL_HAZARD:
        return _HAZARD
    return None


def _bit_bytes(bits: list[int], size: int) -> bytes:
    """A BIT STRING's bytes (bit 0 is the first byte's most significant) with ``bits`` set."""
    value = bytearray((size + 7) // 8)
    for bit in bits:
        value[bit // 8] |= 0x80 >> (bit % 8)
    return bytes(value)


def _is_set(value: bytes, size: int, bit: int) -> bool:
    return bit < size and bit // 8 < len(value) and bool(value[bit // 8] & (0x80 >> (bit % 8)))


def _event_names(value: bytes, size: int) -> frozenset[str]:
    return frozenset(name for bit, name in enumerate(EVENT_FLAGS) if _is_set(value, size, bit))


def _turn_signal(value: bytes, size: int) -> pb.TurnSignal.ValueType:
    left, right = _is_set(value, size, _LEFT_TURN), _is_set(value, size, _RIGHT_TURN)
    # Some senders flash both turn signals for the hazard lights instead of the hazard bit.
    if _is_set(value, size, _HAZARD) or (left and right):
        return pb.TURN_SIGNAL_HAZARD
    if left:
        return pb.TURN_SIGNAL_LEFT
    if right:
        return pb.TURN_SIGNAL_RIGHT
    return pb.TURN_SIGNAL_OFF


def accept_bit_string_extensions(compiled: Any) -> Any:
    """``compiled`` (an asn1tools UPER specification), its extensible BIT STRINGs (``SIZE(13,
    ...)``) reading and writing lengths beyond their root size, which asn1tools leaves
    unimplemented: X.691 16.6, the extension bit set, then the length as a semi-constrained
    whole number and the bits. A foreign BSM with a flag of a later edition decodes."""
    seen: set[int] = set()
    pending: list[Any] = [t.type for t in compiled.types.values()]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, uper.Type):
            if isinstance(item, uper.BitString) and item.has_extension_marker:
                _extend(item)
            pending.extend(vars(item).values())
    return compiled


def _extend(bit_string: Any) -> None:
    # The instance's own methods, not asn1tools' class: plain asn1tools elsewhere (the
    # benchmarks' peer) stays as it is.
    if "decode" in vars(bit_string):
        return
    bit_string.encode = functools.partial(_encode, bit_string, bit_string.encode)
    bit_string.decode = functools.partial(_decode, bit_string)


def _encode(bit_string: Any, encode_root: Any, data: tuple[bytes, int], encoder: Any) -> None:
    value, size = data
    if bit_string.has_named_bits:  # trailing zero bits of named bits are not sent (X.691 16.3)
        value, size = bit_string.rstrip_zeros(value, size)
    if bit_string.minimum <= size <= bit_string.maximum:
        encode_root(data, encoder)
        return
    if size >= _FRAGMENTED_LENGTH:
        raise asn1tools.EncodeError(f"a BIT STRING of {size} bits: fragments not supported")
    encoder.append_bit(1)
    encoder.append_length_determinant(size)
    encoder.append_bits(value, size)


def _decode(bit_string: Any, decoder: Any) -> tuple[bytes, int]:
    if decoder.read_bit():
        size = decoder.read_length_determinant()
        if size >= _FRAGMENTED_LENGTH:
            raise asn1tools.DecodeError(f"a BIT STRING of {size}+ bits: fragments not supported")
    else:
        size = bit_string.minimum
        if bit_string.minimum != bit_string.maximum:
            size += decoder.read_non_negative_binary_integer(bit_string.number_of_bits)
    return bytes(decoder.read_bits(size)), size
