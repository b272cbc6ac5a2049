"""T/CSAE 53-2017 RSI: traffic events and static signs to and from ``RoadSideInformation``.

Events (``pb.TrafficEvent``) go out as ``RTEData`` and static signs (``StaticSign``) as
``RTSData``, at positions relative to the message's reference point.

Codes, honestly: ``eventType`` is a GB/T 29100-2012 code and ``signType`` a GB 5768.2 one;
neither table is available here. The only codes the 2017 ASN.1 itself gives are the sign
types in its comment (``UnderConstruction = 38``, ``Text message warning = 0``, ...), so
roadworks go out as 38, and speed limits and school zones as 0 (a text message) with an
ASCII description a receiver shows (``SPEED LIMIT 40 km/h``, ``SCHOOL ZONE``) and we parse
back. Our event types have no verified GB/T 29100 code: by default they go out as
RoadGate-private codes ``0xFF00 + the pb enum value`` (65281-65288) that no standard
receiver will mistake for a real event. Pass ``event_codes`` / ``sign_codes`` with the
deployment's verified table to use the standard's.
"""

from __future__ import annotations

import enum
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.errors import V2xError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.csae53 import decode_message, encode_frame, time_fields
from protocols.v2x.units import (
    RADIUS_UNIT_M,
    GeoPoint,
    clamp,
    geo_point,
    minute_of_year_of,
    offset_of,
    point_of,
    position3d,
)

MAX_EVENTS = 8
MAX_SIGNS = 16
MAX_DESCRIPTION = 512
PRIVATE_EVENT_BASE = 0xFF00


class SignKind(enum.StrEnum):
    """The static signs a roadside unit is configured with."""

    ROADWORKS = "roadworks"
    SPEED_LIMIT = "speed_limit"
    SCHOOL_ZONE = "school_zone"


EVENT_CODES: Mapping[int, int] = {
    value: PRIVATE_EVENT_BASE + value for value in pb.EventType.values() if value != 0
}
"""pb ``EventType`` -> ``eventType``: RoadGate-private codes until verified (see above)."""
SIGN_CODES: Mapping[SignKind, int] = {
    SignKind.ROADWORKS: 38,  # "UnderConstruction = 38" (RSI.asn)
    SignKind.SPEED_LIMIT: 0,  # "Text message warning = 0" with the limit in the text
    SignKind.SCHOOL_ZONE: 0,
}
"""``SignKind`` -> ``signType``."""
_TEXTS = {SignKind.SPEED_LIMIT: "SPEED LIMIT", SignKind.SCHOOL_ZONE: "SCHOOL ZONE"}
_SPEED_TEXT = re.compile(r"SPEED LIMIT (\d{1,3}(?:\.\d)?) km/h")
# Severity <-> RSIPriority (the top three bits, 0 lowest to 7 highest).
_PRIORITIES: dict[int, int] = {pb.SEVERITY_INFO: 1, pb.SEVERITY_WARNING: 4, pb.SEVERITY_CRITICAL: 7}


@dataclass(frozen=True)
class StaticSign:
    """A configured sign: its kind, where it is, and for a speed limit the limit in km/h
    (sent with one decimal)."""

    kind: SignKind
    position: GeoPoint
    speed_limit_kph: float | None = None
    sign_id: int = 0


@dataclass(frozen=True)
class RsiEvent:
    """A received ``RTEData``: ``event_type`` is ours where the code maps back, else
    ``EVENT_TYPE_UNSPECIFIED`` with the code in ``event_code``."""

    rte_id: int
    event_code: int
    event_type: pb.EventType.ValueType
    source: str
    position: GeoPoint | None
    radius_m: float | None
    description: str | None
    severity: pb.Severity.ValueType


@dataclass(frozen=True)
class RsiSign:
    """A received ``RTSData``: ``kind`` where we recognise it (``None`` otherwise)."""

    rts_id: int
    sign_code: int
    kind: SignKind | None
    position: GeoPoint | None
    description: str | None
    speed_limit_kph: float | None


@dataclass(frozen=True)
class DecodedRsi:
    """A received RSI."""

    msg_cnt: int
    minute_of_year: int | None
    rsu_id: bytes
    reference: GeoPoint
    events: tuple[RsiEvent, ...]
    signs: tuple[RsiSign, ...]


