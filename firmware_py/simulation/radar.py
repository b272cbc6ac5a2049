"""A simulated Continental ARS408 radar: the world's actors as object lists on a CAN bus."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from typing import Any

from edge.geo import GeoPoint, east_north_to_sensor
from firmware_py.simulation.world import INTERSECTION, Actor, ActorState
from hal.can.registry import SEND_ONLY, create_can_port
from protocols.radar.ars408 import RadarObject, encode_object_list

CYCLE_S = 0.072  # the ARS408's measurement cycle
NEAR_RANGE_M, NEAR_HALF_ANGLE = 70.0, math.radians(45)
FAR_RANGE_M, FAR_HALF_ANGLE = 250.0, math.radians(9)
CLASS_CODE = {"car": 1, "truck": 2, "pedestrian": 3, "motorcycle": 4, "bicycle": 5}
PROB_99_9 = 7  # Obj_ProbOfExist code for >= 99.9 %


def visible_objects(
    origin: GeoPoint,
    actors: Iterable[tuple[int, Actor, ActorState]],
    *,
    position: GeoPoint,
    heading_rad: float,
) -> list[RadarObject]:
    """The objects a radar at ``position`` looking along ``heading_rad`` reports.

    ``actors`` are ``(object id, actor, state)`` with states in metres east/north of
    ``origin``; the radar sees what lies in its near or far beam, in front of it.
    """
    east, north = origin.east_north_of(position)
    objects = []
    for object_id, actor, state in actors:
        x, y = east_north_to_sensor(state.east_m - east, state.north_m - north, heading_rad)
        rng, bearing = math.hypot(x, y), abs(math.atan2(y, x))
        visible = x > 0.5 and (
            (rng <= NEAR_RANGE_M and bearing <= NEAR_HALF_ANGLE)
            or (rng <= FAR_RANGE_M and bearing <= FAR_HALF_ANGLE)
        )
        if not visible:
            continue
        vx, vy = east_north_to_sensor(*state.velocity, heading_rad)
        objects.append(
            RadarObject(
                object_id=object_id,
                dist_long_m=round(x, 1),
                dist_lat_m=round(y, 1),
                vrel_long_mps=round(vx, 2),
                vrel_lat_mps=round(vy, 2),
                dyn_prop=0 if state.speed_mps > 0.3 else 7,  # moving / stopped
                rcs_dbsm=actor.rcs_dbsm,
                obj_class=CLASS_CODE.get(actor.kind, 0),
                length_m=actor.length_m,
                width_m=actor.width_m,
                prob_of_exist_code=PROB_99_9,
            )
        )
    return objects


class RadarSimulator:
    """Sends the object lists a radar at ``position`` looking along ``heading_rad`` sees."""

    def __init__(
        self,
        actors: list[Actor],
        db: Any,
        *,
        position: GeoPoint,
        heading_rad: float,
        sensor_id: int,
        interface: str,
        channel: str,
    ) -> None:
        self._actors = actors
        self._db = db
        self._position = position
        self._heading = heading_rad
        self._sensor_id = sensor_id
        self._interface = interface
        self._channel = channel
        self.cycles_sent = 0

    def objects_at(self, now: float) -> list[RadarObject]:
        """The objects in the field of view at Unix time ``now``."""
        states = ((i, actor, actor.state_at(now)) for i, actor in enumerate(self._actors))
        return visible_objects(
            INTERSECTION, states, position=self._position, heading_rad=self._heading
        )

    async def run(self) -> None:
        """Send one object list per cycle until cancelled. Raises ``PortOpenError`` when the
        bus cannot be opened, ``TransmitError`` when a frame cannot be sent."""
        port = create_can_port("radar-sim", self._interface, self._channel, wanted=SEND_ONLY)
        with port:
            loop = asyncio.get_running_loop()
            next_tick = loop.time()
            while True:
                frames = encode_object_list(
                    self._db, self._sensor_id, self.cycles_sent, self.objects_at(time.time())
                )
                for frame_id, data in frames:
                    port.send(frame_id, data)
                self.cycles_sent += 1
                next_tick += CYCLE_S
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
