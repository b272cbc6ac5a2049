"""T/CSAE 53-2017 messages in UPER: our BSM and SPaT out, any ``MessageFrame`` in; the shared
``encode_frame``/``decode_frame`` (typed errors naming where decoding stopped) that the MAP,
RSI and RSM modules (``map.py``, ``rsi.py``, ``rsm.py``) build on.

The codec is asn1tools compiling the standard's own ASN.1 (``asn/``, see its SOURCES.md) once,
on first use. Values are converted to the standard's units here and only here; decoded
messages come back in ours (SI units, pb field names and sign conventions), with ``None`` where
the sender said "unavailable".

Sign conventions: the standard takes SAE J670 vehicle axes (x forward, y right, z down), so
lateral acceleration, yaw rate and steering angle are positive to the right; ours (pb) are
positive to the left, counter-clockwise seen from above: they change sign on the way.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asn1tools

from protocols.errors import V2xDecodeError, V2xError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.bsm_extensions import (
    BsmExtensions,
    accept_bit_string_extensions,
    from_bsm_members,
    to_bsm_members,
)
from protocols.v2x.units import (
    ELEVATION_UNAVAILABLE,
    ELEVATION_UNIT_M,
    HEADING_UNIT_DEG,
    LATITUDE_UNAVAILABLE,
    LATLON_UNIT_DEG,
    LONGITUDE_UNAVAILABLE,
    POSITION_CONFIDENCE,
    SIZE_UNIT_M,
    SPEED_UNAVAILABLE,
    SPEED_UNIT_MPS,
)
from protocols.v2x.units import clamp as _clamp

ASN_DIR = Path(__file__).resolve().parent / "asn"
FRAME = "MessageFrame"
KINDS = {
    "bsmFrame": "bsm",
    "mapFrame": "map",
    "rsmFrame": "rsm",
    "spatFrame": "spat",
    "rsiFrame": "rsi",
}
"""``MessageFrame`` alternatives -> the short kind names used in counters and recordings."""

# Units of the standard (see the comments in asn/Def*.asn, Veh*.asn) besides units.py's.
ACCEL_UNIT_MPS2 = 0.01
YAW_RATE_UNIT_DEG_S = 0.01
STEERING_UNIT_DEG = 1.5
TIME_MARK_UNIT_S = 0.1
# "Unavailable" values.
ACCEL_UNAVAILABLE = 2001
VERTICAL_ACCEL_UNAVAILABLE = -127
STEERING_UNAVAILABLE = 127
TIME_MARK_MAX = 36000  # "more than an hour"
PASSENGER_VEHICLE = 10  # BasicVehicleClass passenger-Vehicle-TypeUnknown
MAX_PHASES = 16

_GEARS = {
    pb.GEAR_PARK: "park",
    pb.GEAR_REVERSE: "reverseGears",
    pb.GEAR_NEUTRAL: "neutral",
    pb.GEAR_DRIVE: "forwardGears",
}
_GEARS_BACK = {name: gear for gear, name in _GEARS.items()}
# The standard has no red-amber (unused in China): it goes out as red. Both greens come back
# as green: our SPaT does not say whether a movement is protected.
_LIGHTS = {
    pb.SIGNAL_STATE_UNSPECIFIED: "unavailable",
    pb.SIGNAL_STATE_DARK: "dark",
    pb.SIGNAL_STATE_RED: "red",
    pb.SIGNAL_STATE_RED_AMBER: "red",
    pb.SIGNAL_STATE_GREEN: "protected-green",
    pb.SIGNAL_STATE_AMBER: "yellow",
    pb.SIGNAL_STATE_FLASHING_AMBER: "flashing-yellow",
    pb.SIGNAL_STATE_FLASHING_RED: "flashing-red",
}
_LIGHTS_BACK: dict[str, pb.SignalState.ValueType] = {
    "unavailable": pb.SIGNAL_STATE_UNSPECIFIED,
    "dark": pb.SIGNAL_STATE_DARK,
    "flashing-red": pb.SIGNAL_STATE_FLASHING_RED,
    "red": pb.SIGNAL_STATE_RED,
    "flashing-green": pb.SIGNAL_STATE_GREEN,
    "permissive-green": pb.SIGNAL_STATE_GREEN,
    "protected-green": pb.SIGNAL_STATE_GREEN,
    "yellow": pb.SIGNAL_STATE_AMBER,
    "flashing-yellow": pb.SIGNAL_STATE_FLASHING_AMBER,
}


@functools.cache
def specification() -> Any:
    """The compiled modules (compiled on the first call, ~0.5 s; cached after)."""
    compiled = asn1tools.compile_files(sorted(str(p) for p in ASN_DIR.glob("*.asn")), "uper")
    return accept_bit_string_extensions(compiled)


def time_fields(unix_s: float) -> tuple[int, int]:
    """(MinuteOfTheYear, DSecond) of a Unix time: UTC minutes since 1 January 00:00, and
    milliseconds into the minute."""
    utc = datetime.fromtimestamp(unix_s, UTC)
    start = datetime(utc.year, 1, 1, tzinfo=UTC)
    moy = int((utc - start).total_seconds() // 60)
    return moy, utc.second * 1000 + utc.microsecond // 1000


def station_id_bytes(station_id: int) -> bytes:
    """The BSM's 8-byte temporary id for a numeric station id (big-endian)."""
    if not 0 <= station_id < 1 << 64:
        raise ValueError(f"station id must fit in 8 bytes, got {station_id}")
    return station_id.to_bytes(8, "big")


