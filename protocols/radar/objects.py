"""The radar object list every radar definition assembles into: x forward, y left, SI units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class RadarObject(NamedTuple):
    """One object of a cycle, in the radar frame (x forward, y left), SI units.

    A named tuple, not a frozen dataclass: the assembler makes a hundred a radar cycle, and
    a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (five
    times the cost of a tuple's).

    ``dyn_prop`` and ``obj_class`` are codes of the ARS408 DBC (e.g. class 1 = car; a radar
    without them gets the constant its definition gives); ``prob_of_exist_code`` is the
    ARS408 code (0 invalid, 1 <25% ... 7 <=100%). Optional fields are None when the radar
    does not send them (``rcs_dbsm`` too: a radar that reports no RCS). Every value the
    assembler produces is finite.
    """

    object_id: int
    dist_long_m: float
    dist_lat_m: float
    vrel_long_mps: float
    vrel_lat_mps: float
    dyn_prop: int
    rcs_dbsm: float | None
    obj_class: int | None = None
    length_m: float | None = None
    width_m: float | None = None
    prob_of_exist_code: int | None = None


@dataclass(frozen=True)
class RadarObjectList:
    """All objects of one radar cycle; ``timestamp`` is that of the cycle's header frame,
    ``completed_at`` that of the frame that completed the list (None where not known), which
    orders lists of several radars on one bus as they completed there."""

    sensor_id: int
    cycle_counter: int
    timestamp: float
    objects: tuple[RadarObject, ...]
    completed_at: float | None = None
