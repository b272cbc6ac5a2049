"""The vehicle gateway's composition: one CAN bus, GNSS, the state estimator, EEBL, and with a
radio the Day-1 applications on what it hears (through the reception filter)."""

from __future__ import annotations

from contextlib import ExitStack

from edge.apps.emergency_brake import EmergencyBrakeDetector
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from edge.vehicle.state_estimator import VehicleStateEstimator
from firmware_py.box.built_box import Box
from firmware_py.box.parts import (
    fix_assembler,
    gnss_clock_check,
    needed_messages,
    open_can_buses,
    open_gnss,
    open_recorder,
    open_uplink,
    open_v2x_radio,
)
from firmware_py.box.sensor_gauges import report_sensors
from firmware_py.config.model import BoxConfig
from firmware_py.errors import FirmwareError
from protocols.dbc import VectorDecoder


def build_vehicle_gateway(
    config: BoxConfig, stack: ExitStack, *, simulated_gnss: str | None = None
) -> Box:
    """Open a vehicle gateway's ports (closed by ``stack``) and wire its pipeline.

    ``simulated_gnss`` is the simulated world's GNSS receiver, for ``gnss.port = "simulated"``.
    Raises ``FirmwareError`` when a DBC or port cannot be set up, or the box has not exactly
    one CAN bus.
    """
    vehicle = config.vehicle
    if vehicle is None:  # the loader refuses a vehicle gateway without [vehicle]
        raise FirmwareError(f"{config.source}: a vehicle_gateway needs a [vehicle] table")
    uplink = open_uplink(config, stack)
    recorder = open_recorder(config, stack, uplink)
    buses = open_can_buses(config, stack)
    if len(buses) != 1:
        raise FirmwareError(f"{config.source}: a vehicle gateway reads exactly one [[can]] bus")
    (bus,) = buses.values()
    radio, day1 = None, None
    if config.v2x is not None:
        # Here, not at the top: the applications and the V2X codec (asn1tools, about 20 MiB)
        # are for a box with a radio.
        from firmware_py.box.day1 import Day1Parts

        day1 = Day1Parts.build(config, stack)
        radio = open_v2x_radio(config.v2x, stack, on_heard=day1.reception, recording=recorder)
    fixes = fix_assembler(config)
    pipeline = VehicleGatewayPipeline(
        can_ports=[bus.port],
        decoder=VectorDecoder(bus.database, needed_messages(config)),
        estimator=VehicleStateEstimator(vehicle.signals, vehicle.dimensions),
        gnss=open_gnss(config, stack, simulated_gnss),
        fixes=fixes,
        uplink=uplink,
        settings=VehicleGatewaySettings(
            state_rate_hz=vehicle.state_rate_hz, health_period_s=config.health_period_s
        ),
        apps=[EmergencyBrakeDetector(config.device.device_id, vehicle.hard_braking_mps2)],
        radio=radio,
        clock_check=gnss_clock_check(config),
        v2x_apps=day1.engine if day1 is not None else None,
        recorder=recorder,
    )
    if day1 is not None:
        day1.report_to(pipeline.health)
    ports = {name: b.port for name, b in buses.items()}
    report_sensors(pipeline.health, ports, fixes if config.gnss else None)
    return Box(config, uplink, pipeline, {name: b.database for name, b in buses.items()})
