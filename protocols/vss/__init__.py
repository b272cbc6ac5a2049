"""Canonical vehicle signals: DBC signals mapped to COVESA VSS paths, with unit conversion."""

from protocols.vss.catalogue import VssCatalogue, VssLeaf, load_catalogue
from protocols.vss.errors import VssMappingError
from protocols.vss.mapping import (
    OVERRIDE_KEYS,
    SignalMapping,
    VssMapping,
    apply_mapping,
    load_mapping,
    shipped_mappings,
)
from protocols.vss.units import conversion_factor

__all__ = [
    "OVERRIDE_KEYS",
    "SignalMapping",
    "VssCatalogue",
    "VssLeaf",
    "VssMapping",
    "VssMappingError",
    "apply_mapping",
    "conversion_factor",
    "load_catalogue",
    "load_mapping",
    "shipped_mappings",
]
