"""Build a box for its role, attach the simulated world when asked, and run it."""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from typing import ClassVar, Protocol, cast

from firmware_py.box.built_box import Box
from firmware_py.box.commands import attach_commands
from firmware_py.box.instance_lock import lock_box_state
from firmware_py.box.simulated_world import SimulatedWorld
from firmware_py.broker_security import warn_if_plaintext
from firmware_py.config.model import BoxConfig, Role
from firmware_py.metrics_endpoint import observe_box
from firmware_py.systemd_notify import run_notifying_systemd

log = logging.getLogger("firmware_py.box")


class Builder(Protocol):
    def __call__(
        self, config: BoxConfig, stack: ExitStack, *, simulated_gnss: str | None = None
    ) -> Box: ...


class _Builders(Mapping[Role, Builder]):
    """Each role's builder, imported when first asked for: a vehicle gateway never loads the
    roadside unit's perception (scipy, the tracker), whose imports alone cost it tens of MiB
    of its 80 MiB budget (``roadgate bench memory``)."""

    _WHERE: ClassVar[Mapping[Role, tuple[str, str]]] = {
        Role.VEHICLE_GATEWAY: ("firmware_py.box.vehicle_gateway", "build_vehicle_gateway"),
        Role.ROADSIDE_UNIT: ("firmware_py.box.roadside_unit", "build_roadside_unit"),
    }

    def __getitem__(self, role: Role) -> Builder:
        module, name = self._WHERE[role]
        return cast(Builder, getattr(importlib.import_module(module), name))

    def __iter__(self) -> Iterator[Role]:
        return iter(self._WHERE)

    def __len__(self) -> int:
        return len(self._WHERE)


BUILDERS: Mapping[Role, Builder] = _Builders()
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
    with ExitStack() as stack:
        # Before anything else: a second box on this state is refused, not half started.
        stack.enter_context(lock_box_state(config.outbox.path))
        warn_if_plaintext(mqtt.host, mqtt.port, tls=mqtt.tls is not None, source=config.source)
        box = build_box(config, stack)
        # With [commands] keys: signed remote commands; a changed config on trial is watched.
        box = attach_commands(
            box,
            config,
            stack,
            restart_service=box.pipeline.restart_service,
            capture=box.pipeline.recorder,
        )
        log.info(
            "%s (%s) publishing to %s:%d",
            config.device.device_id,
            config.device.role,
            mqtt.host,
            mqtt.port,
        )
        # Event-loop lag and process vitals into health; with [metrics], the Prometheus endpoint.
        observing = observe_box(
            box.pipeline.health,
            config.observability.metrics,
            device=config.device.device_id,
            role=config.device.role.value,
        )
        stack.callback(observing.cancel)
        # Everything built so far lives as long as the process: collect once and move it out
        # of the collector's sight, so that no full collection of it (measured at about 17 ms
        # within the first seconds) stalls the uplink's latency later.
        gc.collect()
        gc.freeze()
        # Under systemd: READY once running, STATUS, WATCHDOG while it progresses, STOPPING.
        await run_notifying_systemd(box)
