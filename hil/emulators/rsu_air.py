"""What a roadside unit puts on the air, from a scenario's ground truth: its intersection as MAP
and its static signs as RSI (1 Hz), the SPAT of a fixed-time signal plan and the road users it
sees as RSM participants (10 Hz). The C-V2X radio emulator sends these frames to the box as if
it heard a roadside unit.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from types import MappingProxyType

from edge.roadside.signal_plan import FixedTimePlan
from hil.world import GroundTruth
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    GeoPoint,
    encode_map,
    encode_rsi,
    encode_rsm,
    encode_spat,
    station_id_bytes,
)
from protocols.v2x.intersection_file import IntersectionDescription

RSU_STATION_ID = 0x5253_5500_0000_0065
"""The emulated roadside unit's 8-byte id (RSI and RSM ``id``)."""
FAST_PERIOD_S = 0.1  # SPAT and RSM: 10 Hz
SLOW_PERIOD_S = 1.0  # MAP and RSI: 1 Hz
_EARLY_S = 1e-6  # a tick on time by float arithmetic is not early
OBJECT_CLASSES = MappingProxyType(
    {
        "car": pb.OBJECT_CLASS_CAR,
        "truck": pb.OBJECT_CLASS_TRUCK,
        "pedestrian": pb.OBJECT_CLASS_PEDESTRIAN,
        "motorcycle": pb.OBJECT_CLASS_MOTORCYCLE,
        "bicycle": pb.OBJECT_CLASS_BICYCLE,
    }
)
"""An actor's kind -> its RSM participant class."""


class RsuAir:
    """The frames a roadside unit sends, per scenario time.

    ``intersection`` (MAP, and RSI of its signs when it has some), ``plan`` (SPAT; its cycle
    starts at scenario time 0) and ``rsm_actors`` (RSM; about the intersection's reference,
    else the world's origin) are each optional. ``frames(t_s, unix_s)`` returns what is due at
    ``t_s``: SPAT and RSM at most every 0.1 s, MAP and RSI at most every 1 s, each kind with
    its own ``msgCnt``. Raises ``ValueError`` for an actor not in ``truth``.
    """

    def __init__(
        self,
        truth: GroundTruth,
        *,
        intersection: IntersectionDescription | None = None,
        plan: FixedTimePlan | None = None,
        rsm_actors: Sequence[str] = (),
    ) -> None:
        unknown = [a for a in rsm_actors if a not in truth.actors]
        if unknown:
            raise ValueError(f"no actors {unknown} in the ground truth")
        self._truth = truth
        self._intersection = intersection
        self._plan = plan
        self._rsm_actors = tuple(rsm_actors)
        origin = truth.origin
        self.reference = (
            intersection.map.reference
            if intersection is not None
            else GeoPoint(origin.latitude_deg, origin.longitude_deg, origin.altitude_m)
        )
        self._rsu_id = station_id_bytes(RSU_STATION_ID)
        self._last: dict[str, float] = {}
        self._msg_cnt: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()  # RSM objects encode_rsm left out, by reason

    @property
    def active(self) -> bool:
        """Whether it sends anything at all."""
        return self._intersection is not None or self._plan is not None or bool(self._rsm_actors)

    def frames(self, t_s: float, unix_s: float) -> list[tuple[str, bytes]]:
        """(kind, frame) of every message due at scenario time ``t_s`` (Unix ``unix_s``)."""
        out: list[tuple[str, bytes]] = []
        if self._intersection is not None and self._due("map", t_s, SLOW_PERIOD_S):
            node = self._intersection.map
            out.append(("map", encode_map([node], msg_cnt=self._count("map"), unix_s=unix_s)))
            if self._intersection.signs:
                rsi = encode_rsi(
                    [],
                    list(self._intersection.signs),
                    reference=self.reference,
                    rsu_id=self._rsu_id,
                    msg_cnt=self._count("rsi"),
                    unix_s=unix_s,
                )
                out.append(("rsi", rsi))
        if self._plan is not None and self._due("spat", t_s, FAST_PERIOD_S):
            spat = self._plan.spat(t_s)
            out.append(("spat", encode_spat(spat, msg_cnt=self._count("spat"), unix_s=unix_s)))
        if self._rsm_actors and self._due("rsm", t_s, FAST_PERIOD_S):
            result = encode_rsm(
                self.objects(t_s),
                reference=self.reference,
                rsu_id=self._rsu_id,
                msg_cnt=self._msg_cnt["rsm"],
                unix_s=unix_s,
            )
            self._msg_cnt["rsm"] = (self._msg_cnt["rsm"] + len(result.frames)) % 128
            self.skipped.update(result.skipped)
            out += [("rsm", frame) for frame in result.frames]
        return out

    def objects(self, t_s: float) -> pb.ObjectList:
        """The RSM actors at ``t_s`` as a fused object list (object ids: their 1-based index)."""
        objects = pb.ObjectList(kind=pb.OBJECT_LIST_KIND_FUSED)
        for index, name in enumerate(self._rsm_actors):
            actor = self._truth.actors[name]
            state = actor.state_at(t_s)
            where = self._truth.origin.offset(state.east_m, state.north_m)
            item = objects.objects.add(
                object_id=index + 1,
                object_class=OBJECT_CLASSES.get(actor.kind, pb.OBJECT_CLASS_UNKNOWN),
                speed_mps=state.speed_mps,
                heading_rad=state.heading_rad % math.tau,
                length_m=actor.length_m,
                width_m=actor.width_m,
            )
            item.position.latitude_deg = where.latitude_deg
            item.position.longitude_deg = where.longitude_deg
            item.position.horizontal_accuracy_m = 0.5
        return objects

    def _due(self, kind: str, t_s: float, period_s: float) -> bool:
        last = self._last.get(kind)
        if last is not None and t_s - last < period_s - _EARLY_S:
            return False
        self._last[kind] = t_s
        return True

    def _count(self, kind: str) -> int:
        value = self._msg_cnt[kind]
        self._msg_cnt[kind] = (value + 1) % 128
        return value
