"""The intersection tracker against ground truth: one id per object across radars, honest
covariances, coverage-aware misses, class hysteresis, late and bad lists."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from edge.roadside.cooperative import (
    CooperativeAssociator,
    CooperativeReport,
    CooperativeSettings,
)
from edge.roadside.intersection_tracker import (
    COOPERATIVE_SOURCE,
    FusedTracks,
    IntersectionSettings,
    IntersectionTracker,
    RadarScan,
)
from edge.tracking.builders import gnn_tracker
from edge.tracking.motion_models import ConstantVelocity
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.edge.roadside.radar_truth import Targets, site

CYCLE_S = 0.072
WEST = site("west", -40.0, 0.0, 90.0)  # looking east
EAST = site("east", 40.0, 0.0, 270.0)  # looking west


def tracker(*sites: object, settings: IntersectionSettings | None = None) -> IntersectionTracker:
    chosen = sites or (WEST, EAST)
    return IntersectionTracker(
        chosen,  # type: ignore[arg-type]
        gnn_tracker(ConstantVelocity()),
        settings=settings,
    )


def run(
    it: IntersectionTracker,
    targets: Targets,
    duration_s: float,
    rng: np.random.Generator,
    p_detect: float = 0.95,
) -> list[FusedTracks]:
    """Both radars at the ARS408's cycle, offset by half a cycle."""
    out = []
    for k in range(int(duration_s / CYCLE_S)):
        for radar, offset in ((WEST, 0.0), (EAST, CYCLE_S / 2)):
            fused = it.step(targets.scan(radar, k * CYCLE_S + offset, rng, p_detect))
            assert fused is not None
            out.append(fused)
    return out


def matches(fused: FusedTracks, truth: np.ndarray, gate_m: float = 4.0) -> list[tuple[int, int]]:
    """(truth row, track row) pairs of a global nearest assignment within ``gate_m``."""
    if len(fused) == 0 or truth.shape[0] == 0:
        return []
    d = np.linalg.norm(truth[:, None, :] - fused.states[None, :, :2], axis=2)
    r, c = linear_sum_assignment(d)
    return [(int(i), int(j)) for i, j in zip(r, c, strict=True) if d[i, j] <= gate_m]


CROSSING = Targets(
    start=np.array([[-20.0, 20.0], [25.0, -20.0], [-5.0, -30.0]]),
    velocity=np.array([[8.0, 0.0], [-7.0, 0.0], [0.0, 6.0]]),
)


def test_each_object_keeps_one_id_across_both_radars_and_the_covariance_covers_the_truth() -> None:
    rng = np.random.default_rng(7)
    it = tracker()
    history = run(it, CROSSING, 5.0, rng)
    ids_of: dict[int, set[int]] = {0: set(), 1: set(), 2: set()}
    nees = []
    for fused in history[30:]:  # after confirmation
        truth = CROSSING.at(fused.time_s)
        pairs = matches(fused, truth)
        assert len(pairs) == 3, f"at {fused.time_s:.2f} s only {len(pairs)} of 3 objects tracked"
        assert len(fused) == 3, f"at {fused.time_s:.2f} s {len(fused)} tracks for 3 objects"
        for i, j in pairs:
            ids_of[i].add(int(fused.ids[j]))
            err = fused.states[j, :2] - truth[i]
            nees.append(float(err @ np.linalg.solve(fused.covariances[j, :2, :2], err)))
        assert (fused.source_mask == 0b11).all()  # both radars, "west" and "east"
    assert all(len(ids) == 1 for ids in ids_of.values()), ids_of
    # Two degrees of freedom: mean NEES 2; 95 % of errors inside the 95 % ellipse.
    mean = float(np.mean(nees))
    assert 1.0 < mean < 3.0, f"position NEES {mean:.2f}: the covariance is not honest"
    inside = float(np.mean(np.array(nees) <= -2 * math.log(0.05)))
    assert inside >= 0.9, f"only {inside:.0%} of errors inside the 95 % ellipse"


