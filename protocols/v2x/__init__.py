"""C-V2X messages: T/CSAE 53-2017 ``MessageFrame`` in UPER (BSM, MAP, SPAT, RSI and RSM out
and in), and the detection of what equipment puts before a frame (``framing``)."""

from protocols.v2x.bsm_extensions import (
    EVENT_FLAGS,
    RESPONSE_TYPES,
    BsmExtensions,
    is_emergency_vehicle,
    own_extensions,
)
from protocols.v2x.csae53 import (
    KINDS,
    decode_frame,
    decode_message_frame,
    encode_bsm,
    encode_frame,
    encode_spat,
    specification,
    station_id_bytes,
    time_fields,
    to_spat,
    to_vehicle_state,
)
from protocols.v2x.framing import Unwrapped, unwrap
from protocols.v2x.map import (
    DecodedMap,
    IntersectionMap,
    LaneConnection,
    MapLane,
    MapLink,
    decode_map,
    encode_map,
)
from protocols.v2x.retime import retime_v2x
from protocols.v2x.rsi import (
    DecodedRsi,
    RsiEvent,
    RsiSign,
    SignKind,
    StaticSign,
    decode_rsi,
    encode_rsi,
    to_traffic_events,
)
from protocols.v2x.rsm import (
    DecodedRsm,
    RsmFrames,
    RsmParticipant,
    decode_rsm,
    encode_rsm,
    to_object_list,
)
from protocols.v2x.units import GeoPoint

__all__ = [
    "EVENT_FLAGS",
    "KINDS",
    "RESPONSE_TYPES",
    "BsmExtensions",
    "DecodedMap",
    "DecodedRsi",
    "DecodedRsm",
    "GeoPoint",
    "IntersectionMap",
    "LaneConnection",
    "MapLane",
    "MapLink",
    "RsiEvent",
    "RsiSign",
    "RsmFrames",
    "RsmParticipant",
    "SignKind",
    "StaticSign",
    "Unwrapped",
    "decode_frame",
    "decode_map",
    "decode_message_frame",
    "decode_rsi",
    "decode_rsm",
    "encode_bsm",
    "encode_frame",
    "encode_map",
    "encode_rsi",
    "encode_rsm",
    "encode_spat",
    "is_emergency_vehicle",
    "own_extensions",
    "retime_v2x",
    "specification",
    "station_id_bytes",
    "time_fields",
    "to_object_list",
    "to_spat",
    "to_traffic_events",
    "to_vehicle_state",
    "unwrap",
]
