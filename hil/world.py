"""A scenario's ground truth: actors whose motion is a pure function of scenario time, or a
named scene (``firmware_py.simulation.scenes``) with its objects and radar mounts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from edge.geo import GeoPoint
from edge.geodesy import LocalFrame
from firmware_py.simulation.scenes import RadarMount, Scene
from firmware_py.simulation.world import Actor, ActorState


@dataclass(frozen=True)
class GroundTruth:
    """Where every actor (or the scene's objects) is at scenario time ``t_s``, in metres
    east/north of ``origin``. A world has actors or a scene, not both."""

    origin: GeoPoint
    actors: Mapping[str, Actor]
    scene: Scene | None = None

    def state(self, actor: str, t_s: float) -> ActorState:
        return self.actors[actor].state_at(t_s)

    def position(self, actor: str, t_s: float) -> GeoPoint:
        state = self.state(actor, t_s)
        return self.origin.offset(state.east_m, state.north_m)

    @property
    def frame(self) -> LocalFrame:
        """The east-north-up frame at ``origin`` the scene's coordinates are in."""
        o = self.origin
        return LocalFrame.at(o.latitude_deg, o.longitude_deg, o.altitude_m)

    def mount(self, sensor_id: str) -> RadarMount:
        """The scene's radar mount ``sensor_id``; ``KeyError`` without a scene or such mount."""
        if self.scene is not None:
            for mount in self.scene.radars:
                if mount.sensor_id == sensor_id:
                    return mount
        raise KeyError(sensor_id)

    def mount_position(self, mount: RadarMount) -> GeoPoint:
        """Where ``mount`` is on the globe (its height above the origin as altitude)."""
        lat, lon, alt = self.frame.enu_to_geodetic(mount.east_m, mount.north_m, mount.height_m)
        return GeoPoint(float(lat), float(lon), float(alt))
