"""The ``fused_tracks`` expectation against synthetic recordings of fused track lists: it passes
on lists that follow the scene and fails, saying what it measured, on swapped ids, offset
positions, false tracks, non-finite values and missing lists."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.geodesy import LocalFrame
from firmware_py.simulation.scenes import (
    EAST,
    RadarMount,
    Scene,
    cruise,
    moving,
    path,
    turning_cars,
)
from firmware_py.simulation.world import INTERSECTION
from hil.clock import ScenarioClock
from hil.recording import Received, Recording
from hil.scenario_engine import ExpectFusedTracks, Verdict
from hil.scenario_engine.expectations_tracking import Coverage
from hil.world import GroundTruth
from protocols.schema.v1 import roadgate_pb2 as pb

DEVICE = "rsu-001"
CLOCK = ScenarioClock(t0_monotonic=0.0, t0_unix=1_700_000_000.0)
CYCLE_S = 0.072
# The unit's reference point 30 m east and 20 m north of the bench's origin: its x_m/y_m are
# not scene coordinates, its latitudes and longitudes are.
REFERENCE = LocalFrame.of(INTERSECTION.offset(30.0, 20.0))
ORIGIN = LocalFrame.of(INTERSECTION)

# (time, truth ids, truth positions (K, 2) in the scene frame) -> (track ids, positions (K, 2))
Tracker = Callable[[float, np.ndarray, np.ndarray], tuple[list[int], np.ndarray]]


def follow(t_s: float, ids: np.ndarray, positions: np.ndarray) -> tuple[list[int], np.ndarray]:
    """A perfect tracker: one track per object, id 100 + truth id."""
    return [100 + int(i) for i in ids], positions


def record(
    scene: Scene,
    tracker: Tracker = follow,
    *,
    only_covered: bool = True,
    kind: pb.ObjectListKind.ValueType = pb.OBJECT_LIST_KIND_FUSED,
    spoil: Callable[[float, pb.ObjectList], None] | None = None,
) -> Recording:
    """A run's recording: a fused list every cycle holding what ``tracker`` makes of the truth
    objects some radar covers (all of them without ``only_covered``)."""
    recording = Recording("test", DEVICE, CLOCK, GroundTruth(INTERSECTION, {}, scene), 16.0)
    coverage = Coverage(scene)
    for seq, t in enumerate(np.arange(0.0, scene.duration_s, CYCLE_S), start=1):
        t = float(t)
        truth_ids, truth_positions, _ = scene.truth_at(t)
        if only_covered:
            covered = coverage.covered(truth_positions)
            truth_ids, truth_positions = truth_ids[covered], truth_positions[covered]
        track_ids, positions = tracker(t, truth_ids, truth_positions)
        envelope = pb.Envelope(
            schema_version=1,
            device_id=DEVICE,
            boot_id="boot-1",
            sequence=seq,
            capture_time_ns=round((CLOCK.t0_unix + t) * 1e9),
        )
        envelope.object_list.CopyFrom(fused_list(track_ids, positions, kind))
        if spoil is not None:
            spoil(t, envelope.object_list)
        recording.messages.append(
            Received(t + 0.05, f"rg/v1/hil/{DEVICE}/objects", "objects", DEVICE, False, envelope)
        )
    return recording


def fused_list(
    ids: list[int], positions: np.ndarray, kind: pb.ObjectListKind.ValueType
) -> pb.ObjectList:
    out = pb.ObjectList(sensor_id="fused", kind=kind, sensor_heading_rad=math.pi / 2)
    if not ids:
        return out
    lat, lon, alt = ORIGIN.enu_to_geodetic(positions[:, 0], positions[:, 1], 0.0)
    east, north, _ = REFERENCE.geodetic_to_enu(lat, lon, alt)
    for k, object_id in enumerate(ids):
        obj = out.objects.add(object_id=object_id, x_m=float(east[k]), y_m=float(north[k]))
        obj.position.latitude_deg = float(lat[k])
        obj.position.longitude_deg = float(lon[k])
        obj.position.altitude_m = float(alt[k])
        obj.position_covariance.east_east = obj.position_covariance.north_north = 0.25
    return out


def check(expectation: ExpectFusedTracks, recording: Recording) -> Verdict:
    verdict = expectation.check(recording)
    assert verdict.expectation == expectation.label()
    assert "check failed" not in verdict.measured
    return verdict


TURNING = turning_cars()
EXPECT = ExpectFusedTracks(after_s=1.0, until_s=16.0, max_gospa=0.5, max_false_mean=0.1)


def test_tracks_that_follow_the_truth_pass_with_what_was_measured() -> None:
    verdict = check(EXPECT, record(TURNING))
    assert verdict.passed, verdict.measured
    assert "coverage 100.0 %" in verdict.measured
    assert "id switches 0" in verdict.measured
    assert "mean GOSPA 0.00 m" in verdict.measured
    assert "false tracks 0.00/list" in verdict.measured
    # Lists from 1 s to 16 s, each checking every covered car present then.
    lists = sum(1.0 <= t <= 16.0 for t in np.arange(0.0, TURNING.duration_s, CYCLE_S))
    assert f"{lists} lists" in verdict.measured


def test_swapped_ids_are_id_switches() -> None:
    def swap_after_8_s(
        t: float, ids: np.ndarray, positions: np.ndarray
    ) -> tuple[list[int], np.ndarray]:
        track_ids, _ = follow(t, ids, positions)
        if t >= 8.0:
            track_ids = [{101: 102, 102: 101}.get(i, i) for i in track_ids]
        return track_ids, positions

    verdict = check(EXPECT, record(TURNING, swap_after_8_s))
    assert not verdict.passed
    assert verdict.measured.startswith("id switches 2 > 0 (")
    assert "coverage 100.0 %" in verdict.measured
    lenient = check(
        ExpectFusedTracks(after_s=1.0, max_id_switches=2), record(TURNING, swap_after_8_s)
    )
    assert lenient.passed, lenient.measured


def test_positions_off_by_more_than_the_tolerance_are_neither_coverage_nor_right() -> None:
    def east_by(offset_m: float) -> Tracker:
        def tracker(
            t: float, ids: np.ndarray, positions: np.ndarray
        ) -> tuple[list[int], np.ndarray]:
            return follow(t, ids, positions + np.array([offset_m, 0.0]))

        return tracker

    far = check(EXPECT, record(TURNING, east_by(2.5)))
    assert not far.passed
    assert "coverage 0.0 % < 90 %" in far.measured
    assert "false tracks" in far.measured.split(" (")[0]
    near = check(ExpectFusedTracks(after_s=1.0), record(TURNING, east_by(1.5)))
    assert near.passed, near.measured
    assert "position RMSE 1.50 m" in near.measured
    # GOSPA sums over the objects: 1.5 m off on each of one to three cars.
    gospa = check(ExpectFusedTracks(after_s=1.0, max_gospa=1.4), record(TURNING, east_by(1.5)))
    assert not gospa.passed
    measured = re.match(r"^mean GOSPA ([\d.]+) m > 1\.4 m \(", gospa.measured)
    assert measured is not None, gospa.measured
    assert 1.5 <= float(measured.group(1)) <= 1.5 * math.sqrt(3)


def test_a_false_track_in_every_list_is_counted_per_list() -> None:
    def ghost(t: float, ids: np.ndarray, positions: np.ndarray) -> tuple[list[int], np.ndarray]:
        track_ids, _ = follow(t, ids, positions)
        return [*track_ids, 999], np.vstack((positions, [[-20.0, 25.0]]))

    verdict = check(ExpectFusedTracks(after_s=1.0, max_false_mean=0.1), record(TURNING, ghost))
    assert not verdict.passed
    assert verdict.measured.startswith("false tracks 1.00/list > 0.1 (")
    assert "coverage 100.0 %" in verdict.measured


def test_missing_tracks_lower_the_coverage() -> None:
    def without_car_1(
        t: float, ids: np.ndarray, positions: np.ndarray
    ) -> tuple[list[int], np.ndarray]:
        keep = ids != 1
        return follow(t, ids[keep], positions[keep])

    verdict = check(EXPECT, record(TURNING, without_car_1))
    assert not verdict.passed
    coverage = float(re.search(r"coverage ([\d.]+) % <", verdict.measured).group(1))  # type: ignore[union-attr]
    assert 40.0 < coverage < 90.0


def test_non_finite_values_fail_and_are_counted() -> None:
    def nan_x_at_5_s(t: float, object_list: pb.ObjectList) -> None:
        if 5.0 <= t < 5.0 + CYCLE_S:
            object_list.objects[0].x_m = math.nan

    verdict = check(EXPECT, record(TURNING, spoil=nan_x_at_5_s))
    assert not verdict.passed
    assert verdict.measured.startswith("1 objects with non-finite values or no position (")

    def inf_covariance(t: float, object_list: pb.ObjectList) -> None:
        for obj in object_list.objects:
            obj.position_covariance.east_north = math.inf

    every = check(EXPECT, record(TURNING, spoil=inf_covariance))
    assert not every.passed
    assert "coverage 0.0 %" in every.measured


def test_only_fused_lists_count() -> None:
    verdict = check(EXPECT, record(TURNING, kind=pb.OBJECT_LIST_KIND_SENSOR))
    assert not verdict.passed
    assert verdict.measured == "no fused object list captured in 1-16 s"


def test_a_world_without_a_scene_fails_saying_so() -> None:
    recording = record(TURNING)
    recording.truth = GroundTruth(INTERSECTION, MappingProxyType({}))
    verdict = check(EXPECT, recording)
    assert not verdict.passed
    assert "no scene" in verdict.measured


BEHIND = Scene(
    "behind",
    10.0,
    (
        # In front of the radar, then past it: behind its back for the second half.
        moving(1, "car", path((-30.0, 0.0), EAST, [("straight", 60.0)]), cruise(6.0), end_s=10.0),
    ),
    (RadarMount("radar", 0.0, -5.0, 5.0, math.radians(270.0)),),
)


def test_tracks_of_objects_out_of_sight_are_not_false_nor_expected() -> None:
    coverage = Coverage(BEHIND)
    times = [float(t) for t in np.arange(0.0, BEHIND.duration_s, CYCLE_S)]
    seen = [bool(coverage.covered(BEHIND.truth_at(t)[1])[0]) for t in times]
    assert seen[0]  # in front of the radar at first,
    assert not seen[-1]  # behind it at the end
    checks = sum(s for t, s in zip(times, seen, strict=True) if t >= 1.0)
    everything = check(EXPECT, record(BEHIND, only_covered=False))
    assert everything.passed, everything.measured
    assert f"{checks} covered truth checks" in everything.measured
    assert "false tracks 0.00/list" in everything.measured
    seen_only = check(EXPECT, record(BEHIND))
    assert seen_only.passed, seen_only.measured
    assert f"{checks} covered truth checks: coverage 100.0 %" in seen_only.measured


@pytest.mark.parametrize("tolerance", [0.5, 2.0])
def test_the_tolerance_decides_what_is_near(tolerance: float) -> None:
    def off_by_1_m(
        t: float, ids: np.ndarray, positions: np.ndarray
    ) -> tuple[list[int], np.ndarray]:
        return follow(t, ids, positions + np.array([0.0, 1.0]))

    verdict = check(
        ExpectFusedTracks(after_s=1.0, position_tolerance_m=tolerance),
        record(TURNING, off_by_1_m),
    )
    assert verdict.passed is (tolerance > 1.0), verdict.measured


def test_lists_arriving_out_of_order_are_scored_in_capture_order() -> None:
    in_order = check(EXPECT, record(TURNING))
    recording = record(TURNING)
    # Two radars on different buses: every other pair of lists arrives swapped.
    for k in range(0, len(recording.messages) - 1, 4):
        recording.messages[k], recording.messages[k + 1] = (
            recording.messages[k + 1],
            recording.messages[k],
        )
    swapped = check(EXPECT, recording)
    assert swapped.passed, swapped.measured
    assert swapped.measured == in_order.measured


def test_a_second_list_of_the_same_instant_is_not_scored_twice() -> None:
    recording = record(TURNING)
    first = next(
        m for m in recording.messages if m.envelope.capture_time_ns > CLOCK.t0_unix * 1e9 + 2e9
    )
    again = pb.Envelope()
    again.CopyFrom(first.envelope)
    again.sequence = 10_000
    recording.messages.append(
        Received(first.t_s + 1.0, first.topic, first.stream, DEVICE, False, again)
    )
    verdict = check(EXPECT, recording)
    assert verdict.passed, verdict.measured
    assert "lists (1 of the same instant as another)" in verdict.measured
    assert "coverage 100.0 %" in verdict.measured


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), finite_or_not, finite_or_not, finite_or_not),
        max_size=6,
    ),
    st.booleans(),
)
def test_any_published_values_give_a_verdict_never_an_error(
    objects: list[tuple[int, float, float, float]], with_position: bool
) -> None:
    def garbage(t: float, object_list: pb.ObjectList) -> None:
        del object_list.objects[:]
        for object_id, a, b, c in objects:
            obj = object_list.objects.add(object_id=object_id, x_m=c)
            if with_position:
                obj.position.latitude_deg = a
                obj.position.longitude_deg = b

    verdict = check(EXPECT, record(BEHIND, spoil=garbage))
    assert not verdict.passed  # the object in view has no track

    def usable(lat: float, lon: float, x: float) -> bool:
        finite = all(math.isfinite(v) for v in (lat, lon, x))
        return with_position and finite and abs(lat) <= 90.0 and abs(lon) <= 180.0

    bad = sum(not usable(a, b, c) for _, a, b, c in objects)
    lists = sum(1.0 <= t <= 16.0 for t in np.arange(0.0, BEHIND.duration_s, CYCLE_S))
    if bad:
        assert f"{bad * lists} objects with non-finite values or no position" in verdict.measured
    else:
        assert "non-finite" not in verdict.measured
