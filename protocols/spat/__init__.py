"""Signal-controller SPaT: the NTCIP 1202 SPaT broadcast (TSCBM) in, ``SignalPhaseTiming`` out."""

from protocols.spat.tscbm import (
    DEFAULT_PORT,
    SIZE,
    PhaseTiming,
    StatusGroups,
    TscbmMessage,
    decode_tscbm,
    encode_tscbm,
    phase_bitmap,
    to_spat,
)

__all__ = [
    "DEFAULT_PORT",
    "SIZE",
    "PhaseTiming",
    "StatusGroups",
    "TscbmMessage",
    "decode_tscbm",
    "encode_tscbm",
    "phase_bitmap",
    "to_spat",
]
