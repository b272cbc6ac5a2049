"""Radar object lists decoded from CAN, per radar definition (``ars408.toml``,
``delphi_esr.toml``): Continental ARS408-21 and Delphi ESR."""

from protocols.radar.ars408 import (
    Ars408ObjectListAssembler,
    ars408_database,
    ars408_definition,
    encode_object_list,
)
from protocols.radar.assembler import RadarObjectListAssembler
from protocols.radar.definition import (
    RadarDefinition,
    RadarDefinitionError,
    load_radar_definition,
    shipped_definition,
)
from protocols.radar.objects import RadarObject, RadarObjectList

__all__ = [
    "Ars408ObjectListAssembler",
    "RadarDefinition",
    "RadarDefinitionError",
    "RadarObject",
    "RadarObjectList",
    "RadarObjectListAssembler",
    "ars408_database",
    "ars408_definition",
    "encode_object_list",
    "load_radar_definition",
    "shipped_definition",
]