def test_an_object_only_one_radar_sees_is_confirmed_and_kept() -> None:
    # West of the west radar's view is nothing; far east only the west radar's far beam
    # reaches: a target 150 m east on the boresight is the west radar's alone.
    lone = Targets(start=np.array([[110.0, 0.0]]), velocity=np.array([[2.0, 0.0]]))
    assert WEST.covers(lone.at(0.0)).all()
    assert not EAST.covers(lone.at(0.0)).any()
    rng = np.random.default_rng(3)
    history = run(tracker(), lone, 4.0, rng, p_detect=1.0)
    tail = history[len(history) // 2 :]
    assert all(len(f) == 1 for f in tail), [len(f) for f in tail]
    assert len({int(f.ids[0]) for f in tail}) == 1
    assert tail[-1].source_mask.tolist() == [0b01]  # "west" only


def test_a_vehicle_only_its_own_reports_show_has_the_cooperative_source() -> None:
    vehicles = CooperativeAssociator(CooperativeSettings())
    it = IntersectionTracker((WEST, EAST), gnn_tracker(ConstantVelocity()), cooperative=vehicles)
    assert it.sensor_ids == ("west", "east", COOPERATIVE_SOURCE)
    eye = np.eye(2)
    report = CooperativeReport("veh-9", 10.0, np.zeros(2), np.zeros(2), eye, eye, 4.5, 1.8)
    vehicles.offer(report)
    nobody = Targets(np.empty((0, 2)), np.empty((0, 2)))
    fused = it.step(nobody.scan(WEST, 10.0, np.random.default_rng(0)))
    assert fused is not None
    assert fused.cooperative_ids == ("veh-9",)
    assert fused.source_mask.tolist() == [0b100]  # neither radar: the vehicle's report


def test_a_radar_cannot_take_the_cooperative_sources_name() -> None:
    with pytest.raises(ValueError, match="own reports"):
        IntersectionTracker(
            (site(COOPERATIVE_SOURCE, 0.0, 0.0, 90.0),),
            gnn_tracker(ConstantVelocity()),
            cooperative=CooperativeAssociator(CooperativeSettings()),
        )


def test_a_track_that_leaves_every_field_of_view_ends() -> None:
    leaving = Targets(start=np.array([[0.0, 20.0]]), velocity=np.array([[0.0, 15.0]]))
    rng = np.random.default_rng(5)
    history = run(tracker(), leaving, 6.0, rng, p_detect=1.0)
    assert len(history[20]) == 1  # seen while it crossed
    assert not (WEST.covers(leaving.at(6.0)) | EAST.covers(leaving.at(6.0))).any()
    assert len(history[-1]) == 0, "a track outside every radar's view was kept"


def test_one_odd_classification_does_not_flip_the_class_but_a_lasting_one_does() -> None:
    rng = np.random.default_rng(11)
    car = Targets(start=np.array([[-10.0, 10.0]]), velocity=np.array([[3.0, 0.0]]))
    it = tracker()
    for k in range(40):
        scan = car.scan(WEST, k * CYCLE_S, rng, 1.0)
        if k == 25:  # a single cycle calls it a truck
            scan = _with_class(scan, pb.OBJECT_CLASS_TRUCK)
        fused = it.step(scan)
    assert fused is not None
    assert fused.object_class.tolist() == [pb.OBJECT_CLASS_CAR]
    for k in range(40, 60):
        fused = it.step(_with_class(car.scan(WEST, k * CYCLE_S, rng, 1.0), pb.OBJECT_CLASS_TRUCK))
    assert fused is not None
    assert fused.object_class.tolist() == [pb.OBJECT_CLASS_TRUCK]
    assert fused.length_m[0] == pytest.approx(4.5)


def _with_class(scan: RadarScan, object_class: int) -> RadarScan:
    return RadarScan(
        scan.sensor_id,
        scan.time_s,
        scan.x_m,
        scan.y_m,
        scan.vx_mps,
        scan.vy_mps,
        np.full(len(scan), object_class, np.int64),
        scan.length_m,
        scan.width_m,
    )


def test_a_slightly_late_list_is_moved_forward_and_a_very_late_one_counted() -> None:
    rng = np.random.default_rng(2)
    one = Targets(start=np.array([[-10.0, 10.0]]), velocity=np.array([[10.0, 0.0]]))
    it = tracker()
    for k in range(20):
        assert it.step(one.scan(WEST, k * CYCLE_S, rng, 1.0)) is not None
    now = 19 * CYCLE_S
    late = it.step(one.scan(EAST, now - 0.1, rng, 1.0))
    assert late is not None
    assert late.time_s == now
    assert np.linalg.norm(late.states[0, :2] - one.at(now)) < 2.0
    assert it.step(one.scan(EAST, now - 1.0, rng, 1.0)) is None
    assert it.rejected["late_scan"] == 1
    # The clock stepped back a minute: start afresh rather than ignore every list.
    assert it.step(one.scan(WEST, now - 60.0, rng, 1.0)) is not None
    assert it.rejected["clock_reset"] == 1


def test_unknown_sensors_and_ragged_scans_are_counted() -> None:
    it = tracker()
    empty = np.empty(0)
    ragged = RadarScan("west", 0.0, np.zeros(2), np.zeros(1), empty, empty, empty.astype(np.int64),
                       empty, empty)  # fmt: skip
    assert it.step(ragged) is None
    stranger = RadarScan("north", 0.0, empty, empty, empty, empty, empty.astype(np.int64),
                         empty, empty)  # fmt: skip
    assert it.step(stranger) is None
    assert it.rejected == {"inconsistent_scan": 1, "unknown_sensor": 1}


def test_sites_need_distinct_ids() -> None:
    with pytest.raises(ValueError, match="distinct"):
        tracker(WEST, WEST)
