"""T/CSAE 53-2017 RSM: the roadside unit's object list to and from ``RoadsideSafetyMessage``.

Out: each object of a ``pb.ObjectList`` becomes a ``ParticipantData`` at its WGS84
``position`` (or, for a fused list without one, ``x_m``/``y_m`` east/north of the list's
``sensor_position``) relative to the message's reference point; at most 16 per message, so
a longer list goes out as several messages. Accuracies become the standard's confidence
levels, always the finest level that still covers the 1-sigma value (say less, never more);
an object without any position is skipped and counted.

In: participants come back as ``RsmParticipant`` (``None`` where unavailable) and
``to_object_list`` makes the fused ``pb.ObjectList`` of them (0 where unavailable, the pb
convention; accuracies are the levels' bounds).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x.csae53 import decode_message, encode_frame, time_fields
from protocols.v2x.units import (
    HEADING_CONFIDENCE,
    HEIGHT_UNIT_M,
    POSITION_CONFIDENCE,
    SIZE_UNIT_M,
    SPEED_CONFIDENCE,
    GeoPoint,
    clamp,
    confidence_code,
    confidence_of,
    geo_point,
    heading_code,
    heading_of,
    metres_of,
    offset_of,
    offset_of_metres,
    point_of,
    position3d,
    speed_code,
    speed_of,
)

MAX_PARTICIPANTS = 16
# Our class -> (ParticipantType, BasicVehicleClass or None).
_CLASSES: dict[int, tuple[str, int | None]] = {
    pb.OBJECT_CLASS_PEDESTRIAN: ("pedestrian", 82),  # otherTraveler-Pedestrian
    pb.OBJECT_CLASS_BICYCLE: ("non-motor", 85),  # otherTraveler-Bicycle
    pb.OBJECT_CLASS_MOTORCYCLE: ("motor", 40),  # motorcycle-TypeUnknown
    pb.OBJECT_CLASS_CAR: ("motor", 10),  # passenger-Vehicle-TypeUnknown
    pb.OBJECT_CLASS_TRUCK: ("motor", 25),  # truck-Vehicle-TypeUnknown
}


@dataclass(frozen=True)
class RsmParticipant:
    """One received participant in our units; ``None`` where the sender had no value."""

    object_id: int
    participant_type: str
    object_class: pb.ObjectClass.ValueType
    source: str
    temporary_id: bytes | None
    sec_mark_ms: int
    position: GeoPoint
    east_m: float
    north_m: float
    position_accuracy_m: float | None
    speed_mps: float | None
    heading_rad: float
    speed_accuracy_mps: float | None
    heading_accuracy_rad: float | None
    length_m: float
    width_m: float
    height_m: float | None
    vehicle_class: int | None


@dataclass(frozen=True)
class DecodedRsm:
    """A received RSM."""

    msg_cnt: int
    rsu_id: bytes
    reference: GeoPoint
    participants: tuple[RsmParticipant, ...]


@dataclass
class RsmFrames:
    """What ``encode_rsm`` made: the frames, and the objects it skipped by reason."""

    frames: list[bytes]
    skipped: Counter[str] = field(default_factory=Counter)


def encode_rsm(
    objects: pb.ObjectList, *, reference: GeoPoint, rsu_id: bytes, msg_cnt: int, unix_s: float
) -> RsmFrames:
    """``MessageFrame``s holding the RSMs of ``objects`` (16 participants each; the i-th
    frame has ``msgCnt`` ``(msg_cnt + i) % 128``) at Unix time ``unix_s`` (``secMark``).

    Out-of-range values are clamped; raises ``ValueError`` for an ``rsu_id`` that is not 8
    bytes or a ``msg_cnt`` outside 0-127.
    """
    if len(rsu_id) != 8:
        raise ValueError(f"an RSU id is 8 bytes, got {len(rsu_id)}")
    if not 0 <= msg_cnt <= 127:
        raise ValueError(f"msgCnt must be 0-127, got {msg_cnt}")
    result = RsmFrames(frames=[])
    sec_mark = time_fields(unix_s)[1]
    participants = []
    for item in objects.objects:
        offset = _offset(item, objects, reference)
        if offset is None:
            result.skipped["no_position"] += 1
            continue
        participants.append(_participant(item, objects, offset, sec_mark))
    for start in range(0, len(participants), MAX_PARTICIPANTS):
        value = {
            "msgCnt": (msg_cnt + start // MAX_PARTICIPANTS) % 128,
            "id": rsu_id,
            "refPos": position3d(reference),
            "participants": participants[start : start + MAX_PARTICIPANTS],
        }
        result.frames.append(encode_frame(("rsmFrame", value)))
    return result


def _offset(
    item: pb.PerceivedObject, objects: pb.ObjectList, reference: GeoPoint
) -> tuple[str, Any] | None:
    position = item.position
    lat, lon = position.latitude_deg, position.longitude_deg
    if math.isfinite(lat) and math.isfinite(lon) and (lat, lon) != (0.0, 0.0):
        return offset_of(GeoPoint(lat, lon), reference)
    origin = objects.sensor_position
    fused = objects.kind == pb.OBJECT_LIST_KIND_FUSED
    coordinates = (item.x_m, item.y_m, origin.latitude_deg, origin.longitude_deg)
    if fused and all(math.isfinite(v) for v in coordinates):
        origin_point = GeoPoint(origin.latitude_deg, origin.longitude_deg)
        east, north = metres_of(origin_point, reference)
        return offset_of_metres(east + item.x_m, north + item.y_m, reference)
    return None


def _source(objects: pb.ObjectList) -> str:
    if objects.kind == pb.OBJECT_LIST_KIND_FUSED:
        return "integrated"
    return "microwaveRadar" if objects.sensor_id.startswith("radar") else "unknown"


def _temporary_id(cooperative_id: str) -> bytes | None:
    # A track paired with a BSM sender carries "bsm:" + its 8-byte id in hex.
    if cooperative_id.startswith("bsm:"):
        try:
            raw = bytes.fromhex(cooperative_id[4:])
        except ValueError:
            return None
        return raw if len(raw) == 8 else None
    return None


def _horizontal_sigma(item: pb.PerceivedObject) -> float:
    cov = item.position_covariance
    # The largest 1-sigma of the ellipse: the square root of the larger eigenvalue.
    half_trace = (cov.east_east + cov.north_north) / 2
    spread = math.hypot((cov.east_east - cov.north_north) / 2, cov.east_north)
    largest = half_trace + spread
    if math.isfinite(largest) and largest > 0:
        return math.sqrt(largest)
    return item.position.horizontal_accuracy_m


def _participant(
    item: pb.PerceivedObject, objects: pb.ObjectList, offset: tuple[str, Any], sec_mark: int
) -> dict[str, Any]:
    ptc_type, vehicle_class = _CLASSES.get(item.object_class, ("unknown", None))
    value: dict[str, Any] = {
        "ptcType": ptc_type,
        "ptcId": (item.object_id - 1) % 0xFFFF + 1,  # 0 is the RSU itself: ids wrap in 1-65535
        "source": _source(objects),
        "secMark": sec_mark,
        "pos": {"offsetLL": offset},
        "posConfidence": {"pos": confidence_code(_horizontal_sigma(item), POSITION_CONFIDENCE)},
        "speed": speed_code(item.speed_mps),
        "heading": heading_code(item.heading_rad),
        "size": {
            "width": clamp(item.width_m / SIZE_UNIT_M, 0, 1023),
            "length": clamp(item.length_m / SIZE_UNIT_M, 0, 4095),
        },
    }
    temporary_id = _temporary_id(item.cooperative_id)
    if temporary_id is not None:
        value["id"] = temporary_id
    speed_cfd = confidence_code(item.speed_accuracy_mps, SPEED_CONFIDENCE)
    heading_cfd = confidence_code(item.heading_accuracy_rad, HEADING_CONFIDENCE)
    if (speed_cfd, heading_cfd) != ("unavailable", "unavailable"):
        value["motionCfd"] = {"speedCfd": speed_cfd, "headingCfd": heading_cfd}
    if vehicle_class is not None:
        value["vehicleClass"] = {"classification": vehicle_class}
    return value


def decode_rsm(data: bytes) -> DecodedRsm:
    """The RSM in a UPER ``MessageFrame``. Raises ``V2xDecodeError`` for bytes that are not
    a ``MessageFrame`` or hold another message (``detail`` ``wrong_kind``)."""
    value = decode_message(data, "rsmFrame")
    return rsm_of(value)


def _class_of(ptc_type: str, vehicle_class: int | None) -> pb.ObjectClass.ValueType:
    if ptc_type == "pedestrian":
        return pb.OBJECT_CLASS_PEDESTRIAN
    if ptc_type == "non-motor":
        return pb.OBJECT_CLASS_BICYCLE
    if ptc_type == "motor":
        return _motor_class(10 if vehicle_class is None else vehicle_class)
    return pb.OBJECT_CLASS_UNKNOWN


def _motor_class(basic: int) -> pb.ObjectClass.ValueType:
    # BasicVehicleClass decades: 20-35 trucks, 40-48 motorcycles, 50-58 buses.
    if 40 <= basic < 50:
        return pb.OBJECT_CLASS_MOTORCYCLE
    if 20 <= basic < 40 or 50 <= basic < 60:
        return pb.OBJECT_CLASS_TRUCK
    return pb.OBJECT_CLASS_CAR


def rsm_of(value: dict[str, Any]) -> DecodedRsm:
    """Our values of an asn1tools-decoded ``RoadsideSafetyMessage``."""
    reference = geo_point(value["refPos"])
    participants = []
    for item in value["participants"]:
        position = point_of(item["pos"]["offsetLL"], reference)
        east, north = metres_of(position, reference)
        motion = item.get("motionCfd", {})
        size = item["size"]
        height = size.get("height")
        vehicle_class = item.get("vehicleClass", {}).get("classification")
        participants.append(
            RsmParticipant(
                object_id=item["ptcId"],
                participant_type=item["ptcType"] or "unknown",
                object_class=_class_of(item["ptcType"], vehicle_class),
                source=item["source"] or "unknown",
                temporary_id=item.get("id"),
                sec_mark_ms=item["secMark"],
                position=position,
                east_m=east,
                north_m=north,
                position_accuracy_m=confidence_of(
                    item["posConfidence"]["pos"], POSITION_CONFIDENCE
                ),
                speed_mps=speed_of(item["speed"]),
                heading_rad=heading_of(item["heading"]),
                speed_accuracy_mps=confidence_of(motion.get("speedCfd"), SPEED_CONFIDENCE),
                heading_accuracy_rad=confidence_of(motion.get("headingCfd"), HEADING_CONFIDENCE),
                length_m=size["length"] * SIZE_UNIT_M,
                width_m=size["width"] * SIZE_UNIT_M,
                height_m=None if height is None else height * HEIGHT_UNIT_M,
                vehicle_class=vehicle_class,
            )
        )
    return DecodedRsm(
        msg_cnt=value["msgCnt"],
        rsu_id=value["id"],
        reference=reference,
        participants=tuple(participants),
    )


def to_object_list(rsm: DecodedRsm, *, intersection_id: int = 0) -> pb.ObjectList:
    """A fused ``pb.ObjectList`` of a received RSM: ``x_m``/``y_m`` east/north of its
    reference point; unavailable values as 0 (the pb convention for unknown)."""
    reference = rsm.reference
    objects = pb.ObjectList(
        sensor_id="fused",
        kind=pb.OBJECT_LIST_KIND_FUSED,
        cycle_counter=rsm.msg_cnt,
        intersection_id=intersection_id,
        sensor_position=pb.Position(
            latitude_deg=reference.latitude_deg,
            longitude_deg=reference.longitude_deg,
            altitude_m=reference.altitude_m or 0.0,
        ),
        sensor_heading_rad=math.pi / 2,
    )
    for p in rsm.participants:
        speed = p.speed_mps or 0.0
        accuracy = p.position_accuracy_m or 0.0
        item = objects.objects.add(
            object_id=p.object_id,
            object_class=p.object_class,
            x_m=p.east_m,
            y_m=p.north_m,
            vx_mps=speed * math.sin(p.heading_rad),
            vy_mps=speed * math.cos(p.heading_rad),
            speed_mps=speed,
            heading_rad=p.heading_rad,
            length_m=p.length_m,
            width_m=p.width_m,
            speed_accuracy_mps=p.speed_accuracy_mps or 0.0,
            heading_accuracy_rad=p.heading_accuracy_rad or 0.0,
            cooperative_id="" if p.temporary_id is None else "bsm:" + p.temporary_id.hex(),
        )
        item.position.latitude_deg = p.position.latitude_deg
        item.position.longitude_deg = p.position.longitude_deg
        item.position.horizontal_accuracy_m = accuracy
        item.position_covariance.east_east = accuracy**2
        item.position_covariance.north_north = accuracy**2
    return objects