def encode_bsm(
    state: pb.VehicleState,
    *,
    vehicle_id: bytes,
    msg_cnt: int,
    unix_s: float,
    extensions: BsmExtensions | None = None,
) -> bytes:
    """A ``MessageFrame`` holding the BSM of ``state`` at Unix time ``unix_s`` (``secMark``).

    ``extensions`` (events, lights, emergency, class; ``bsm_extensions.own_extensions``
    gives ours) go out as ``safetyExt``, ``emergencyExt`` and ``vehicleClass``; None: neither
    extension, a passenger vehicle. Values beyond the standard's ranges are clamped. Raises
    ``ValueError`` for an id that is not 8 bytes or a ``msg_cnt`` outside 0-127.
    """
    if len(vehicle_id) != 8:
        raise ValueError(f"a BSM id is 8 bytes, got {len(vehicle_id)}")
    if not 0 <= msg_cnt <= 127:
        raise ValueError(f"msgCnt must be 0-127, got {msg_cnt}")
    position = state.position
    heading_deg = math.degrees(state.heading_rad) % 360.0
    bsm: dict[str, Any] = {
        "msgCnt": msg_cnt,
        "id": vehicle_id,
        "secMark": time_fields(unix_s)[1],
        "pos": {
            "lat": _clamp(position.latitude_deg / LATLON_UNIT_DEG, -900000000, 900000000),
            "long": _clamp(position.longitude_deg / LATLON_UNIT_DEG, -1799999999, 1800000000),
            # -4096 means unknown: a real value is clamped above it.
            "elevation": _clamp(position.altitude_m / ELEVATION_UNIT_M, -4095, 61439),
        },
        "transmission": _GEARS.get(state.gear, "unavailable"),
        "speed": _clamp(state.speed_mps / SPEED_UNIT_MPS, 0, SPEED_UNAVAILABLE - 1),
        "heading": _clamp(heading_deg / HEADING_UNIT_DEG, 0, 28800) % 28800,
        "angle": _clamp(
            -math.degrees(state.steering_wheel_angle_rad) / STEERING_UNIT_DEG, -126, 126
        ),
        "accelSet": {
            "long": _clamp(state.longitudinal_accel_mps2 / ACCEL_UNIT_MPS2, -2000, 2000),
            "lat": _clamp(-state.lateral_accel_mps2 / ACCEL_UNIT_MPS2, -2000, 2000),
            "vert": VERTICAL_ACCEL_UNAVAILABLE,
            "yaw": _clamp(-math.degrees(state.yaw_rate_rad_s) / YAW_RATE_UNIT_DEG_S, -32767, 32767),
        },
        "brakes": {"brakePadel": "on" if state.brake_applied else "off"},
        "size": {
            "width": _clamp(state.width_m / SIZE_UNIT_M, 0, 1023),
            "length": _clamp(state.length_m / SIZE_UNIT_M, 0, 4095),
        },
        "vehicleClass": {"classification": PASSENGER_VEHICLE},
    }
    if extensions is not None:
        bsm.update(to_bsm_members(extensions))
    if position.horizontal_accuracy_m > 0:
        bsm["posConfidence"] = {"pos": _position_confidence(position.horizontal_accuracy_m)}
    return encode_frame(("bsmFrame", bsm))


