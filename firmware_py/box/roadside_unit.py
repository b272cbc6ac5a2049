"""The roadside unit's composition: radars fused into tracks, SPaT, speeding, and the
intersection's description (MAP and RSI on the air, to the cloud)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from functools import cache
from typing import Any

from edge.apps.speeding import ENFORCEMENT_TOLERANCE_MPS, SpeedingDetector
from edge.pipelines.roadside_unit import (
    RadarInput,
    RoadsideUnitPipeline,
    RoadsideUnitSettings,
    SignalControllerInput,
)
from edge.roadside.object_fusion import SensorPose, to_object_list
from firmware_py.box.built_box import Box
from firmware_py.box.parts import (
    SIGNAL_CONTROLLER_PORT,
    fix_assembler,
    gnss_clock_check,
    open_can_buses,
    open_gnss,
    open_recorder,
    open_uplink,
    open_v2x_radio,
)
from firmware_py.box.perception import build_perception
from firmware_py.box.sensor_gauges import report_sensors
from firmware_py.config.loader import heading_rad
from firmware_py.config.model import BoxConfig, RadarConfig, SignalControllerConfig
from firmware_py.errors import FirmwareError
from hal.can.frames import FrameBatch
from hal.can.port import CanPort
from hal.net.udp_port import UdpDatagramPort
from protocols.errors import ProtocolError
from protocols.radar import (
    Ars408ObjectListAssembler,
    RadarDefinition,
    RadarObjectList,
    RadarObjectListAssembler,
    load_radar_definition,
    shipped_definition,
)
from protocols.radar.list_gate import ListGate
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import decode_tscbm, to_spat

DEFAULT_SPEED_LIMIT_MPS = 50 / 3.6
"""A roadside unit without ``[roadside]`` enforces an urban limit."""
DEFAULT_SPAT_RATE_HZ = 10.0


def build_roadside_unit(
    config: BoxConfig, stack: ExitStack, *, simulated_gnss: str | None = None
) -> Box:
    """Open a roadside unit's ports (closed by ``stack``) and wire its pipeline.

    ``simulated_gnss`` is the simulated world's GNSS receiver, for ``gnss.port = "simulated"``.
    Raises ``FirmwareError`` when a DBC or port cannot be set up.
    """
    uplink = open_uplink(config, stack)
    recorder = open_recorder(config, stack, uplink)
    buses = open_can_buses(config, stack)
    gnss = open_gnss(config, stack, simulated_gnss)
    perception = build_perception(config, uplink, recording=recorder)
    radio = None
    if config.v2x is not None:
        radio = open_v2x_radio(config.v2x, stack, on_heard=perception.on_heard, recording=recorder)
    roadside = config.roadside
    controller = None
    if roadside is not None and roadside.signal_controller is not None:
        controller = _signal_controller_input(roadside.signal_controller, stack)
    speed_limit_mps = roadside.speed_limit_mps if roadside else DEFAULT_SPEED_LIMIT_MPS
    fixes = fix_assembler(config)
    pipeline = RoadsideUnitPipeline(
        radars=[
            _radar_input(radar, buses[radar.bus].port, buses[radar.bus].database)
            for radar in config.radars
        ],
        gnss=gnss,
        fixes=fixes,
        signal_plan=roadside.signal_plan if roadside else None,
        signal_controller=controller,
        uplink=uplink,
        settings=RoadsideUnitSettings(
            spat_rate_hz=roadside.spat_rate_hz if roadside else DEFAULT_SPAT_RATE_HZ,
            health_period_s=config.health_period_s,
            raw_object_lists=config.perception.raw_object_lists,
            uplink_period_s=config.perception.uplink_period_s,
            radar_read_window_s=config.perception.read_window_s,
        ),
        apps=[
            SpeedingDetector(
                config.device.device_id,
                speed_limit_mps,
                tolerance_mps=ENFORCEMENT_TOLERANCE_MPS,
            )
        ],
        place=to_object_list,
        fusion=perception.fusion,
        feeds=perception.feeds,
        health_sources=perception.health_sources,
        radio=radio,
        clock_check=gnss_clock_check(config),
        intersection=roadside.intersection if roadside else None,
        recorder=recorder,
    )
    ports = {name: b.port for name, b in buses.items()}
    report_sensors(pipeline.health, ports, fixes if config.gnss else None)
    return Box(config, uplink, pipeline, {name: b.database for name, b in buses.items()})


def _radar_input(radar: RadarConfig, port: CanPort, database: Any) -> RadarInput:
    """The radar's input on ``port``: an ARS408 decodes with the bus's ``database``, another
    kind with the DBC its definition names. Raises ``FirmwareError`` if that cannot load."""
    assembler: RadarObjectListAssembler
    if radar.kind == "ars408":
        assembler = Ars408ObjectListAssembler(sensor_id=radar.sensor_id, db=database)
    else:
        assembler = RadarObjectListAssembler(_definition(radar.kind), radar.sensor_id)

    # Reads are held back until they may complete a list: one decode per list, not per read.
    gate = ListGate(assembler)

    def extract(batch: FrameBatch) -> Sequence[RadarObjectList]:
        return gate.feed_batch(batch)

    pose = SensorPose(radar.sensor, radar.position, heading_rad(radar))
    return RadarInput(port, extract, pose, counters=lambda: assembler.counters)


@cache
def _definition(kind: str) -> RadarDefinition:
    """The shipped definition of radar ``kind`` (one the loader accepts), on its own DBC."""
    try:
        return load_radar_definition(shipped_definition(kind))
    except (ProtocolError, ValueError) as err:
        raise FirmwareError(f"radar kind {kind!r}: {err}") from err


def _signal_controller_input(
    config: SignalControllerConfig, stack: ExitStack
) -> SignalControllerInput:
    """Bind the controller's UDP port (closed by ``stack``) and pick its protocol's decoder."""
    port = UdpDatagramPort(SIGNAL_CONTROLLER_PORT, config.bind, config.port)
    stack.enter_context(port)
    groups = dict(config.signal_groups) or None  # none configured: signal group = phase

    def decode(data: bytes) -> pb.SignalPhaseTiming:
        # "tscbm" is the only protocol the loader accepts.
        return to_spat(decode_tscbm(data), config.intersection_id, groups)

    return SignalControllerInput(port, decode, timeout_s=config.timeout_s)
