"""A built box: its pipeline, uplink, CAN databases and, when simulated, the sensors feeding it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # each role's pipeline is imported by its own builder only
    from edge.pipelines.roadside_unit import RoadsideUnitPipeline
    from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline
    from edge.uplink.publisher import UplinkPublisher
    from firmware_py.config.model import BoxConfig


@dataclass(frozen=True)
class Simulator:
    """A simulated sensor's loop, run beside the pipeline; ``name`` names its task."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Box:
    """A built box. ``databases`` maps each CAN bus's name to its DBC database (what the
    simulated sensors on that bus speak); ``simulators`` is empty until a world is attached."""

    config: BoxConfig
    uplink: UplinkPublisher
    pipeline: VehicleGatewayPipeline | RoadsideUnitPipeline
    databases: Mapping[str, Any] = field(default_factory=dict)
    simulators: list[Simulator] = field(default_factory=list)

    async def run(self) -> None:
        """Run the pipeline and the simulators until cancelled."""
        device_id = self.config.device.device_id
        async with asyncio.TaskGroup() as tasks:
            for simulator in self.simulators:
                tasks.create_task(simulator.run(), name=f"{device_id}-sim-{simulator.name}")
            tasks.create_task(self.pipeline.run(), name=f"box-{device_id}")
