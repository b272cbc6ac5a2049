"""What the vehicle gateway's radio heard, kept for the Day-1 applications.

``HeardWorld.hear`` takes the believable messages (``edge.v2x.reception.ReceptionFilter``'s
downstream): BSMs of remote vehicles, MAPs, SPATs, RSMs and RSIs. ``HeardWorld.picture`` gives,
for one cycle, everything still fresh in one local east/north frame (m), remote vehicles and
RSM participants moved forward to the cycle's time along their speed and heading.

The frame's origin is the first place the ego vehicle was (or a MAP's reference point); it
moves when the ego drives more than ``recentre_m`` from it, so that the plane stays a good
approximation of the ellipsoid (0.1 mm at 1 km).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from edge.apps.day1.lanes import DEFAULT_WIDTH_M, Lane, LaneIndex
from edge.apps.day1.picture import (
    HeardEvent,
    HeardSign,
    Participants,
    Phase,
    Picture,
    PictureSettings,
    Vehicles,
    frame_at,
)
from edge.geodesy import GeodesyError, LocalFrame
from edge.roadside.cooperative_reports import bsm_capture_time
from protocols.errors import ProtocolError
from protocols.v2x import IntersectionMap
from protocols.v2x.bsm_extensions import EVENT_FLAGS, is_emergency_vehicle
from protocols.v2x.map import map_of
from protocols.v2x.rsi import rsi_of
from protocols.v2x.rsm import rsm_of

_COLUMNS = ("lat", "lon", "alt", "speed", "heading", "accel", "yaw_rate", "length", "width", "t")
_INT_COLUMNS = ("id", "events", "turn_signal", "vehicle_class", "heard")
_BOOL_COLUMNS = ("brake", "emergency", "speed_known")


class HeardWorld:
    """Keeps the latest of everything heard. Counters: ``heard.<kind>`` (kept),
    ``unconfirmed.<kind>`` (a MAP or RSI content heard once, not used yet),
    ``ignored.<reason>`` (messages it could not use: ``unplaceable``, ``undecodable``,
    ``vehicles_full``)."""

    def __init__(self, settings: PictureSettings | None = None) -> None:
        self.settings = settings or PictureSettings()
        capacity = self.settings.max_vehicles
        self._float = {name: np.zeros(capacity) for name in _COLUMNS}
        self._int = {name: np.zeros(capacity, np.int64) for name in _INT_COLUMNS}
        # Station ids are 8 bytes, unsigned: all of them fit only in uint64.
        self._int["id"] = np.zeros(capacity, np.uint64)
        self._bool = {name: np.zeros(capacity, bool) for name in _BOOL_COLUMNS}
        self._rows: dict[int, int] = {}  # station id -> row
        self._free = list(range(capacity - 1, -1, -1))
        self._maps: dict[int, tuple[IntersectionMap, float]] = {}  # node id -> (map, heard)
        self._spats: dict[int, tuple[list[dict[str, Any]], float]] = {}
        self._rsms: dict[bytes, tuple[list[Any], float]] = {}  # rsu id -> participants
        self._rsis: dict[bytes, tuple[Any, float]] = {}  # rsu id -> DecodedRsi
        # The last content heard of each MAP node and RSU: used once it comes again.
        self._pending_maps: dict[int, IntersectionMap] = {}
        self._pending_rsis: dict[bytes, tuple[Any, ...]] = {}
        # The RSIs' events and signs placed in the frame, until either changes.
        self._placed: tuple[LocalFrame, tuple[HeardEvent, ...], tuple[HeardSign, ...]] | None = None
        self._frame: LocalFrame | None = None
        self._lane_index: LaneIndex | None = None
        self.counters: Counter[str] = Counter()

    @property
    def frame(self) -> LocalFrame | None:
        return self._frame

    def hear(self, kind: str, fields: Mapping[str, Any], received_s: float) -> None:
        """Keep one believable message (the reception filter's downstream)."""
        try:
            if kind == "bsm":
                self._hear_bsm(fields, received_s)
            elif kind == "map":
                for node in map_of(dict(fields)).nodes:
                    if self._pending_maps.get(node.node_id) != node:
                        self._pending_maps[node.node_id] = node
                        self.counters["unconfirmed.map"] += 1
                        continue
                    if self._maps.get(node.node_id, (None, 0.0))[0] != node:
                        self._lane_index = None
                    self._maps[node.node_id] = (node, received_s)
                    if self._frame is None:
                        self._frame = frame_at(node.reference)
            elif kind == "spat":
                for item in fields["intersections"]:
                    self._spats[int(item["intersection_id"])] = (item["phases"], received_s)
            elif kind == "rsm":
                rsm = rsm_of(dict(fields))
                self._rsms[rsm.rsu_id] = (list(rsm.participants), received_s)
            elif kind == "rsi":
                rsi = rsi_of(dict(fields))
                content = (rsi.reference, rsi.events, rsi.signs)
                if self._pending_rsis.get(rsi.rsu_id) != content:
                    self._pending_rsis[rsi.rsu_id] = content
                    self.counters["unconfirmed.rsi"] += 1
                    return
                known = self._rsis.get(rsi.rsu_id)
                if (
                    known is None
                    or (known[0].reference, known[0].events, known[0].signs) != content
                ):
                    self._placed = None
                self._rsis[rsi.rsu_id] = (rsi, received_s)
            else:
                return
        except (ProtocolError, KeyError, TypeError, ValueError, ArithmeticError, GeodesyError):
            # The reception filter passed it; a field we use still made no sense.
            self.counters["ignored.undecodable"] += 1
            return
        self.counters[f"heard.{kind}"] += 1

    def _hear_bsm(self, fields: Mapping[str, Any], received_s: float) -> None:
        lat, lon = fields["latitude_deg"], fields["longitude_deg"]
        if lat is None or lon is None:
            self.counters["ignored.unplaceable"] += 1
            return
        station = int(fields["station_id"])
        row = self._rows.get(station)
        if row is None:
            if not self._free:
                self._evict_oldest()
            if not self._free:
                self.counters["ignored.vehicles_full"] += 1
                return
            row = self._free.pop()
            self._rows[station] = row
            self._int["heard"][row] = 0
        f, i, b = self._float, self._int, self._bool
        speed = fields.get("speed_mps")
        f["lat"][row], f["lon"][row] = lat, lon
        f["alt"][row] = fields.get("altitude_m") or math.nan
        f["speed"][row] = speed or 0.0
        f["heading"][row] = fields["heading_rad"]
        f["accel"][row] = fields.get("longitudinal_accel_mps2") or 0.0
        f["yaw_rate"][row] = fields.get("yaw_rate_rad_s") or 0.0
        f["length"][row] = fields.get("length_m") or 4.5
        f["width"][row] = fields.get("width_m") or 1.8
        f["t"][row] = bsm_capture_time(int(fields["sec_mark_ms"]), received_s)
        i["id"][row] = station
        mask = 0
        for name in fields.get("events", ()):
            mask |= 1 << EVENT_FLAGS.index(name)
        i["events"][row] = mask
        i["turn_signal"][row] = int(fields.get("turn_signal", 0))
        i["vehicle_class"][row] = int(fields.get("vehicle_class") or 0)
        i["heard"][row] += 1
        b["brake"][row] = bool(fields.get("brake_applied"))
        b["emergency"][row] = is_emergency_vehicle(fields)
        b["speed_known"][row] = speed is not None

    def _evict_oldest(self) -> None:
        rows = np.fromiter(self._rows.values(), np.int64)
        oldest = rows[np.argmin(self._float["t"][rows])]
        self._forget(int(oldest))

    def _forget(self, row: int) -> None:
        del self._rows[int(self._int["id"][row])]
        self._free.append(row)

    def centre_on(self, latitude_deg: float, longitude_deg: float, altitude_m: float) -> LocalFrame:
        """The frame for a cycle whose ego is at this place: the current one unless the ego
        is ``recentre_m`` away from its origin (or there is none yet)."""
        frame = self._frame
        if frame is not None:
            e, n, _ = frame.geodetic_to_enu(latitude_deg, longitude_deg, altitude_m)
            if math.hypot(float(e), float(n)) <= self.settings.recentre_m:
                return frame
        self._frame = LocalFrame.at(latitude_deg, longitude_deg, altitude_m)
        self._lane_index = None
        return self._frame

    def picture(self, now_s: float) -> Picture:
        """What is fresh at ``now_s``; raises ``ValueError`` before the frame is known
        (``centre_on`` or a MAP sets it)."""
        if self._frame is None:
            raise ValueError("no frame yet: centre_on the ego vehicle first")
        self._expire(now_s)
        if self._placed is None or self._placed[0] is not self._frame:
            self._placed = (self._frame, self._events(), self._signs())
        _, events, signs = self._placed
        return Picture(
            now_s=now_s,
            frame=self._frame,
            vehicles=self._vehicles(now_s),
            participants=self._participants(now_s),
            lanes=self._lanes(),
            signals=self._signals(now_s),
            events=events,
            signs=signs,
        )

    def _expire(self, now_s: float) -> None:
        s = self.settings
        for row in [
            r for r in self._rows.values() if now_s - self._float["t"][r] > s.vehicle_max_age_s
        ]:
            self._forget(row)
        if _drop_older(self._maps, now_s - s.map_max_age_s):
            self._lane_index = None
        _drop_older(self._spats, now_s - s.spat_max_age_s)
        _drop_older(self._rsms, now_s - s.rsm_max_age_s)
        if _drop_older(self._rsis, now_s - s.rsi_max_age_s):
            self._placed = None

    def _vehicles(self, now_s: float) -> Vehicles:
        rows = np.fromiter(self._rows.values(), np.int64, len(self._rows))
        rows = rows[self._int["heard"][rows] >= self.settings.min_bsms]
        f, i, b = self._float, self._int, self._bool
        assert self._frame is not None
        alt = f["alt"][rows]
        alt = np.where(np.isnan(alt), self._frame.altitude_m, alt)
        east, north, _ = self._frame.geodetic_to_enu(f["lat"][rows], f["lon"][rows], alt)
        age = np.maximum(now_s - f["t"][rows], 0.0)
        speed, heading = f["speed"][rows], f["heading"][rows]
        # Where each vehicle is now: its last report moved on along its speed and heading.
        east = np.asarray(east) + speed * np.sin(heading) * age
        north = np.asarray(north) + speed * np.cos(heading) * age
        return Vehicles(
            ids=i["id"][rows],
            east=east,
            north=north,
            speed=speed,
            heading=heading,
            accel=f["accel"][rows],
            yaw_rate=f["yaw_rate"][rows],
            length=f["length"][rows],
            width=f["width"][rows],
            age_s=age,
            brake=b["brake"][rows],
            events=i["events"][rows],
            turn_signal=i["turn_signal"][rows],
            emergency=b["emergency"][rows],
            vehicle_class=i["vehicle_class"][rows],
            speed_known=b["speed_known"][rows],
        )

    def _participants(self, now_s: float) -> Participants:
        keys: list[str] = []
        rows: list[tuple[float, ...]] = []
        classes: list[int] = []
        assert self._frame is not None
        for rsu, (participants, heard) in self._rsms.items():
            for p in participants:
                keys.append(f"{rsu.hex()}:{p.object_id}")
                classes.append(int(p.object_class))
                where = p.position
                rows.append(
                    (
                        where.latitude_deg,
                        where.longitude_deg,
                        p.speed_mps or 0.0,
                        p.heading_rad,
                        p.length_m,
                        p.width_m,
                        max(now_s - bsm_capture_time(p.sec_mark_ms, heard), 0.0),
                    )
                )
        table = np.array(rows, dtype=np.float64).reshape(-1, 7)
        east, north, _ = self._frame.geodetic_to_enu(
            table[:, 0], table[:, 1], np.full(len(table), self._frame.altitude_m)
        )
        speed, heading, age = table[:, 2], table[:, 3], table[:, 6]
        return Participants(
            keys=tuple(keys),
            object_class=np.array(classes, np.int64),
            east=np.asarray(east) + speed * np.sin(heading) * age,
            north=np.asarray(north) + speed * np.cos(heading) * age,
            speed=speed,
            heading=heading,
            length=table[:, 4],
            width=table[:, 5],
            age_s=age,
        )

    def _lanes(self) -> LaneIndex:
        if self._lane_index is None:
            assert self._frame is not None
            lanes = []
            for node, _ in self._maps.values():
                offset = self._frame.geodetic_to_enu(
                    node.reference.latitude_deg,
                    node.reference.longitude_deg,
                    node.reference.altitude_m if node.reference.altitude_m is not None else 0.0,
                )
                oe, on = float(offset[0]), float(offset[1])
                for link in node.links:
                    for lane in link.lanes:
                        if len(lane.points) < 2:
                            continue
                        lanes.append(
                            Lane(
                                node_id=node.node_id,
                                lane_id=lane.lane_id,
                                approach=link.upstream_node_id,
                                points=np.array(lane.points, dtype=np.float64) + np.array([oe, on]),
                                width_m=lane.width_m or DEFAULT_WIDTH_M,
                                maneuvers=lane.maneuvers,
                                connections=lane.connections,
                                speed_limit_mps=lane.speed_limit_mps or link.speed_limit_mps,
                                lane_type=lane.lane_type,
                            )
                        )
            self._lane_index = LaneIndex(lanes, self.settings.lane_matching)
        return self._lane_index

    def _signals(self, now_s: float) -> dict[int, dict[int, Phase]]:
        result: dict[int, dict[int, Phase]] = {}
        for node, (phases, heard) in self._spats.items():
            elapsed = max(now_s - heard, 0.0)

            def later(value: float | None, elapsed: float = elapsed) -> float | None:
                return None if value is None else max(value - elapsed, 0.0)

            result[node] = {
                int(p["signal_group"]): Phase(
                    state=p["state"],
                    min_end_s=later(p["min_end_s"]),
                    max_end_s=later(p["max_end_s"]),
                    likely_end_s=later(p["likely_end_s"]),
                )
                for p in phases
            }
        return result

    def _place(self, point: Any) -> tuple[float | None, float | None]:
        if point is None:
            return None, None
        assert self._frame is not None
        e, n, _ = self._frame.geodetic_to_enu(
            point.latitude_deg, point.longitude_deg, self._frame.altitude_m
        )
        return float(e), float(n)

    def _events(self) -> tuple[HeardEvent, ...]:
        result = []
        for rsu, (rsi, _) in self._rsis.items():
            for event in rsi.events:
                east, north = self._place(event.position or rsi.reference)
                result.append(
                    HeardEvent(
                        key=f"rsi:{rsu.hex()}:{event.rte_id}",
                        event_type=event.event_type,
                        event_code=event.event_code,
                        east=east,
                        north=north,
                        radius_m=event.radius_m,
                        description=event.description or "",
                        severity=event.severity,
                    )
                )
        return tuple(result)

    def _signs(self) -> tuple[HeardSign, ...]:
        result = []
        for rsu, (rsi, _) in self._rsis.items():
            for sign in rsi.signs:
                east, north = self._place(sign.position or rsi.reference)
                kph = sign.speed_limit_kph
                result.append(
                    HeardSign(
                        key=f"rts:{rsu.hex()}:{sign.rts_id}",
                        kind=sign.kind,
                        sign_code=sign.sign_code,
                        east=east,
                        north=north,
                        speed_limit_mps=None if kph is None else kph / 3.6,
                        description=sign.description or "",
                    )
                )
        return tuple(result)


def _drop_older(table: dict[Any, tuple[Any, float]], oldest_s: float) -> bool:
    """Forget entries heard before ``oldest_s``; whether there were any."""
    stale = [key for key, (_, heard) in table.items() if heard < oldest_s]
    for key in stale:
        del table[key]
    return bool(stale)
