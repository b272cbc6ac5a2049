"""Build a box for its role, attach the simulated world when asked, and run it."""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Protocol

from firmware_py.box.built_box import Box
from firmware_py.box.roadside_unit import build_roadside_unit
from firmware_py.box.simulated_world import SimulatedWorld
from firmware_py.box.vehicle_gateway import build_vehicle_gateway
from firmware_py.broker_security import warn_if_plaintext
from firmware_py.config.model import BoxConfig, Role

log = logging.getLogger("firmware_py.box")


class Builder(Protocol):
    def __call__(
        self, config: BoxConfig, stack: ExitStack, *, simulated_gnss: str | None = None
    ) -> Box: ...


BUILDERS: Mapping[Role, Builder] = {
    Role.VEHICLE_GATEWAY: build_vehicle_gateway,
    Role.ROADSIDE_UNIT: build_roadside_unit,
}
"""The composition root of each role."""


def build_box(config: BoxConfig, stack: ExitStack) -> Box:
    """Build the box ``config`` describes (ports registered on ``stack`` for closing); with
    ``[simulation]``, the simulated world's sensors are attached to it.

    Raises ``FirmwareError`` when a DBC, port or simulated actor cannot be set up.
    """
    world = SimulatedWorld(config, stack) if config.simulation.enabled else None
    build = BUILDERS[config.device.role]
    box = build(config, stack, simulated_gnss=world.gnss_device if world else None)
    if world is not None:
        world.attach(box)
    return box


async def run_box(config: BoxConfig) -> None:
    """Open the box's ports, build it and run it until cancelled; close everything after."""
    mqtt = config.uplink.mqtt
    warn_if_plaintext(mqtt.host, mqtt.port, tls=mqtt.tls is not None, source=config.source)
    with ExitStack() as stack:
        box = build_box(config, stack)
        log.info(
            "%s (%s) publishing to %s:%d",
            config.device.device_id,
            config.device.role,
            mqtt.host,
            mqtt.port,
        )
        # Everything built so far lives as long as the process: collect once and move it out
        # of the collector's sight, so that no full collection of it (measured at about 17 ms
        # within the first seconds) stalls the uplink's latency later.
        gc.collect()
        gc.freeze()
        await box.run()