def _position_confidence(accuracy_m: float) -> str:
    for bound, name in POSITION_CONFIDENCE:
        if accuracy_m <= bound:
            return name
    return "unavailable"


def encode_spat(
    spat: pb.SignalPhaseTiming, *, msg_cnt: int, unix_s: float, region: int | None = None
) -> bytes:
    """A ``MessageFrame`` holding ``spat`` (one intersection) as of Unix time ``unix_s``.

    Phase times are counted down from ``unix_s`` (``TimeCountingDown``, tenths of a second,
    at most an hour). Raises ``V2xError`` (``unencodable``) for no phases, more than 16, a
    signal group over 255 or an intersection id over 65535; ``ValueError`` for a ``msg_cnt``
    outside 0-127.
    """
    if not 0 <= msg_cnt <= 127:
        raise ValueError(f"msgCnt must be 0-127, got {msg_cnt}")
    if not 1 <= len(spat.phases) <= MAX_PHASES:
        raise V2xError(
            f"a SPAT intersection has 1-{MAX_PHASES} phases, got {len(spat.phases)}",
            reason="unencodable",
        )
    if spat.intersection_id > 0xFFFF or any(p.signal_group > 255 for p in spat.phases):
        raise V2xError(
            "intersection ids are 0-65535 and signal groups 0-255 in T/CSAE 53",
            reason="unencodable",
        )
    moy, ms = time_fields(unix_s)
    node: dict[str, Any] = {"id": spat.intersection_id}
    if region is not None:
        node["region"] = region
    phases = [
        {
            "id": phase.signal_group,
            "phaseStates": [
                {
                    "light": _LIGHTS.get(phase.state, "unavailable"),
                    "timing": (
                        "counting",
                        {
                            "startTime": 0,  # already started
                            "minEndTime": _time_mark(phase.min_end_s),
                            "maxEndTime": _time_mark(phase.max_end_s),
                            "likelyEndTime": _time_mark(phase.likely_end_s),
                        },
                    ),
                }
            ],
        }
        for phase in spat.phases
    ]
    intersection = {
        "intersectionId": node,
        "status": (b"\x00\x00", 16),
        "moy": moy,
        "timeStamp": ms,
        "phases": phases,
    }
    return encode_frame(
        (
            "spatFrame",
            {"msgCnt": msg_cnt, "moy": moy, "timeStamp": ms, "intersections": [intersection]},
        )
    )


def _time_mark(seconds: float) -> int:
    return _clamp(seconds / TIME_MARK_UNIT_S, 0, TIME_MARK_MAX)


def encode_frame(frame: tuple[str, dict[str, Any]]) -> bytes:
    """UPER bytes of a ``MessageFrame`` (alternative, asn1tools value); ``V2xError``
    (``unencodable``) for a value out of its constraints."""
    try:
        return bytes(specification().encode(FRAME, frame, check_constraints=True))
    except asn1tools.Error as err:  # our conversions keep values in range: a bug if reached
        raise V2xError(f"cannot encode {frame[0]}: {err}", reason="unencodable") from err


def decode_message_frame(data: bytes) -> tuple[str, dict[str, Any]]:
    """(kind, fields) of a UPER ``MessageFrame``: kind is ``bsm``, ``spat``, ``map``, ``rsm``
    or ``rsi``; BSM and SPAT fields are in our units (see ``_bsm``, ``_spat``), the others
    as asn1tools decodes them (``protocols.v2x.map``, ``rsi``, ``rsm`` convert those).
    Raises ``V2xDecodeError`` (a ``V2xError``) for anything else."""
    choice, value = decode_frame(data)
    kind = KINDS[choice]
    if kind == "bsm":
        return kind, _bsm(value)
    if kind == "spat":
        return kind, _spat(value)
    return kind, dict(value)


