"""A radar list becomes a tracker scan: sizes not sent are NaN, classes the
ARS408 does not name (or does not send) unknown."""

from __future__ import annotations

import math

import numpy as np

from edge.roadside.fused_objects import to_scan
from protocols.radar.objects import RadarObject, RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb


def test_a_radar_list_becomes_a_scan_with_nan_for_sizes_not_sent() -> None:
    objects = (
        RadarObject(7, 30.0, -2.5, 10.0, 0.5, 0, 5.0, obj_class=1, length_m=4.4, width_m=1.8),
        RadarObject(8, 12.0, 3, -1.0, 0.0, 7, None, obj_class=None),
        RadarObject(9, 50.5, 0.0, 0.0, -0.25, 1, None, obj_class=99, length_m=None, width_m=0.6),
    )
    scan = to_scan("north", RadarObjectList(0, 3, 1_772_446_542.5, objects))
    assert (scan.sensor_id, scan.time_s, len(scan)) == ("north", 1_772_446_542.5, 3)
    np.testing.assert_array_equal(scan.x_m, [30.0, 12.0, 50.5])
    np.testing.assert_array_equal(scan.y_m, [-2.5, 3.0, 0.0])
    np.testing.assert_array_equal(scan.vx_mps, [10.0, -1.0, 0.0])
    np.testing.assert_array_equal(scan.vy_mps, [0.5, 0.0, -0.25])
    np.testing.assert_array_equal(scan.length_m, [4.4, math.nan, math.nan])
    np.testing.assert_array_equal(scan.width_m, [1.8, math.nan, 0.6])
    assert scan.x_m.dtype == scan.length_m.dtype == np.float64
    assert scan.object_class.dtype == np.int64
    unknown = pb.OBJECT_CLASS_UNKNOWN
    assert scan.object_class.tolist() == [pb.OBJECT_CLASS_CAR, unknown, unknown]


def test_an_empty_radar_list_is_an_empty_scan() -> None:
    scan = to_scan("north", RadarObjectList(0, 4, 1.0, ()))
    assert len(scan) == 0
    assert scan.x_m.shape == scan.width_m.shape == scan.object_class.shape == (0,)
