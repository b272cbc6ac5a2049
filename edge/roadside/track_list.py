"""The intersection's fused tracks as the ``objects`` stream's RSM-like ``ObjectList``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edge.geodesy import LocalFrame
from edge.roadside.intersection_tracker import FusedTracks
from protocols.schema.columnar import RepeatedColumns
from protocols.schema.v1 import roadgate_pb2 as pb

FUSED_SENSOR_ID = "fused"
FUSED_CHECKED_FIELDS = frozenset({"objects"})
"""The fields of ``fused_object_list``'s lists that hold only values checked finite there."""
MIN_SPEED_SIGMAS_FOR_HEADING = 2.0
"""Below this many standard deviations of speed, the heading is reported unknown (0)."""
_COVARIANCE_ENTRIES = (0, 1, 5, 10, 11, 15)
"""Of a flattened 4x4 covariance: east-east, east-north, north-north of the position, then of
the velocity (the entries the list carries)."""
_COVARIANCE_FIELDS = tuple(
    f"{name}.{entry}"
    for name in ("position_covariance", "velocity_covariance")
    for entry in ("east_east", "east_north", "north_north")
)
"""The fields ``_COVARIANCE_ENTRIES`` go to, in that order."""
_OBJECTS = RepeatedColumns(
    pb.ObjectList.DESCRIPTOR,
    "objects",
    (
        "object_id",
        "object_class",
        "x_m",
        "y_m",
        "vx_mps",
        "vy_mps",
        "position.latitude_deg",
        "position.longitude_deg",
        "position.altitude_m",
        "position.horizontal_accuracy_m",
        "speed_mps",
        "heading_rad",
        "length_m",
        "width_m",
        "existence_probability",
        *_COVARIANCE_FIELDS,
        "speed_accuracy_mps",
        "heading_accuracy_rad",
        "age_s",
        "coasting",
        "source_mask",
    ),
)


def fused_object_list(
    tracks: FusedTracks,
    frame: LocalFrame,
    *,
    intersection_id: int,
    sensor_ids: Sequence[str],
    cycle_counter: int,
) -> pb.ObjectList:
    """Return one ``OBJECT_LIST_KIND_FUSED`` list: the list's frame is the intersection's
    reference point looking east, so each object's ``x_m``/``y_m`` are metres east/north;
    ``sensor_ids`` name the bits of the tracks' ``source_mask``. A track with a value that
    is not finite is left out (``FUSED_CHECKED_FIELDS``: what is in them is finite)."""
    out = pb.ObjectList(
        sensor_id=FUSED_SENSOR_ID,
        cycle_counter=cycle_counter % 2**32,
        sensor_position=pb.Position(
            latitude_deg=frame.latitude_deg,
            longitude_deg=frame.longitude_deg,
            altitude_m=frame.altitude_m,
            fix_quality=pb.FIX_QUALITY_RTK_FIXED,  # a surveyed reference point
        ),
        sensor_heading_rad=math.pi / 2,
        kind=pb.OBJECT_LIST_KIND_FUSED,
        intersection_id=intersection_id,
        sensor_ids=sensor_ids,
    )
    tracks = tracks.finite()  # the geodesy refuses a position that is not finite
    n = len(tracks)
    if n == 0:
        return out
    x = tracks.states
    p = tracks.covariances
    geo = frame.enu_to_geodetic(x[:, 0], x[:, 1], np.zeros(n))
    speed, heading, speed_std, heading_std = _speed_heading(x[:, 2:], p[:, 2:, 2:])
    position_std = np.sqrt(np.maximum(largest_eigenvalue(p[:, :2, :2]), 0.0))
    covariance = p.reshape(n, 16).take(_COVARIANCE_ENTRIES, axis=1)
    columns = {
        "object_id": tracks.ids % 2**32,
        "object_class": tracks.object_class,
        "x_m": x[:, 0],
        "y_m": x[:, 1],
        "vx_mps": x[:, 2],
        "vy_mps": x[:, 3],
        "position.latitude_deg": geo.latitude_deg,
        "position.longitude_deg": geo.longitude_deg,
        "position.altitude_m": geo.altitude_m,
        "position.horizontal_accuracy_m": position_std,
        "speed_mps": speed,
        "heading_rad": heading,
        "length_m": tracks.length_m,
        "width_m": tracks.width_m,
        "existence_probability": tracks.hit_ratio,
        "age_s": tracks.age_s,
        "speed_accuracy_mps": speed_std,
        "heading_accuracy_rad": heading_std,
        "coasting": tracks.coasting,
        "source_mask": tracks.source_mask,
    }
    for j, entry in enumerate(_COVARIANCE_FIELDS):
        columns[entry] = covariance[:, j]
    cooperative_ids: Sequence[str] = tracks.cooperative_ids
    finite = _OBJECTS.finite_rows(n, columns)
    if not finite.all():  # a value out of a double's range (finite inputs)
        kept = np.flatnonzero(finite)
        columns = {path: np.asarray(column)[kept] for path, column in columns.items()}
        cooperative_ids = [cooperative_ids[i] for i in kept.tolist()]
        n = len(kept)
    # Setting 22 numbers an object through protobuf's API was most of the emit's time: the
    # objects are encoded as columns and parsed back, one call each way.
    out.MergeFromString(_OBJECTS.encode(n, columns))
    for i, cooperative_id in enumerate(cooperative_ids):
        if cooperative_id:  # a few tracks: set on the parsed objects
            out.objects[i].cooperative_id = cooperative_id
    return out