def decode_frame(data: bytes) -> tuple[str, dict[str, Any]]:
    """The asn1tools (alternative, value) of a UPER ``MessageFrame``.

    Raises ``V2xDecodeError`` whose ``path`` names where decoding stopped and whose
    ``detail`` says why; a frame whose first bits announce extension additions (which the
    2017 modules do not know) says it is likely of a later edition.
    """
    if not data:
        raise V2xDecodeError("empty datagram", reason="empty", detail="empty")
    try:
        choice, value = specification().decode(FRAME, bytes(data), check_constraints=True)
    except (
        asn1tools.Error,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        NotImplementedError,
    ) as err:
        # asn1tools raises its own errors for most bad input, and plain ones for some
        # truncations and unknown extension choices.
        path = str(getattr(err, "location_str", "") or "")
        detail = _detail(err)
        raise V2xDecodeError(
            f"not a T/CSAE 53-2017 MessageFrame at {path or FRAME}: "
            f"{getattr(err, 'message', err)}{edition_hint(data)}",
            path=path or FRAME,
            detail=detail,
        ) from err
    if choice not in KINDS:  # asn1tools gives (None, None) for an extension alternative
        raise V2xDecodeError(
            f"{FRAME}: extension alternative {_extension_index(data)} is not in the 2017 "
            "edition: likely a T/CSAE 53-2020 (or later) message",
            path=FRAME,
            detail="unknown_alternative",
        )
    return choice, value


def decode_message(data: bytes, choice: str) -> dict[str, Any]:
    """The asn1tools value of a UPER ``MessageFrame`` that must hold ``choice`` (e.g.
    ``"mapFrame"``). Raises ``V2xDecodeError`` as ``decode_frame`` does, and with ``detail``
    ``wrong_kind`` for another message."""
    found, value = decode_frame(data)
    if found != choice:
        article = "an" if choice[0] in "aeiour" else "a"
        raise V2xDecodeError(
            f"expected {article} {choice}, got {found}", path=FRAME, detail="wrong_kind"
        )
    return value


def edition_hint(data: bytes) -> str:
    """A note for error messages when the frame's first bits say it carries extension
    additions (bit 4 of the first byte: the message SEQUENCE's extension bit, after the
    CHOICE's extension bit and 3-bit index); empty otherwise. Heuristic: a 2017 sender may
    set it too, but ours never does and the 2020 edition's additions are where it is set."""
    if data and data[0] & 0x80:
        return " (a MessageFrame extension alternative: likely a later edition, e.g. 2020)"
    if data and data[0] & 0x08 and (data[0] >> 4) & 0x07 < len(KINDS):
        return " (the message carries extension additions: likely a later edition, e.g. 2020)"
    return ""


def _extension_index(data: bytes) -> int | str:
    # After the extension bit, a normally small whole number: a 0 bit, then the index in 6.
    return data[0] & 0x3F if not data[0] & 0x40 else "?"


def _detail(err: Exception) -> str:
    if isinstance(err, asn1tools.codecs.OutOfDataError | IndexError):
        return "truncated"
    if isinstance(err, asn1tools.ConstraintsError):
        return "out_of_range"
    text = str(getattr(err, "message", err))
    if "index" in text:
        return "bad_index"
    return "invalid"


def _unless(raw: int, unavailable: int, unit: float) -> float | None:
    return None if raw == unavailable else raw * unit


def _bsm(bsm: dict[str, Any]) -> dict[str, Any]:
    """A BSM's fields, named as in ``pb.VehicleState`` where there is one; its extensions'
    as ``bsm_extensions.from_bsm_members`` gives them."""
    pos, accel = bsm["pos"], bsm["accelSet"]
    elevation = pos.get("elevation", ELEVATION_UNAVAILABLE)
    angle = bsm.get("angle", STEERING_UNAVAILABLE)
    yaw = accel["yaw"] * YAW_RATE_UNIT_DEG_S
    brake = bsm["brakes"].get("brakePadel", "unavailable")
    long_accel = _unless(accel["long"], ACCEL_UNAVAILABLE, ACCEL_UNIT_MPS2)
    lat_accel = _unless(accel["lat"], ACCEL_UNAVAILABLE, ACCEL_UNIT_MPS2)
    heading = math.radians(bsm["heading"] * HEADING_UNIT_DEG)
    return {
        "msg_cnt": bsm["msgCnt"],
        "station_id": int.from_bytes(bsm["id"], "big"),
        "sec_mark_ms": bsm["secMark"],
        "latitude_deg": _unless(pos["lat"], LATITUDE_UNAVAILABLE, LATLON_UNIT_DEG),
        "longitude_deg": _unless(pos["long"], LONGITUDE_UNAVAILABLE, LATLON_UNIT_DEG),
        "altitude_m": _unless(elevation, ELEVATION_UNAVAILABLE, ELEVATION_UNIT_M),
        "speed_mps": _unless(bsm["speed"], SPEED_UNAVAILABLE, SPEED_UNIT_MPS),
        "heading_rad": heading,
        "yaw_rate_rad_s": -math.radians(yaw),
        "longitudinal_accel_mps2": long_accel,
        "lateral_accel_mps2": None if lat_accel is None else -lat_accel,
        "steering_wheel_angle_rad": (
            None if angle == STEERING_UNAVAILABLE else -math.radians(angle * STEERING_UNIT_DEG)
        ),
        "brake_applied": None if brake == "unavailable" else brake == "on",
        "gear": _GEARS_BACK.get(bsm["transmission"], pb.GEAR_UNSPECIFIED),
        "length_m": bsm["size"]["length"] * SIZE_UNIT_M,
        "width_m": bsm["size"]["width"] * SIZE_UNIT_M,
        "vehicle_class": bsm["vehicleClass"]["classification"],
        **from_bsm_members(bsm),
    }


