"""Day-1 application scenes: an ego vehicle and what its radio hears, through the real codec.

A ``V2xScene`` places road users (``Mover``) in metres east/north of an origin; ``run_scene``
steps it at 10 Hz: every remote vehicle's BSM, the RSU's MAP (1 Hz), SPAT and RSM (10 Hz) and
RSI (1 Hz) are encoded as T/CSAE 53 UPER frames, decoded, passed through the reception filter
into a ``HeardWorld``, and the ego's state is judged by a ``Day1Engine``. The unit scenarios of
every application and ``roadgate bench v2x``'s application cycle run on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edge.apps.day1.engine import Day1Engine, EngineSettings
from edge.apps.day1.findings import Day1App
from edge.apps.day1.heard_world import HeardWorld
from edge.apps.day1.picture import PictureSettings, frame_at
from edge.geodesy import LocalFrame
from edge.v2x.reception import ReceptionFilter, ReceptionSettings
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import (
    GeoPoint,
    IntersectionMap,
    StaticSign,
    decode_message_frame,
    encode_bsm,
    encode_map,
    encode_rsi,
    encode_rsm,
    encode_spat,
    station_id_bytes,
)
from protocols.v2x.bsm_extensions import BsmExtensions

ORIGIN = GeoPoint(34.2235, 108.8905, 410.0)
"""The example intersection's reference point (firmware_py/examples/intersection-101.toml)."""
T0_UNIX = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
RATE_HZ = 10.0
RSU_ID = station_id_bytes(0x5253_5500_0000_0065)
_STEP_S = 0.01


@dataclass(frozen=True)
class Segment:
    """``duration_s`` of driving at ``accel_mps2`` (until standstill) turning at
    ``yaw_rate_deg_s`` (clockwise positive, as headings)."""

    duration_s: float
    accel_mps2: float = 0.0
    yaw_rate_deg_s: float = 0.0
    brake: bool = False


@dataclass(frozen=True)
class Mover:
    """A road user: start (m east/north of the origin), heading (degrees clockwise from north)
    and speed, then ``segments`` (after the last, it keeps its speed and heading).

    ``station_id`` identifies a BSM sender; ``heard_from_s``/``heard_until_s`` bound when its
    messages are on the air; ``extensions`` go into its BSMs (per time, when a callable);
    ``object_class`` is its class as an RSM participant."""

    east_m: float
    north_m: float
    heading_deg: float
    speed_mps: float
    segments: tuple[Segment, ...] = ()
    station_id: int = 0
    length_m: float = 4.6
    width_m: float = 1.8
    turn_signal: pb.TurnSignal.ValueType = pb.TURN_SIGNAL_OFF
    extensions: BsmExtensions | Callable[[float], BsmExtensions] | None = None
    heard_from_s: float = 0.0
    heard_until_s: float = math.inf
    object_class: pb.ObjectClass.ValueType = pb.OBJECT_CLASS_CAR

    def at(self, t_s: float) -> tuple[float, float, float, float, float, bool]:
        """(east, north, heading rad, speed, accel, brake) at scene time ``t_s``."""
        east, north = self.east_m, self.north_m
        heading, speed = math.radians(self.heading_deg), self.speed_mps
        accel, brake, left = 0.0, False, t_s
        for seg in self.segments:
            span = min(seg.duration_s, left)
            steps = max(1, round(span / _STEP_S))
            dt = span / steps if span > 0 else 0.0
            accel, brake = seg.accel_mps2, seg.brake
            for _ in range(steps if span > 0 else 0):
                speed_next = max(speed + seg.accel_mps2 * dt, 0.0)
                mean = (speed + speed_next) / 2
                heading += math.radians(seg.yaw_rate_deg_s) * dt
                east += mean * math.sin(heading) * dt
                north += mean * math.cos(heading) * dt
                speed = speed_next
            if speed == 0.0:
                accel = 0.0
            left -= span
            if left <= 0:
                return east, north, heading, speed, accel, brake
        east += speed * math.sin(heading) * left
        north += speed * math.cos(heading) * left
        return east, north, heading, speed, 0.0, False

    def yaw_rate(self, t_s: float) -> float:
        elapsed = 0.0
        for seg in self.segments:
            if elapsed <= t_s < elapsed + seg.duration_s:
                return -math.radians(seg.yaw_rate_deg_s)  # pb: counter-clockwise positive
            elapsed += seg.duration_s
        return 0.0


@dataclass(frozen=True)
class V2xScene:
    """The ego, the vehicles it hears, and what an RSU says (all optional)."""

    ego: Mover
    remotes: Sequence[Mover] = ()
    intersection: IntersectionMap | None = None
    spat: Callable[[float], pb.SignalPhaseTiming] | None = None  # Unix s -> SPaT
    events: Sequence[pb.TrafficEvent] = ()  # RSI events, positions as pb.Position
    signs: Sequence[StaticSign] = ()
    participants: Sequence[Mover] = ()  # RSM (VRUs, unequipped vehicles)
    origin: GeoPoint = ORIGIN


@dataclass
class SceneRun:
    """What ran: warnings that started, as (scene time, event), and the engine and filter."""

    engine: Day1Engine
    reception: ReceptionFilter
    world: HeardWorld
    started: list[tuple[float, pb.TrafficEvent]] = field(default_factory=list)

    def first(self, app: str) -> float | None:
        """Scene time of ``app``'s first warning (None: it never warned)."""
        return next((t for t, e in self.started if e.application == app), None)

    def count(self, app: str) -> int:
        return sum(1 for _, e in self.started if e.application == app)