def _text(text: str) -> str | None:
    ascii_text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:MAX_DESCRIPTION]
    return ascii_text or None


def _priority(severity: int) -> bytes | None:
    level = _PRIORITIES.get(severity)
    return None if level is None else bytes([level << 5])


def _position(position: pb.Position) -> GeoPoint | None:
    lat, lon = position.latitude_deg, position.longitude_deg
    if not (math.isfinite(lat) and math.isfinite(lon)) or (lat, lon) == (0.0, 0.0):
        return None
    return GeoPoint(lat, lon)


def encode_rsi(
    events: Sequence[pb.TrafficEvent],
    signs: Sequence[StaticSign],
    *,
    reference: GeoPoint,
    rsu_id: bytes,
    msg_cnt: int,
    unix_s: float,
    event_codes: Mapping[int, int] = EVENT_CODES,
    sign_codes: Mapping[SignKind, int] = SIGN_CODES,
) -> bytes:
    """A ``MessageFrame`` holding the RSI of ``events`` and ``signs`` at Unix time
    ``unix_s``. An event's ``rteId`` is a CRC of its ``event_id`` (stable across messages).

    Raises ``V2xError`` (``unencodable``) for more than 8 events or 16 signs, an event type
    without a code, a sign id outside 0-255; ``ValueError`` for an ``rsu_id`` that is not 8
    bytes or a ``msg_cnt`` outside 0-127. Radii are clamped to 0-6553.5 m.
    """
    if len(rsu_id) != 8:
        raise ValueError(f"an RSU id is 8 bytes, got {len(rsu_id)}")
    if not 0 <= msg_cnt <= 127:
        raise ValueError(f"msgCnt must be 0-127, got {msg_cnt}")
    if len(events) > MAX_EVENTS or len(signs) > MAX_SIGNS:
        raise V2xError(
            f"an RSI holds at most {MAX_EVENTS} events and {MAX_SIGNS} signs, "
            f"got {len(events)} and {len(signs)}",
            reason="unencodable",
        )
    value: dict[str, Any] = {
        "msgCnt": msg_cnt,
        "moy": time_fields(unix_s)[0],
        "id": rsu_id,
        "refPos": position3d(reference),
    }
    if events:
        value["rtes"] = [_event(e, reference, event_codes) for e in events]
    if signs:
        value["rtss"] = [_sign(s, reference, sign_codes) for s in signs]
    return encode_frame(("rsiFrame", value))


def _event(event: pb.TrafficEvent, reference: GeoPoint, codes: Mapping[int, int]) -> dict[str, Any]:
    code = codes.get(event.type)
    if code is None or not 0 <= code <= 0xFFFF:
        raise V2xError(f"no RSI eventType code for event type {event.type}", reason="unencodable")
    value: dict[str, Any] = {
        "rteId": zlib.crc32(event.event_id.encode()) & 0xFF,
        "eventType": code,
        "eventSource": "detection",
    }
    position = _position(event.position)
    if position is not None:
        value["eventPos"] = {"offsetLL": offset_of(position, reference)}
    if event.radius_m > 0 or math.isinf(event.radius_m):
        value["eventRadius"] = clamp(event.radius_m / RADIUS_UNIT_M, 0, 0xFFFF)
    if description := _text(event.description):
        value["description"] = ("textString", description)
    if (priority := _priority(event.severity)) is not None:
        value["priority"] = priority
    return value


def _sign(sign: StaticSign, reference: GeoPoint, codes: Mapping[SignKind, int]) -> dict[str, Any]:
    if not 0 <= sign.sign_id <= 255:
        raise V2xError(f"an RSI sign id is 0-255, got {sign.sign_id}", reason="unencodable")
    code = codes.get(sign.kind)
    if code is None or not 0 <= code <= 0xFFFF:
        raise V2xError(f"no RSI signType code for {sign.kind}", reason="unencodable")
    value: dict[str, Any] = {"rtsId": sign.sign_id, "signType": code}
    if math.isfinite(sign.position.latitude_deg) and math.isfinite(sign.position.longitude_deg):
        value["signPos"] = {"offsetLL": offset_of(sign.position, reference)}
    text = _TEXTS.get(sign.kind)
    if sign.kind == SignKind.SPEED_LIMIT and sign.speed_limit_kph is not None:
        kph = clamp(sign.speed_limit_kph * 10, 0, 9999) / 10
        text = f"{text} {kph:.1f} km/h"
    if text:
        value["description"] = ("textString", text)
    return value