def _spat(spat: dict[str, Any]) -> dict[str, Any]:
    """A SPAT's intersections; each phase's first state, times in seconds from now."""
    intersections = []
    for item in spat["intersections"]:
        phases = []
        for phase in item["phases"]:
            state = phase["phaseStates"][0]  # the current one; later ones are predictions
            timing = _timing(state.get("timing"))
            phases.append(
                {
                    "signal_group": phase["id"],
                    "state": _LIGHTS_BACK.get(state["light"], pb.SIGNAL_STATE_UNSPECIFIED),
                    "light": state["light"],
                    **timing,
                }
            )
        node = item["intersectionId"]
        intersections.append(
            {"intersection_id": node["id"], "region": node.get("region"), "phases": phases}
        )
    return {
        "msg_cnt": spat["msgCnt"],
        "moy": spat.get("moy"),
        "timestamp_ms": spat.get("timeStamp"),
        "intersections": intersections,
    }


def _timing(timing: tuple[str, dict[str, Any]] | None) -> dict[str, float | None]:
    """min/max/likely end in seconds from now; None where not sent, or sent as UTC times
    (we would need the hour they count from)."""
    if timing is None or timing[0] != "counting":
        return {"min_end_s": None, "max_end_s": None, "likely_end_s": None}
    counting = timing[1]

    def seconds(key: str) -> float | None:
        raw = counting.get(key)
        return None if raw is None or raw > TIME_MARK_MAX else raw * TIME_MARK_UNIT_S

    return {
        "min_end_s": seconds("minEndTime"),
        "max_end_s": seconds("maxEndTime"),
        "likely_end_s": seconds("likelyEndTime"),
    }


def to_vehicle_state(fields: dict[str, Any]) -> pb.VehicleState:
    """The ``pb.VehicleState`` of decoded BSM ``fields`` (unavailable values as 0)."""
    state = pb.VehicleState(
        position=pb.Position(
            latitude_deg=fields["latitude_deg"] or 0.0,
            longitude_deg=fields["longitude_deg"] or 0.0,
            altitude_m=fields["altitude_m"] or 0.0,
        ),
        gear=fields["gear"],
        brake_applied=bool(fields["brake_applied"]),
    )
    for key in (
        "speed_mps",
        "heading_rad",
        "yaw_rate_rad_s",
        "longitudinal_accel_mps2",
        "lateral_accel_mps2",
        "steering_wheel_angle_rad",
        "length_m",
        "width_m",
    ):
        setattr(state, key, fields[key] or 0.0)
    return state


def to_spat(fields: dict[str, Any]) -> list[pb.SignalPhaseTiming]:
    """The ``pb.SignalPhaseTiming`` of each intersection of decoded SPAT ``fields``."""
    return [
        pb.SignalPhaseTiming(
            intersection_id=item["intersection_id"],
            phases=[
                pb.PhaseState(
                    signal_group=p["signal_group"],
                    state=p["state"],
                    min_end_s=p["min_end_s"] or 0.0,
                    max_end_s=p["max_end_s"] or 0.0,
                    likely_end_s=p["likely_end_s"] or 0.0,
                )
                for p in item["phases"]
            ],
        )
        for item in fields["intersections"]
    ]
