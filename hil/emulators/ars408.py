"""A Continental ARS408 radar: the ground truth's actors, or what a scene's radar measurement
model returns, as object lists on a CAN channel."""

from __future__ import annotations

import math
from collections import Counter

from edge.geo import GeoPoint
from firmware_py.simulation.radar import visible_objects
from hil.clock import ScenarioClock
from hil.emulators.base import ThreadedEmulator
from hil.emulators.can_sender import CanSender
from hil.emulators.gate import ChannelGate
from hil.emulators.scene_radar import SceneRadar, radar_model
from hil.world import GroundTruth
from protocols.radar.ars408 import RadarObject, ars408_database, encode_object_list


class Ars408Emulator(ThreadedEmulator):
    """Every ``cycle_s`` sends the objects a radar at ``position`` looking along
    ``heading_deg`` (clockwise from north) sees at that scenario time, at the ids of
    ``sensor_id`` (+0x10 per id, so several radars share a bus). An actor keeps its object id
    (its index in ``truth.actors``).

    With ``mount`` (a radar of ``truth.scene``) it reports instead what that radar's measurement
    model (``model``: ``ideal`` or ``realistic``, seeded with ``seed``) returns each cycle, under
    ids of its own (``hil.emulators.radar_ids``); ``position`` and ``heading_deg`` must then be
    the mount's pose. Stats: ``cycles``, ``sent``, ``failed``, ``suppressed``, and with a mount
    ``unassigned`` (returns beyond the 100 object ids).
    """

    def __init__(
        self,
        name: str,
        truth: GroundTruth,
        *,
        channel: str,
        interface: str = "socketcan",
        sensor_id: int,
        position: GeoPoint,
        heading_deg: float,
        cycle_s: float = 0.072,
        gate: ChannelGate | None = None,
        mount: str | None = None,
        model: str = "ideal",
        seed: int = 0,
    ) -> None:
        """Raises ``ValueError`` for a sensor id outside 0..7, a cycle <= 0, or a mount that is
        not an ARS408 of the truth's scene."""
        super().__init__(name)
        if not 0 <= sensor_id <= 7:
            raise ValueError(f"emulator {name!r}: ARS408 sensor id {sensor_id} not in 0..7")
        if not cycle_s > 0:
            raise ValueError(f"emulator {name!r}: cycle_s must be positive, got {cycle_s}")
        self.channel = channel
        self.sensor_id = sensor_id
        self._truth = truth
        self._position = position
        self._heading = math.radians(heading_deg)
        self._cycle_s = cycle_s
        self._db = ars408_database()
        self._sender = CanSender(
            self._counts, name=name, channel=channel, interface=interface, gate=gate
        )
        for key in ("cycles", "sent", "failed", "suppressed"):
            self._counts[key] = 0
        self.scene_radar: SceneRadar | None = None
        if mount is not None:
            self.scene_radar = _scene_radar(name, truth, mount, model, seed)
            self._counts["unassigned"] = 0

    @property
    def delivered(self) -> Counter[int]:
        return self._sender.delivered

    def objects_at(self, t_s: float, cycle: int = 0) -> list[RadarObject]:
        """The objects the radar reports at scenario time ``t_s`` (with a mount: one scan,
        labelled ``cycle``)."""
        if self.scene_radar is not None:
            objects = self.scene_radar.objects(t_s, cycle)
            self._counts["unassigned"] = self.scene_radar.unassigned
            return objects
        truth = self._truth
        states = (
            (object_id, actor, actor.state_at(t_s))
            for object_id, actor in enumerate(truth.actors.values())
        )
        return visible_objects(
            truth.origin, states, position=self._position, heading_rad=self._heading
        )

    def _open(self) -> None:
        self._sender.open()

    def _close(self) -> None:
        self._sender.close()

    def _run(self, clock: ScenarioClock) -> None:
        tick = clock.now_s()
        cycle = 0
        while not self._wait_until(tick):
            frames = encode_object_list(
                self._db, self.sensor_id, cycle, self.objects_at(clock.now_s(), cycle)
            )
            for frame_id, data in frames:
                self._sender.send(frame_id, data)
            cycle += 1
            self._counts["cycles"] += 1
            tick += self._cycle_s
            # After a stall, go on from now rather than sending the missed cycles at once.
            tick = max(tick, clock.now_s() - self._cycle_s)


def _scene_radar(name: str, truth: GroundTruth, mount: str, model: str, seed: int) -> SceneRadar:
    if truth.scene is None:
        raise ValueError(f"emulator {name!r}: mount {mount!r} needs a world with a scene")
    try:
        radar = truth.mount(mount)
    except KeyError:
        known = [m.sensor_id for m in truth.scene.radars]
        raise ValueError(f"emulator {name!r}: no radar {mount!r} in the scene; {known}") from None
    if radar.kind != "ars408":
        raise ValueError(f"emulator {name!r}: {mount!r} is a {radar.kind}, not an ars408")
    return SceneRadar(truth.scene, radar_model(radar, model, seed))
