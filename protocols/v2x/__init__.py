"""C-V2X messages: T/CSAE 53-2017 ``MessageFrame`` in UPER (BSM and SPAT out, any in)."""

from protocols.v2x.csae53 import (
    KINDS,
    decode_message_frame,
    encode_bsm,
    encode_spat,
    specification,
    station_id_bytes,
    time_fields,
    to_spat,
    to_vehicle_state,
)

__all__ = [
    "KINDS",
    "decode_message_frame",
    "encode_bsm",
    "encode_spat",
    "specification",
    "station_id_bytes",
    "time_fields",
    "to_spat",
    "to_vehicle_state",
]
