"""The simulated intersection feeding one box, attached apart from the box's own wiring.

Opened before the box is built (its GNSS receiver is a pseudo-terminal that must exist when
the box opens its GNSS port), attached after (its CAN sensors speak the box's DBCs).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, assert_never

from firmware_py.box.built_box import Box, Simulator
from firmware_py.config.loader import heading_rad
from firmware_py.config.model import SIMULATED, BoxConfig, Role
from firmware_py.errors import FirmwareError
from firmware_py.simulation.gnss import GnssSimulator, Track, fixed_point, riding
from firmware_py.simulation.radar import RadarSimulator
from firmware_py.simulation.vehicle_can import VehicleCanSimulator
from firmware_py.simulation.world import INTERSECTION, intersection_actors


class SimulatedWorld:
    """The demo intersection's actors, as one box's sensors see them."""

    def __init__(self, config: BoxConfig, stack: ExitStack) -> None:
        """Open the simulated GNSS receiver (closed by ``stack``) when ``[gnss]`` asks for it.

        Raises ``FirmwareError`` when the box rides on an actor the world does not have.
        """
        self._config = config
        self._actors = intersection_actors()
        self._simulators: list[Simulator] = []
        self.gnss_device: str | None = None
        """The simulated receiver's device path, for ``gnss.port = "simulated"``."""
        if config.gnss is not None and config.gnss.port == SIMULATED:
            gnss = stack.enter_context(GnssSimulator(self._track()))
            self._simulators.append(Simulator("gnss", gnss.run))
            self.gnss_device = gnss.device_path

    def attach(self, box: Box) -> None:
        """Add the world's sensors on the box's CAN buses (and its GNSS) to ``box``."""
        config = self._config
        role = config.device.role
        if role is Role.VEHICLE_GATEWAY:
            bus = config.can[0]
            car = VehicleCanSimulator(
                self._actor(),
                box.databases[bus.name],
                interface=bus.interface,
                channel=bus.channel,
            )
            self._simulators.append(Simulator("vehicle-can", car.run))
        elif role is Role.ROADSIDE_UNIT:
            for radar in config.radars:
                bus = next(b for b in config.can if b.name == radar.bus)
                sim = RadarSimulator(
                    list(self._actors.values()),
                    box.databases[radar.bus],
                    position=radar.position,
                    heading_rad=heading_rad(radar),
                    sensor_id=radar.sensor_id,
                    interface=bus.interface,
                    channel=bus.channel,
                )
                self._simulators.append(Simulator(f"radar-{radar.sensor}", sim.run))
        else:
            assert_never(role)
        box.simulators.extend(self._simulators)

    def _track(self) -> Track:
        """Where the box's simulated GNSS receiver is: on its actor, or at its radar."""
        config = self._config
        role = config.device.role
        if role is Role.VEHICLE_GATEWAY:
            return riding(self._actor())
        if role is Role.ROADSIDE_UNIT:
            return fixed_point(config.radars[0].position if config.radars else INTERSECTION)
        assert_never(role)

    def _actor(self) -> Any:
        name = self._config.simulation.actor
        if name not in self._actors:
            raise FirmwareError(
                f"{self._config.source}: simulation.actor = {name!r} is not a simulated actor; "
                f"valid: {sorted(self._actors)}"
            )
        return self._actors[name]
