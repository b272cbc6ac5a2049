"""Radar object lists decoded from CAN (Continental ARS408-21)."""

from protocols.radar.ars408 import (
    Ars408ObjectListAssembler,
    RadarObject,
    RadarObjectList,
    ars408_database,
    encode_object_list,
)

__all__ = [
    "Ars408ObjectListAssembler",
    "RadarObject",
    "RadarObjectList",
    "ars408_database",
    "encode_object_list",
]
