"""Radar object lists in, the intersection's fused object list out: what the roadside unit's
pipeline calls for each completed radar cycle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from edge.geodesy import LocalFrame
from edge.roadside.intersection_tracker import IntersectionTracker, RadarScan
from edge.roadside.object_fusion import ARS408_CLASS
from edge.roadside.track_list import FUSED_CHECKED_FIELDS, fused_object_list
from protocols.radar.objects import RadarObject, RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb


class IntersectionFusion:
    """Feeds each radar's lists (by its configured sensor name) to the intersection's tracker
    and returns the fused list with its capture time: the cycle's (a radar list slightly
    late is moved forward to the newest list's time), in Unix nanoseconds.

    ``counters``: ``cycles`` run, ``objects`` published, ``tracks`` in the last fused list
    (a gauge), ``non_finite_objects`` (tracks left out of a list: a value not finite) and
    the tracker's rejects as ``rejects.<reason>``."""

    checked_fields = FUSED_CHECKED_FIELDS

    def __init__(
        self, tracker: IntersectionTracker, frame: LocalFrame, *, intersection_id: int
    ) -> None:
        self._tracker = tracker
        self._frame = frame
        self._intersection_id = intersection_id
        self._counts: Counter[str] = Counter()
        self._tracks = 0  # in the last fused list

    @property
    def counters(self) -> Mapping[str, int]:
        out = dict(self._counts)
        out["tracks"] = self._tracks
        out.update({f"rejects.{k}": v for k, v in self._tracker.rejected.items()})
        return out

    def on_list(self, sensor: str, radar_list: RadarObjectList) -> tuple[pb.ObjectList, int] | None:
        """Run one tracker cycle on ``radar_list`` from radar ``sensor``; return the fused
        list and its capture time (ns), or None when the list could not be used (counted)."""
        fused = self._tracker.step(to_scan(sensor, radar_list))
        if fused is None:
            return None
        self._counts["cycles"] += 1
        self._tracks = len(fused)
        objects = fused_object_list(
            fused,
            self._frame,
            intersection_id=self._intersection_id,
            sensor_ids=self._tracker.sensor_ids,
            cycle_counter=self._counts["cycles"],
        )
        self._counts["objects"] += len(objects.objects)
        if len(objects.objects) < len(fused):
            self._counts["non_finite_objects"] += len(fused) - len(objects.objects)
        return objects, int(fused.time_s * 1e9)


def to_scan(sensor: str, radar_list: RadarObjectList) -> RadarScan:
    """One radar cycle as a tracker scan (unknown sizes NaN, classes as ``pb.ObjectClass``)."""
    objects = radar_list.objects
    # Objects are named tuples: transposed at once; numpy makes None NaN in a float array.
    fields = tuple(zip(*objects, strict=True)) if objects else ((),) * len(RadarObject._fields)
    values = np.array([fields[at] for at in _SCAN_FIELDS], dtype=np.float64)
    unknown = pb.OBJECT_CLASS_UNKNOWN
    classes = np.array(
        [ARS408_CLASS.get(code, unknown) for code in fields[_CLASS]],  # None: unknown
        dtype=np.int64,
    )
    return RadarScan(
        sensor_id=sensor,
        time_s=radar_list.timestamp,
        x_m=values[0],
        y_m=values[1],
        vx_mps=values[2],
        vy_mps=values[3],
        object_class=classes,
        length_m=values[4],
        width_m=values[5],
    )


_SCAN_FIELDS = tuple(
    RadarObject._fields.index(name)
    for name in (
        "dist_long_m",
        "dist_lat_m",
        "vrel_long_mps",
        "vrel_lat_mps",
        "length_m",
        "width_m",
    )
)
_CLASS = RadarObject._fields.index("obj_class")
