"""V2X over the box's C-V2X radio: T/CSAE 53 messages out (BSM, SPAT), received ones counted."""

from edge.v2x.radio import V2xRadio

__all__ = ["V2xRadio"]