def vehicle_state(mover: Mover, t_s: float, frame: LocalFrame) -> pb.VehicleState:
    """``mover``'s state at scene time ``t_s`` as a gateway would publish it."""
    east, north, heading, speed, accel, brake = mover.at(t_s)
    lat, lon, alt = frame.enu_to_geodetic(east, north, 0.0)
    return pb.VehicleState(
        position=pb.Position(
            latitude_deg=float(lat),
            longitude_deg=float(lon),
            altitude_m=float(alt),
            horizontal_accuracy_m=0.5,
            fix_quality=pb.FIX_QUALITY_RTK_FIXED,
        ),
        speed_mps=speed,
        heading_rad=heading % (2 * math.pi),
        yaw_rate_rad_s=mover.yaw_rate(t_s),
        longitudinal_accel_mps2=accel,
        brake_applied=brake,
        turn_signal=mover.turn_signal,
        gear=pb.GEAR_DRIVE,
        length_m=mover.length_m,
        width_m=mover.width_m,
    )


def _extensions(mover: Mover, t_s: float) -> BsmExtensions | None:
    ext = mover.extensions
    return ext(t_s) if callable(ext) else ext


def _objects(scene: V2xScene, t_s: float, frame: LocalFrame) -> pb.ObjectList:
    objects = pb.ObjectList(kind=pb.OBJECT_LIST_KIND_FUSED)
    for index, mover in enumerate(scene.participants):
        if not mover.heard_from_s <= t_s <= mover.heard_until_s:
            continue
        east, north, heading, speed, _, _ = mover.at(t_s)
        lat, lon, _ = frame.enu_to_geodetic(east, north, 0.0)
        item = objects.objects.add(
            object_id=index + 1,
            object_class=mover.object_class,
            speed_mps=speed,
            heading_rad=heading % (2 * math.pi),
            length_m=mover.length_m,
            width_m=mover.width_m,
        )
        item.position.latitude_deg = float(lat)
        item.position.longitude_deg = float(lon)
        item.position.horizontal_accuracy_m = 0.5
    return objects


def scene_frames(scene: V2xScene, tick: int) -> list[bytes]:
    """Every frame on the air at tick ``tick`` (10 Hz) of ``scene``."""
    t_s = tick / RATE_HZ
    unix_s = T0_UNIX + t_s
    frame = frame_at(scene.origin)
    frames = []
    count = tick % 128
    for mover in scene.remotes:
        if mover.heard_from_s <= t_s <= mover.heard_until_s:
            state = vehicle_state(mover, t_s, frame)
            frames.append(
                encode_bsm(
                    state,
                    vehicle_id=station_id_bytes(mover.station_id),
                    msg_cnt=count,
                    unix_s=unix_s,
                    extensions=_extensions(mover, t_s),
                )
            )
    if scene.intersection is not None and tick % 10 == 0:
        frames.append(encode_map([scene.intersection], msg_cnt=count, unix_s=unix_s))
    if scene.spat is not None:
        frames.append(encode_spat(scene.spat(unix_s), msg_cnt=count, unix_s=unix_s))
    if (scene.events or scene.signs) and tick % 10 == 0:
        frames.append(
            encode_rsi(
                list(scene.events),
                list(scene.signs),
                reference=scene.origin,
                rsu_id=RSU_ID,
                msg_cnt=count,
                unix_s=unix_s,
            )
        )
    if scene.participants:
        objects = _objects(scene, t_s, frame)
        if objects.objects:
            result = encode_rsm(
                objects, reference=scene.origin, rsu_id=RSU_ID, msg_cnt=count, unix_s=unix_s
            )
            frames.extend(result.frames)
    return frames


def run_scene(
    scene: V2xScene,
    apps: Sequence[Day1App],
    duration_s: float,
    *,
    picture: PictureSettings | None = None,
    reception: ReceptionSettings | None = None,
    engine: EngineSettings | None = None,
    tamper: Callable[[int, bytes], bytes | None] | None = None,
) -> SceneRun:
    """Step ``scene`` for ``duration_s`` at 10 Hz with ``apps``; ``tamper`` may change or
    drop (None) each frame on the air (tick, frame) before the radio hears it."""
    world = HeardWorld(picture)
    filter_ = ReceptionFilter(world.hear, reception)
    day1 = Day1Engine("veh-test", world, apps, settings=engine)
    run = SceneRun(day1, filter_, world)
    frame = frame_at(scene.origin)
    for tick in range(round(duration_s * RATE_HZ) + 1):
        t_s = tick / RATE_HZ
        unix_s = T0_UNIX + t_s
        for data in scene_frames(scene, tick):
            heard = tamper(tick, data) if tamper is not None else data
            if heard is None:
                continue
            try:
                kind, fields = decode_message_frame(heard)
            except ProtocolError:
                continue  # what a tamper broke; the radio counts those
            filter_(kind, fields, unix_s + 0.005)  # 5 ms over the air
        state = vehicle_state(scene.ego, t_s, frame)
        for event in day1.cycle(state, unix_s + 0.01):
            run.started.append((t_s, event))
    return run
