"""The end-to-end benchmark's traffic: a crowd seen by four ARS408 radars, one per CAN bus,
written before the run as a candump log that ``e2e_player`` plays onto the vcan buses.

Each radar reports what ``RadarModel`` (no misses, clutter, splits or merges, so the list
length is the crowd's) sees of ``crowd(...)`` every ``CYCLE_S`` (the ARS408's 72 ms), at most
``objects`` objects, with quality and extended messages: one status frame, then a general, a
quality and an extended frame per object. Within a cycle the frames follow each other at the
bus's bit rate (nominal frame lengths, no stuff bits), as on a saturated bus; the four radars'
cycles are a quarter cycle apart (radars are not synchronised).

Bus load, 500 kbit/s, per 72 ms cycle (36,000 bit times): a classic 11-bit frame of n bytes is
47 + 8n bits before stuffing (worst case about 20 % more; random data about 10 %). Status
(4 bytes) 79 bits; per object general (8) 111 + quality (7) 103 + extended (8) 111 = 325
bits. 100 objects: 32,579 bits, 90.5 % nominal, about 100 % with typical stuffing: a full bus
(4,181 frames/s per bus, 16,722 on the four).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.geodesy import LocalFrame
from edge.roadside.radar_noise import RADAR_NOISE
from firmware_py.simulation.radar import CLASS_CODE, CYCLE_S, PROB_99_9
from firmware_py.simulation.radar_model import ClutterAndMisses, RadarModel, RadarReturns
from firmware_py.simulation.scenes import Scene, crowd
from firmware_py.simulation.truth import RadarMount
from protocols.radar.ars408 import RadarObject, ars408_database, encode_object_list

BITRATE = 500_000
BUSES = 4
DEFAULT_OBJECTS = 100
REFERENCE = (34.2235, 108.8905, 410.0)  # the intersection's reference point (lat, lon, alt)
MOVING_MPS = 0.3  # slower than this, an object is reported stationary (Obj_DynProp 7)
ALL_SEEN = ClutterAndMisses(
    detection_probability=1.0,
    clutter_per_scan=0.0,
    split_probability=0.0,
    merge_distance_m=0.0,
    occlusion=False,
)
"""Every object in the field of view, nothing else: the list length is the load asked for."""


def frame_bits(data_bytes: int) -> int:
    """A classic CAN frame with an 11-bit id and ``data_bytes`` bytes, in bit times, with
    the 3-bit interframe space and no stuff bits."""
    return 47 + 8 * data_bytes


def cycle_bits(objects: int) -> int:
    """One ARS408 cycle of ``objects`` objects with quality and extended messages, in bits."""
    return frame_bits(4) + objects * (frame_bits(8) + frame_bits(7) + frame_bits(8))


def bus_load(objects: int, cycle_s: float = CYCLE_S, bitrate: int = BITRATE) -> float:
    """The nominal share (no stuff bits) of a bus that one radar's lists of ``objects``
    objects every ``cycle_s`` take."""
    return cycle_bits(objects) / (cycle_s * bitrate)


@dataclass(frozen=True)
class Traffic:
    """What was written: ``frames`` in all, ``cycles`` lists per radar, ``objects`` sent per
    radar per cycle at most, the radars' mounts (bus k carries ``mounts[k]``)."""

    path: Path
    frames: int
    cycles: int
    objects: int
    mounts: tuple[RadarMount, ...]
    cycle_s: float = CYCLE_S

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(f"vcan{k}" for k in range(len(self.mounts)))

    def as_json(self) -> dict[str, Any]:
        """For ``from_json`` in the process that runs it."""
        return {**dataclasses.asdict(self), "path": str(self.path)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Traffic:
        """The ``Traffic`` ``as_json`` described. Raises ``KeyError``/``TypeError`` on another
        dict."""
        fields = {**data, "path": Path(data["path"])}
        fields["mounts"] = tuple(RadarMount(**mount) for mount in data["mounts"])
        return cls(**fields)


def write_traffic(path: Path, seconds: float, objects: int, *, seed: int = 0) -> Traffic:
    """Write ``seconds`` of four radars' object lists (at most ``objects`` objects each) to
    the candump log ``path`` (channels vcan0..vcan3, times from 0). Raises ``ValueError`` for
    ``seconds`` not positive or ``objects`` outside 1..127 (ids must fit the ARS408's 0..255
    for twice as many targets)."""
    if not 0 < seconds < 3600 or not 1 <= objects <= 127:
        raise ValueError(f"bad traffic: {seconds} s, {objects} objects per radar")
    # Twice as many targets as a radar reports: each radar sees well over half the square.
    scene = crowd(2 * objects, seed=seed, duration_s=seconds + 1.0, radars=BUSES)
    models = [
        RadarModel(mount, RADAR_NOISE[mount.kind], ALL_SEEN, np.random.default_rng(seed + k))
        for k, mount in enumerate(scene.radars)
    ]
    db = ars408_database()
    bit_s = 1.0 / BITRATE
    lines: list[tuple[float, str]] = []
    cycles = math.floor(seconds / CYCLE_S)
    for bus, model in enumerate(models):
        phase = CYCLE_S * bus / BUSES
        for cycle in range(cycles):
            start = phase + cycle * CYCLE_S
            listed = _objects(scene, model, start, objects)
            at = start
            for frame_id, data in encode_object_list(db, 0, cycle, listed):
                lines.append((at, f"vcan{bus} {frame_id:03X}#{data.hex().upper()}"))
                at += frame_bits(len(data)) * bit_s
    lines.sort(key=lambda line: line[0])
    with path.open("w") as log:
        log.writelines(f"({t:.6f}) {frame}\n" for t, frame in lines)
    return Traffic(path, len(lines), cycles, objects, scene.radars)


def _objects(scene: Scene, model: RadarModel, t_s: float, limit: int) -> list[RadarObject]:
    returns = model.scan(scene, t_s)
    return list(_as_objects(returns))[:limit]


def _as_objects(r: RadarReturns) -> Iterator[RadarObject]:
    """The returns as ARS408 objects; the truth id is the object id (the ideal radar keeps
    an object's id while it sees it, as the ARS408 does)."""
    for k in range(len(r)):
        vx, vy = float(r.vx_mps[k]), float(r.vy_mps[k])
        yield RadarObject(
            object_id=int(r.truth_ids[k]) % 256,
            dist_long_m=float(r.x_m[k]),
            dist_lat_m=float(r.y_m[k]),
            # A radar on a pole stands still: relative velocity is over ground.
            vrel_long_mps=vx,
            vrel_lat_mps=vy,
            dyn_prop=0 if math.hypot(vx, vy) > MOVING_MPS else 7,
            rcs_dbsm=float(r.rcs_dbsm[k]),
            obj_class=CLASS_CODE.get(r.object_class[k], 0),
            length_m=float(r.length_m[k]),
            width_m=float(r.width_m[k]),
            prob_of_exist_code=PROB_99_9,
        )


def mount_pose(mount: RadarMount) -> tuple[float, float, float, float]:
    """A scene mount as the daemon's config says it: latitude, longitude, altitude, heading
    (degrees clockwise from north)."""
    frame = LocalFrame.at(*REFERENCE)
    lat, lon, alt = frame.enu_to_geodetic(mount.east_m, mount.north_m, mount.height_m)
    return float(lat), float(lon), float(alt), math.degrees(mount.yaw_rad) % 360.0