def largest_eigenvalue(m: np.ndarray) -> np.ndarray:
    """The larger eigenvalue of each symmetric 2x2 matrix of ``m`` (N, 2, 2), to the bit what
    ``np.linalg.eigvalsh(m)[:, -1]`` gives, at less cost.

    For a 2x2 matrix the reference LAPACK numpy ships (``dsyevd``, then ``dsterf``) takes the
    eigenvalues from the closed form of ``dlae2``, written out below in the same operations;
    the matrices it treats otherwise (an off-diagonal negligible next to the diagonal, entries
    it would rescale, not positive on the diagonal, not finite) are left to ``eigvalsh``.
    ``tests/edge/roadside/test_track_list_eigenvalue.py`` checks the equality.
    """
    a, b, c = m[:, 0, 0], m[:, 1, 0], m[:, 1, 1]  # eigvalsh reads the lower triangle
    with np.errstate(all="ignore"):
        total = a + c
        spread = np.abs(a - c)
        twice_b = np.abs(b + b)
        hi, lo = np.maximum(spread, twice_b), np.minimum(spread, twice_b)
        root = hi * np.sqrt(1.0 + (lo / hi) ** 2)
        larger = 0.5 * (total + root)
        a_dominates = np.abs(a) > np.abs(c)
        big, small = np.where(a_dominates, a, c), np.where(a_dominates, c, a)
        # dlae2's other eigenvalue, det / larger in a form that keeps its accuracy; rounding
        # can put it an ulp above ``larger``, so the larger of the two is taken, as a sort would.
        other = (big / larger) * small - (b / larger) * b
        top: np.ndarray = np.maximum(larger, other)
        plain = (a > 0) & (c > 0) & (np.abs(b) > 1e-15 * total)
        plain &= (total > 1e-100) & (total < 1e100) & (np.abs(b) < 1e100)
    if not plain.all():
        odd = ~plain
        top[odd] = np.linalg.eigvalsh(m[odd])[:, -1]
    return top


def quadratic_form(x: np.ndarray, y: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``u^T c u`` for each row's ``u = (x, y)`` and 2x2 ``c`` (N, 2, 2): the terms in the order
    ``np.einsum("ni,nij,nj->n", u, c, u)`` sums them, from 0, so the values are its own to
    the bit (without building ``u`` or einsum's iterator)."""
    form: np.ndarray = 0.0 + (x * c[:, 0, 0]) * x
    form += (x * c[:, 0, 1]) * y
    form += (y * c[:, 1, 0]) * x
    form += (y * c[:, 1, 1]) * y
    return form


def _speed_heading(
    velocity: np.ndarray, covariance: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Speed, heading (clockwise from north), and their 1-sigma through the polar Jacobian;
    a heading too uncertain to mean anything is 0 with accuracy 0 (unknown)."""
    ve, vn = velocity[:, 0], velocity[:, 1]
    speed = np.hypot(ve, vn)
    moving = speed > 1e-9
    safe = np.where(moving, speed, 1.0)
    along_e, along_n = ve / safe, vn / safe
    along_var = quadratic_form(along_e, along_n, covariance)  # along the motion
    across_var = quadratic_form(along_n, -along_e, covariance)  # across it
    at_rest = ~moving
    if at_rest.any():
        # At rest the direction is arbitrary: take the larger axis of the velocity's uncertainty.
        along_var[at_rest] = np.linalg.eigvalsh(covariance[at_rest])[:, -1]
    speed_std = np.sqrt(np.maximum(along_var, 0.0))
    known = speed > MIN_SPEED_SIGMAS_FOR_HEADING * speed_std
    heading = np.where(known, np.arctan2(ve, vn) % (2 * math.pi), 0.0)
    heading_std = np.where(known, np.sqrt(np.maximum(across_var, 0.0)) / safe, 0.0)
    return speed, heading, speed_std, heading_std
