"""Expectations on the roadside unit's fused track list against a scene's ground truth.

The unit publishes one ``OBJECT_LIST_KIND_FUSED`` list per cycle: every confirmed track of the
intersection, with its own stable id. Each list captured in the window is compared with the
scene at its capture time, in the scene's frame (metres east/north of the world's origin,
through ``edge.geodesy.LocalFrame``: the unit's reference point may be elsewhere, so the
objects' WGS84 positions are used, not their ``x_m``/``y_m``). Only the truth objects some radar
of the scene has in its field of view are expected to be tracked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.geodesy import LocalFrame
from edge.roadside.radar_noise import RADAR_NOISE
from edge.tracking.metrics import ScoreSummary, TrackingScore
from edge.tracking.track_set import BoolArray, FloatArray, IntArray
from firmware_py.simulation.radar_model import ClutterAndMisses, RadarModel
from firmware_py.simulation.scenes import RadarMount, Scene
from hil.recording import Recording
from hil.scenario_engine.expectations import (
    Expectation,
    capture_s,
    device_messages,
    until_text,
    window_of,
)
from protocols.schema.v1 import roadgate_pb2 as pb


@dataclass(frozen=True, kw_only=True)
class ExpectFusedTracks(Expectation):
    """Fused lists captured in [after_s, until_s] against the scene: at least ``min_coverage``
    of the (list, truth object in some radar's field of view) checks have a track within
    ``position_tolerance_m``; at most ``max_id_switches`` ID switches; a mean GOSPA (cut-off
    ``position_tolerance_m``, p = 2) of at most ``max_gospa`` m when given; at most
    ``max_false_mean`` false tracks per list; every published value finite."""

    after_s: float = 0.0
    until_s: float | None = None
    position_tolerance_m: float = 2.0
    min_coverage: float = 0.9
    max_id_switches: int = 0
    max_gospa: float | None = None
    max_false_mean: float = 0.2

    def describe(self) -> str:
        gospa = "" if self.max_gospa is None else f", mean GOSPA <= {self.max_gospa:g} m"
        return (
            f"fused tracks on {100 * self.min_coverage:g} % of the covered truth within "
            f"{self.position_tolerance_m:g} m from {self.after_s:g} s to "
            f"{until_text(self.until_s)}, <= {self.max_id_switches} id switches{gospa}, "
            f"<= {self.max_false_mean:g} false tracks per list"
        )

    def _check(self, recording: Recording) -> tuple[bool, str]:
        scene = recording.truth.scene
        if scene is None:
            return False, "the world has no scene to compare the fused tracks with"
        lo, hi = window_of(self.after_s, self.until_s, recording)
        # In capture order: the score follows the tracks through time (lists from radars on
        # different buses may arrive slightly out of order).
        lists = sorted(
            (
                (t, m.envelope.object_list)
                for m in device_messages(recording, "objects")
                if m.envelope.HasField("object_list")
                and m.envelope.object_list.kind == pb.OBJECT_LIST_KIND_FUSED
                and lo <= (t := capture_s(recording, m)) <= hi
            ),
            key=lambda item: item[0],
        )
        if not lists:
            return False, f"no fused object list captured in {lo:g}-{hi:g} s"
        coverage = Coverage(scene)
        frame = LocalFrame.of(recording.truth.origin)
        tolerance = self.position_tolerance_m
        score = TrackingScore(gate_m=tolerance, c=tolerance)
        checks = non_finite = 0
        for t, object_list in lists:
            ids, positions, bad = _tracks(object_list, frame)
            non_finite += bad
            truth_ids, truth_positions, _ = scene.truth_at(t)
            covered = coverage.covered(truth_positions)
            # A track on an object outside every field of view (one leaving, coasting) is
            # neither expected nor false: it is left out.
            keep = ~_near(positions, truth_positions[~covered], truth_positions[covered], tolerance)
            cycles = score.summary.cycles
            score.add(t, truth_ids[covered], truth_positions[covered], ids[keep], positions[keep])
            if score.summary.cycles > cycles:  # a second list of the same instant is not scored
                checks += int(covered.sum())
        return self._verdict(score.summary, checks, non_finite, len(lists))

    def _verdict(
        self, s: ScoreSummary, checks: int, non_finite: int, lists: int
    ) -> tuple[bool, str]:
        coverage = s.matched / checks if checks else 1.0
        failures = []
        if coverage < self.min_coverage:
            failures.append(f"coverage {100 * coverage:.1f} % < {100 * self.min_coverage:g} %")
        if s.id_switches > self.max_id_switches:
            failures.append(f"id switches {s.id_switches} > {self.max_id_switches}")
        if self.max_gospa is not None and s.mean_gospa > self.max_gospa:
            failures.append(f"mean GOSPA {s.mean_gospa:.2f} m > {self.max_gospa:g} m")
        if s.mean_false > self.max_false_mean:
            failures.append(f"false tracks {s.mean_false:.2f}/list > {self.max_false_mean:g}")
        if non_finite:
            failures.append(f"{non_finite} objects with non-finite values or no position")
        same = lists - s.cycles
        scored = f" ({same} of the same instant as another)" if same else ""
        measured = (
            f"{lists} lists{scored}, {checks} covered truth checks: "
            f"coverage {100 * coverage:.1f} %, "
            f"id switches {s.id_switches}, fragmentations {s.fragmentations}, mean GOSPA "
            f"{s.mean_gospa:.2f} m, false tracks {s.mean_false:.2f}/list, missed "
            f"{s.mean_missed:.2f}/list, position RMSE {s.position_rmse_m:.2f} m"
        )
        if failures:
            measured = f"{'; '.join(failures)} ({measured})"
        return not failures, measured


class Coverage:
    """Which points of the scene some radar of it has in its field of view."""

    def __init__(self, scene: Scene) -> None:
        self._radars = [
            (mount, RadarModel(mount, RADAR_NOISE[mount.kind], ClutterAndMisses(), _NO_DRAWS))
            for mount in scene.radars
        ]

    def covered(self, positions: FloatArray) -> BoolArray:
        """(K,) for east/north ``positions`` (K, 2)."""
        inside = np.zeros(len(positions), dtype=bool)
        for mount, model in self._radars:
            x, y = _sensor_frame(mount, positions)
            inside |= model.in_field_of_view(x, y)
        return inside


_NO_DRAWS = np.random.default_rng(0)  # the field of view draws nothing


def _sensor_frame(mount: RadarMount, positions: FloatArray) -> tuple[FloatArray, FloatArray]:
    """East/north points as (forward, left) of the radar."""
    s, c = math.sin(mount.yaw_rad), math.cos(mount.yaw_rad)
    east = positions[:, 0] - mount.east_m
    north = positions[:, 1] - mount.north_m
    return east * s + north * c, -east * c + north * s


def _tracks(object_list: pb.ObjectList, frame: LocalFrame) -> tuple[IntArray, FloatArray, int]:
    """The list's track ids and east/north positions in ``frame``, and how many objects were
    left out for a non-finite value or a position missing or off the globe."""
    ids: list[int] = []
    points: list[tuple[float, float, float]] = []
    bad = 0
    for obj in object_list.objects:
        p = obj.position
        values: Sequence[float] = (
            p.latitude_deg,
            p.longitude_deg,
            p.altitude_m,
            obj.x_m,
            obj.y_m,
            obj.vx_mps,
            obj.vy_mps,
            obj.position_covariance.east_east,
            obj.position_covariance.east_north,
            obj.position_covariance.north_north,
        )
        if (
            not obj.HasField("position")
            or not all(math.isfinite(v) for v in values)
            or abs(p.latitude_deg) > 90.0
            or abs(p.longitude_deg) > 180.0
        ):
            bad += 1
            continue
        ids.append(obj.object_id)
        points.append((p.latitude_deg, p.longitude_deg, p.altitude_m))
    if not points:
        return np.empty(0, dtype=np.int64), np.empty((0, 2)), bad
    lat, lon, alt = np.array(points).T
    enu = frame.geodetic_to_enu(lat, lon, alt)
    return np.array(ids, dtype=np.int64), np.stack((enu.east_m, enu.north_m), axis=1), bad


def _near(
    points: FloatArray, others: FloatArray, expected: FloatArray, tolerance: float
) -> BoolArray:
    """Which ``points`` lie within ``tolerance`` of one of ``others`` and nearer to it than to
    any of ``expected``."""
    if len(points) == 0 or len(others) == 0:
        return np.zeros(len(points), dtype=bool)
    to_others = np.hypot(*(points[:, None, :] - others[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    if len(expected):
        to_expected = np.hypot(*(points[:, None, :] - expected[None, :, :]).transpose(2, 0, 1))
        nearest_expected = to_expected.min(axis=1)
    else:
        nearest_expected = np.full(len(points), np.inf)
    return np.asarray((to_others <= tolerance) & (to_others < nearest_expected))
