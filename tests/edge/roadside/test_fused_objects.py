"""A radar list becomes a tracker scan: sizes not sent are NaN, classes the
ARS408 does not name (or does not send) unknown."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.roadside.fused_objects import to_scan
from edge.roadside.object_fusion import ARS408_CLASS
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


_maybe = st.none() | st.floats(0.0, 30.0)
_objects = st.builds(
    RadarObject,
    object_id=st.integers(0, 255),
    dist_long_m=st.floats(-500.0, 500.0),
    dist_lat_m=st.floats(-200.0, 200.0),
    vrel_long_mps=st.floats(-128.0, 128.0),
    vrel_lat_mps=st.floats(-64.0, 64.0),
    dyn_prop=st.integers(0, 7),
    rcs_dbsm=_maybe,
    obj_class=st.none() | st.integers(-1, 9),
    length_m=_maybe,
    width_m=_maybe,
)


@given(st.lists(_objects, max_size=30))
def test_a_scan_holds_each_objects_values_in_order(objects: list[RadarObject]) -> None:
    scan = to_scan("east", RadarObjectList(1, 2, 3.0, tuple(objects)))

    def column(name: str) -> list[float]:
        return [math.nan if getattr(o, name) is None else getattr(o, name) for o in objects]

    for got, name in [
        (scan.x_m, "dist_long_m"),
        (scan.y_m, "dist_lat_m"),
        (scan.vx_mps, "vrel_long_mps"),
        (scan.vy_mps, "vrel_lat_mps"),
        (scan.length_m, "length_m"),
        (scan.width_m, "width_m"),
    ]:
        np.testing.assert_array_equal(got, np.array(column(name), dtype=np.float64).reshape(-1))
    unknown = pb.OBJECT_CLASS_UNKNOWN
    assert scan.object_class.tolist() == [
        ARS408_CLASS.get(o.obj_class, unknown) if o.obj_class is not None else unknown
        for o in objects
    ]
