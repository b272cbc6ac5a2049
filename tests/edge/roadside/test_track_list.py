"""The fused tracks on the wire: positions where the local frame puts them, covariances and
accuracies as the tracker holds them, a heading only where the motion says one."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.geodesy import LocalFrame
from edge.roadside.intersection_tracker import FusedTracks
from edge.roadside.track_list import FUSED_CHECKED_FIELDS, fused_object_list
from protocols.envelope import non_finite_fields
from protocols.schema.sources import source_names
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.roadside.track_list_reference import object_by_object

FRAME = LocalFrame.at(34.2235, 108.8905, 410.0)


def fused(states: list[list[float]], velocity_var: float = 0.04) -> FusedTracks:
    n = len(states)
    cov = np.zeros((n, 4, 4))
    cov[:, 0, 0], cov[:, 1, 1], cov[:, 0, 1], cov[:, 1, 0] = 0.25, 1.0, 0.1, 0.1
    cov[:, 2, 2] = cov[:, 3, 3] = velocity_var
    return FusedTracks(
        time_s=100.0,
        ids=np.arange(1, n + 1, dtype=np.int64),
        states=np.array(states, dtype=np.float64).reshape(n, 4),
        covariances=cov,
        object_class=np.full(n, pb.OBJECT_CLASS_CAR, np.int64),
        length_m=np.full(n, 4.5),
        width_m=np.full(n, 1.8),
        age_s=np.full(n, 3.0),
        coasting=np.zeros(n, np.bool_),
        hit_ratio=np.ones(n),
        source_mask=np.full(n, 0b11, np.int64),
        cooperative_ids=("veh-001",) + ("",) * (n - 1),
    )


def test_a_fused_list_says_what_it_is_and_where_its_objects_are() -> None:
    tracks = fused([[30.0, -40.0, 0.0, 10.0], [0.0, 0.0, 0.0, 0.0]])
    out = fused_object_list(
        tracks, FRAME, intersection_id=7, sensor_ids=("west", "east"), cycle_counter=2**32 + 5
    )
    assert out.kind == pb.OBJECT_LIST_KIND_FUSED
    assert (out.sensor_id, out.intersection_id, out.cycle_counter) == ("fused", 7, 5)
    assert list(out.sensor_ids) == ["west", "east"]
    assert out.sensor_heading_rad == pytest.approx(math.pi / 2)  # x east, y north
    moving, parked = out.objects
    enu = FRAME.geodetic_to_enu(
        moving.position.latitude_deg, moving.position.longitude_deg, moving.position.altitude_m
    )
    assert (float(enu.east_m), float(enu.north_m)) == pytest.approx((30.0, -40.0), abs=1e-6)
    assert (moving.x_m, moving.y_m, moving.vy_mps) == (30.0, -40.0, 10.0)
    assert moving.speed_mps == pytest.approx(10.0)
    assert moving.heading_rad == pytest.approx(0.0, abs=1e-12)  # due north
    assert moving.speed_accuracy_mps == pytest.approx(0.2)
    assert moving.heading_accuracy_rad == pytest.approx(0.2 / 10.0)
    c = moving.position_covariance
    assert (c.east_east, c.east_north, c.north_north) == (0.25, 0.1, 1.0)
    major = np.linalg.eigvalsh(np.array([[0.25, 0.1], [0.1, 1.0]]))[-1]
    assert moving.position.horizontal_accuracy_m == pytest.approx(math.sqrt(major))
    assert (moving.cooperative_id, parked.cooperative_id) == ("veh-001", "")
    assert source_names(moving.source_mask, out.sensor_ids) == ("west", "east")
    assert not moving.source_sensors  # superseded by the mask
    assert moving.age_s == 3.0
    # At rest the direction of motion is unknown: heading 0 with accuracy 0 ("unknown").
    assert (parked.heading_rad, parked.heading_accuracy_rad) == (0.0, 0.0)
    assert parked.speed_accuracy_mps == pytest.approx(0.2)


def test_a_speed_within_its_noise_gives_no_heading() -> None:
    slow = fused([[0.0, 0.0, 0.3, 0.0]], velocity_var=0.25)  # 0.3 m/s, sigma 0.5 m/s
    (obj,) = fused_object_list(
        slow, FRAME, intersection_id=0, sensor_ids=(), cycle_counter=0
    ).objects
    assert obj.heading_accuracy_rad == 0.0


def test_no_tracks_is_an_empty_fused_list() -> None:
    out = fused_object_list(
        fused([]), FRAME, intersection_id=1, sensor_ids=("west",), cycle_counter=1
    )
    assert out.kind == pb.OBJECT_LIST_KIND_FUSED
    assert not out.objects


@st.composite
def fused_tracks(draw: st.DrawFn) -> FusedTracks:
    """Any confirmed tracks the tracker could hand over, ids and masks at their edges."""
    n = draw(st.integers(0, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(n, 4, 4))
    return FusedTracks(
        time_s=1.0,
        ids=np.array(draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n)), np.int64),
        states=rng.normal(scale=50.0, size=(n, 4)),
        covariances=root @ root.transpose(0, 2, 1),
        object_class=rng.integers(0, 8, n),
        length_m=rng.uniform(0.0, 20.0, n),
        width_m=rng.uniform(0.0, 3.0, n),
        age_s=rng.uniform(0.0, 600.0, n),
        coasting=rng.random(n) < 0.5,
        hit_ratio=rng.uniform(0.0, 1.0, n),
        source_mask=np.array(
            draw(st.lists(st.integers(0, 2**63 - 1), min_size=n, max_size=n)), np.int64
        ),
        cooperative_ids=tuple(
            draw(
                st.lists(
                    st.sampled_from(["", "", "veh-7", "\u9655A-12345"]), min_size=n, max_size=n
                )
            )
        ),
    )


@settings(max_examples=100, deadline=None)
@given(fused_tracks(), st.integers(0, 2**33))
def test_the_list_is_the_one_protobuf_builds_object_by_object(
    tracks: FusedTracks, counter: int
) -> None:
    kwargs = {"intersection_id": 9, "sensor_ids": ("a", "b"), "cycle_counter": counter}
    out = fused_object_list(tracks, FRAME, **kwargs)  # type: ignore[arg-type]
    expected = object_by_object(tracks, FRAME, **kwargs)  # type: ignore[arg-type]
    assert out.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )


@settings(max_examples=100, deadline=None)
@given(fused_tracks(), st.data())
def test_a_track_with_a_value_not_finite_is_left_out_and_the_rest_are_as_built(
    tracks: FusedTracks, data: st.DataObject
) -> None:
    arrays = {
        "states": tracks.states,
        "covariances": tracks.covariances,
        "length_m": tracks.length_m,
        "width_m": tracks.width_m,
        "age_s": tracks.age_s,
        "hit_ratio": tracks.hit_ratio,
    }
    for _ in range(data.draw(st.integers(0, 4)) if len(tracks) else 0):
        name = data.draw(st.sampled_from(sorted(arrays)))
        flat = arrays[name].reshape(len(tracks), -1)
        row, col = (
            data.draw(st.integers(0, len(tracks) - 1)),
            data.draw(st.integers(0, flat.shape[1] - 1)),
        )
        flat[row, col] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    kwargs = {"intersection_id": 9, "sensor_ids": ("a", "b"), "cycle_counter": 1}
    out = fused_object_list(tracks, FRAME, **kwargs)  # type: ignore[arg-type]
    assert non_finite_fields(out) == []
    finite = [
        all(np.isfinite(array.reshape(len(tracks), -1)[i]).all() for array in arrays.values())
        for i in range(len(tracks))
    ]
    kept = np.flatnonzero(np.array(finite, dtype=bool))
    rows = {name: getattr(tracks, name)[kept] for name in ("ids", "object_class", "coasting")}
    rows |= {name: array[kept] for name, array in arrays.items()}
    rows["source_mask"] = tracks.source_mask[kept]
    ids = tuple(tracks.cooperative_ids[i] for i in kept.tolist())
    expected = object_by_object(
        dataclasses.replace(tracks, **rows, cooperative_ids=ids),
        FRAME,
        **kwargs,  # type: ignore[arg-type]
    )
    assert out.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )
    assert {"objects"} == FUSED_CHECKED_FIELDS