def decode_rsi(
    data: bytes,
    *,
    event_codes: Mapping[int, int] = EVENT_CODES,
    sign_codes: Mapping[SignKind, int] = SIGN_CODES,
) -> DecodedRsi:
    """The RSI in a UPER ``MessageFrame``. Raises ``V2xDecodeError`` for bytes that are not
    a ``MessageFrame`` or hold another message (``detail`` ``wrong_kind``)."""
    value = decode_message(data, "rsiFrame")
    return rsi_of(value, event_codes=event_codes, sign_codes=sign_codes)


def _description(value: dict[str, Any]) -> str | None:
    description = value.get("description")
    if description is None:
        return None
    kind, text = description
    if kind == "textGB2312":
        return bytes(text).decode("gb2312", errors="replace")
    return str(text)


def _where(value: dict[str, Any], key: str, reference: GeoPoint) -> GeoPoint | None:
    offset = value.get(key)
    return None if offset is None else point_of(offset["offsetLL"], reference)


def _severity(priority: bytes | None) -> pb.Severity.ValueType:
    if not priority:
        return pb.SEVERITY_UNSPECIFIED
    level = priority[0] >> 5
    best = min(_PRIORITIES.items(), key=lambda item: abs(item[1] - level))
    return pb.Severity.ValueType(best[0])


def _sign_kind(code: int, text: str | None, codes: Mapping[SignKind, int]) -> SignKind | None:
    for kind, label in _TEXTS.items():
        if codes.get(kind) == code and text is not None and text.startswith(label):
            return kind
    return next((kind for kind, c in codes.items() if c == code and kind not in _TEXTS), None)


def rsi_of(
    value: dict[str, Any],
    *,
    event_codes: Mapping[int, int] = EVENT_CODES,
    sign_codes: Mapping[SignKind, int] = SIGN_CODES,
) -> DecodedRsi:
    """Our values of an asn1tools-decoded ``RoadSideInformation``."""
    reference = geo_point(value["refPos"])
    types = {code: ours for ours, code in event_codes.items()}
    events = tuple(
        RsiEvent(
            rte_id=rte["rteId"],
            event_code=rte["eventType"],
            event_type=pb.EventType.ValueType(types.get(rte["eventType"], 0)),
            source=rte["eventSource"] or "unknown",
            position=_where(rte, "eventPos", reference),
            radius_m=None if "eventRadius" not in rte else rte["eventRadius"] * RADIUS_UNIT_M,
            description=_description(rte),
            severity=_severity(rte.get("priority")),
        )
        for rte in value.get("rtes", ())
    )
    signs = []
    for rts in value.get("rtss", ()):
        text = _description(rts)
        kind = _sign_kind(rts["signType"], text, sign_codes)
        match = _SPEED_TEXT.fullmatch(text or "") if kind == SignKind.SPEED_LIMIT else None
        signs.append(
            RsiSign(
                rts_id=rts["rtsId"],
                sign_code=rts["signType"],
                kind=kind,
                position=_where(rts, "signPos", reference),
                description=text,
                speed_limit_kph=float(match.group(1)) if match else None,
            )
        )
    return DecodedRsi(
        msg_cnt=value["msgCnt"],
        minute_of_year=minute_of_year_of(value.get("moy")),
        rsu_id=value["id"],
        reference=reference,
        events=events,
        signs=tuple(signs),
    )


def to_traffic_events(rsi: DecodedRsi) -> list[pb.TrafficEvent]:
    """``pb.TrafficEvent`` of a received RSI's events (``event_id`` ``rsi:<rsu>:<rteId>``;
    no position or radius as 0, the pb convention)."""
    result = []
    for event in rsi.events:
        message = pb.TrafficEvent(
            event_id=f"rsi:{rsi.rsu_id.hex()}:{event.rte_id}",
            type=event.event_type,
            severity=event.severity,
            radius_m=event.radius_m or 0.0,
            description=event.description or "",
        )
        if event.position is not None:
            message.position.latitude_deg = event.position.latitude_deg
            message.position.longitude_deg = event.position.longitude_deg
        result.append(message)
    return result
