"""Ground-truth scenes for tracker tests and benchmarks: road users on smooth paths through an
intersection, watched by two radars on poles.

Positions are metres east/north of the intersection's reference point; headings are rad
clockwise from north. Objects move along paths built with ``paths`` (straight segments and
arcs, speed knots, sampled at 100 Hz) and are held as ``truth.TruthObject``; this module
re-exports both so a scene needs one import.

The intersection: a north-south and an east-west road, two lanes each way (right-hand traffic;
lane centres 1.75 m and 5.25 m from the road's centre line), stop lines 14 m from the centre,
crosswalks 10.5 m from it. A radar on the north-east corner looks south-west, one on the
south-west corner looks north-east; both see the box in the middle, each sees two arms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from firmware_py.simulation.paths import (
    EAST,
    LEFT,
    NORTH,
    RIGHT,
    SOUTH,
    WEST,
    Path,
    Segment,
    SpeedKnots,
    cruise,
    moving,
    path,
    rotated,
    stop_at,
)
from firmware_py.simulation.truth import (
    DIMENSIONS,
    HEIGHTS_M,
    OBJECT_CLASSES,
    SAMPLE_S,
    RadarMount,
    Scene,
    Snapshot,
    TruthObject,
)

__all__ = [
    "ARMS",
    "CROSSWALK_M",
    "DIMENSIONS",
    "EAST",
    "HEIGHTS_M",
    "INNER_LANE_M",
    "LEFT",
    "NORTH",
    "OBJECT_CLASSES",
    "OUTER_LANE_M",
    "RIGHT",
    "SAMPLE_S",
    "SCENES",
    "SOUTH",
    "STOP_LINE_M",
    "WEST",
    "Path",
    "RadarMount",
    "Scene",
    "Segment",
    "Snapshot",
    "SpeedKnots",
    "TruthObject",
    "crossing_pedestrians",
    "crowd",
    "crowd_radars",
    "cruise",
    "intersection",
    "moving",
    "path",
    "rotated",
    "stop_at",
    "stopped_queue",
    "through",
    "truck_occlusion",
    "turning_cars",
    "two_poles",
]

INNER_LANE_M, OUTER_LANE_M = 1.75, 5.25
STOP_LINE_M = 14.0
CROSSWALK_M = 10.5

ARMS: Mapping[str, float] = {"south": NORTH, "west": EAST, "north": SOUTH, "east": WEST}
"""The heading of traffic entering from each arm."""

RIGHT_TURN_RADIUS_M, LEFT_TURN_RADIUS_M = 7.0, 12.0


def through(
    arm: str,
    move: str,
    *,
    lane_m: float = INNER_LANE_M,
    approach_m: float = 45.0,
    exit_m: float = 35.0,
) -> Path:
    """A vehicle's path entering from ``arm`` in the lane ``lane_m`` right of the centre line,
    then ``move`` ("straight", "left", "right") into the same lane of the exit road.

    Raises:
        ValueError: an unknown arm or move, or a lane or distances the turn does not fit.
    """
    if arm not in ARMS or not 0 < lane_m <= OUTER_LANE_M:
        raise ValueError(f"no lane {lane_m} m right of the {arm!r} arm's centre line")
    heading = ARMS[arm]
    # Built as if entering from the south, then turned to the arm.
    start = rotated((lane_m, -approach_m), heading)
    if move == "straight":
        segments: list[Segment] = [("straight", approach_m + exit_m)]
    elif move == "right":
        # Every lane turns about the same corner point: the outer lane's radius less the gap.
        r = RIGHT_TURN_RADIUS_M - (OUTER_LANE_M - lane_m)
        segments = [("straight", approach_m - lane_m - r), ("turn", r, RIGHT), ("straight", exit_m)]
    elif move == "left":
        r = LEFT_TURN_RADIUS_M
        segments = [("straight", approach_m + lane_m - r), ("turn", r, LEFT), ("straight", exit_m)]
    else:
        raise ValueError(f"unknown move {move!r}")
    return path(start, heading, segments)


def two_poles() -> tuple[RadarMount, RadarMount]:
    """The intersection's radars: a north-east pole looking south-west and a south-west pole
    looking north-east, at different heights and not quite opposite yaws."""
    return (
        RadarMount("radar-ne", 11.0, 10.0, 5.5, math.radians(228.0)),
        RadarMount("radar-sw", -10.0, -11.5, 4.5, math.radians(43.0)),
    )


# --- the named scenes --------------------------------------------------------------------------


def _renumber(objects: Sequence[TruthObject], first_id: int, shift_s: float) -> list[TruthObject]:
    """The objects numbered from ``first_id``, ``shift_s`` later."""
    return [
        replace(o, object_id=first_id + k, times_s=o.times_s + shift_s)
        for k, o in enumerate(objects)
    ]


def _clip(objects: Sequence[TruthObject], end_s: float) -> list[TruthObject]:
    """The objects cut at ``end_s``; those born later dropped."""
    out = []
    for o in objects:
        keep = o.times_s <= end_s + 1e-9
        if keep.sum() >= 2:
            out.append(
                replace(
                    o, times_s=o.times_s[keep], positions=o.positions[keep],
                    velocities=o.velocities[keep],
                )
            )  # fmt: skip
    return out


def _turning_car_objects(end_s: float) -> list[TruthObject]:
    turn_speed = ((0.0, 10.0), (2.0, 10.0), (4.0, 5.0), (8.0, 5.0), (10.5, 10.0))
    return [
        moving(1, "car", through("south", "right", lane_m=OUTER_LANE_M), turn_speed, end_s=end_s),
        moving(2, "car", through("north", "left"), turn_speed, start_s=1.0, end_s=end_s),
        moving(3, "car", through("east", "left"), turn_speed, start_s=6.0, end_s=end_s),
        moving(
            4,
            "car",
            through("west", "right", lane_m=OUTER_LANE_M),
            turn_speed,
            start_s=4.0,
            end_s=end_s,
        ),
    ]


def turning_cars() -> Scene:
    """Four cars turning left and right through the intersection, slowing for the turn."""
    return Scene("turning-cars", 18.0, tuple(_turning_car_objects(18.0)), two_poles())


def _walk(
    object_id: int,
    start: tuple[float, float],
    heading: float,
    length_m: float,
    speeds: SpeedKnots,
    *,
    start_s: float,
    end_s: float,
    object_class: str = "pedestrian",
) -> TruthObject:
    route = path(start, heading, [("straight", length_m)])
    return moving(object_id, object_class, route, speeds, start_s=start_s, end_s=end_s)


def _pedestrian_objects(end_s: float) -> list[TruthObject]:
    c = CROSSWALK_M
    pause = ((0.0, 1.2), (5.0, 1.2), (5.5, 0.0), (8.0, 0.0), (8.5, 1.2))  # waits in the middle
    return [
        _walk(1, (-9.0, -c), EAST, 18.0, cruise(1.3), start_s=0.0, end_s=end_s),
        # Walking beside the first, 0.8 m apart: a radar may see the two as one.
        _walk(2, (-9.0, -c - 0.8), EAST, 18.0, cruise(1.3), start_s=0.0, end_s=end_s),
        _walk(3, (-c, 9.0), SOUTH, 18.0, pause, start_s=1.0, end_s=end_s),
        _walk(4, (c, -9.0), NORTH, 18.0, cruise(1.5), start_s=2.0, end_s=end_s),
        _walk(5, (9.0, c), WEST, 18.0, stop_at(1.0, 6.0, decel_mps2=1.0, go_at_s=9.0),
              start_s=0.5, end_s=end_s),
        _walk(6, (-9.0, c + 1.5), EAST, 18.0, cruise(4.0), start_s=1.0, end_s=end_s,
              object_class="bicycle"),
    ]  # fmt: skip


def crossing_pedestrians() -> Scene:
    """Pedestrians on the four crosswalks, two side by side, two stopping, and a cyclist."""
    return Scene("crossing-pedestrians", 16.0, tuple(_pedestrian_objects(16.0)), two_poles())


def _queue_objects(end_s: float, *, red_until_s: float) -> list[TruthObject]:
    objects: list[TruthObject] = []
    gap = DIMENSIONS["car"][0] + 2.0  # bumper to bumper when stopped
    first_stop = STOP_LINE_M + DIMENSIONS["car"][0] / 2 + 0.5
    for arm, approach, count in (("south", 60.0, 4), ("north", 55.0, 2)):
        for k in range(count):
            stop_m = approach - first_stop - k * gap
            start_s = 1.6 * k + (0.8 if arm == "north" else 0.0)
            # Each car pulls away 1.5 s after the one in front.
            speeds = stop_at(10.0, stop_m, go_at_s=red_until_s + 1.5 * k - start_s)
            route = through(arm, "straight", approach_m=approach, exit_m=45.0)
            objects.append(
                moving(len(objects) + 1, "car", route, speeds, start_s=start_s, end_s=end_s)
            )
    return objects


def stopped_queue() -> Scene:
    """Cars braking to queues at the north and south stop lines on red, starting one after
    the other on green at 12 s."""
    return Scene("stopped-queue", 25.0, tuple(_queue_objects(25.0, red_until_s=12.0)), two_poles())


def _occlusion_objects(end_s: float) -> list[TruthObject]:
    # A car waits in the box to turn left while a truck goes straight south in the outer lane,
    # between the south-west radar and the car.
    wait_m = 45.0 - 6.25
    car_route = path(
        (INNER_LANE_M, -45.0),
        NORTH,
        [("straight", wait_m), ("turn", 8.0, LEFT), ("straight", 35.0)],
    )
    car = moving(
        1,
        "car",
        car_route,
        stop_at(10.0, wait_m, go_at_s=11.0, go_speed_mps=5.0),
        end_s=end_s,
    )
    truck = moving(
        2,
        "truck",
        through("north", "straight", lane_m=OUTER_LANE_M, approach_m=45.0, exit_m=40.0),
        cruise(7.0),
        start_s=1.0,
        end_s=end_s,
    )
    return [car, truck]


def truck_occlusion() -> Scene:
    """A truck passes between the south-west radar and a car waiting to turn left, hiding it
    from that radar for about two seconds; the north-east radar sees both throughout."""
    return Scene("truck-occlusion", 16.0, tuple(_occlusion_objects(16.0)), two_poles())


def intersection() -> Scene:
    """All of the above together for 30 s: turning cars, pedestrians, the truck passing the
    waiting car, and queues forming from 8 s and leaving on green at 20 s."""
    end = 30.0
    parts: list[tuple[list[TruthObject], float]] = [
        (_occlusion_objects(end), 0.0),
        # Each turning car a little later than alone, to keep clear of the others.
        *(
            ([o], shift)
            for o, shift in zip(_turning_car_objects(end), (1.0, 0.0, 2.0, 0.5), strict=True)
        ),
        (_pedestrian_objects(end), 0.0),
        (_queue_objects(end, red_until_s=12.0), 8.0),
    ]
    objects: list[TruthObject] = []
    for part, shift in parts:
        objects += _renumber(part, len(objects) + 1, shift)
    return Scene("intersection", end, tuple(_clip(objects, end)), two_poles())


SCENES: Mapping[str, Callable[[], Scene]] = {
    "turning-cars": turning_cars,
    "crossing-pedestrians": crossing_pedestrians,
    "stopped-queue": stopped_queue,
    "truck-occlusion": truck_occlusion,
    "intersection": intersection,
}


# --- crowds for benchmarks ---------------------------------------------------------------------


def crowd_radars(count: int, area_m: float) -> tuple[RadarMount, ...]:
    """``count`` radars around a square of side ``area_m`` centred on the reference point,
    looking at its centre: one radar stands back far enough for its ±45° near beam to hold the
    square; two or more stand just outside it, evenly around."""
    if count < 1:
        raise ValueError(f"need at least one radar, not {count}")
    ring = area_m + 1.0 if count == 1 else area_m / 2 + 2.0
    mounts = []
    for k in range(count):
        at = SOUTH + math.tau * k / count  # the pole's bearing from the centre
        east, north = ring * math.sin(at), ring * math.cos(at)
        yaw = (at + math.pi) % math.tau
        mounts.append(RadarMount(f"radar-{k + 1}", east, north, 5.0 + k / count, yaw))
    return tuple(mounts)


def crowd(
    n_targets: int,
    *,
    seed: int = 0,
    duration_s: float = 10.0,
    radars: int = 1,
    area_m: float | None = None,
) -> Scene:
    """``n_targets`` objects over a square of side ``area_m`` (default 40 m for one radar,
    56 m for more: what their near beams cover), watched by ``radars`` radars around it.

    Cars, pedestrians, bicycles and motorcycles (no trucks: a crowd of trucks would hide most
    of the rest); two thirds move at constant velocity between two random points of the
    square, one third on circular arcs inside it; all live for the whole ``duration_s``. The
    same ``seed`` gives the same scene. A larger ``area_m`` than the default is not covered
    by the radars. Dense crowds put targets closer than a radar resolves: about
    ``n² π d² / (2 area_m²)`` pairs lie within a merge distance ``d`` (some 500 pairs of 1000
    targets in the default 56 m square at 1 m), so benchmarks of many targets set
    ``ClutterAndMisses.merge_distance_m`` to 0 or give more room.

    Raises:
        ValueError: a negative count, a duration or area not positive, no radar.
    """
    side = (40.0 if radars == 1 else 56.0) if area_m is None else area_m
    if n_targets < 0 or not (0 < duration_s < 1e5 and 0 < side < 1e5):
        raise ValueError(f"bad crowd: {n_targets} targets over {duration_s} s, {side} m")
    rng = np.random.default_rng(seed)
    half = side / 2
    times = np.arange(0.0, duration_s + SAMPLE_S / 2, SAMPLE_S)
    classes = ("car", "car", "car", "pedestrian", "bicycle", "motorcycle")
    objects = []
    for k in range(n_targets):
        object_class = classes[int(rng.integers(len(classes)))]
        if k % 3 == 2:
            radius = rng.uniform(min(3.0, half / 4), half / 2)
            centre = rng.uniform(-half + radius, half - radius, size=2)
            rate = rng.uniform(0.2, 1.0) * rng.choice([-1.0, 1.0]) * min(1.0, 8.0 / radius)
            phase = rng.uniform(0, math.tau) + rate * times
            pos = centre + radius * np.stack((np.sin(phase), np.cos(phase)), axis=1)
            vel = radius * rate * np.stack((np.cos(phase), -np.sin(phase)), axis=1)
        else:
            a, b = rng.uniform(-half, half, size=(2, 2))
            vel = np.broadcast_to((b - a) / duration_s, (times.size, 2)).copy()
            pos = a + np.outer(times, (b - a) / duration_s)
        length, width, rcs = DIMENSIONS[object_class]
        objects.append(TruthObject(k + 1, object_class, length, width, rcs, times.copy(), pos, vel))
    return Scene(f"crowd-{n_targets}", duration_s, tuple(objects), crowd_radars(radars, side))
