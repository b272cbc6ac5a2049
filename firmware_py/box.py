"""Build one box (roadside unit or vehicle gateway) from its config and run it."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from edge.errors import UplinkError
from edge.identity import DeviceIdentity
from edge.pipelines.roadside_unit import (
    RadarInput,
    RoadsideUnitPipeline,
    RoadsideUnitSettings,
    SignalControllerInput,
)
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline, VehicleGatewaySettings
from edge.roadside.object_fusion import SensorPose
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from edge.v2x import V2xRadio
from firmware_py import __version__
from firmware_py.broker_security import warn_if_plaintext
from firmware_py.config.loader import heading_rad
from firmware_py.config.model import (
    SIMULATED,
    BoxConfig,
    OutboxConfig,
    RadarConfig,
    SignalControllerConfig,
    V2xConfig,
)
from firmware_py.errors import FirmwareError
from firmware_py.simulation.gnss import GnssSimulator, fixed_point, riding
from firmware_py.simulation.radar import RadarSimulator
from firmware_py.simulation.vehicle_can import VehicleCanSimulator
from firmware_py.simulation.world import INTERSECTION, intersection_actors
from hal.can.frames import FrameBatch
from hal.can.port import CanPort
from hal.can.registry import WantedIds, create_can_port
from hal.net.udp_link import UdpLink
from hal.net.udp_port import UdpDatagramPort
from hal.serial.pyserial_port import PySerialLinePort
from protocols.dbc import VectorDecoder, load_dbc
from protocols.errors import ProtocolError
from protocols.nmea import NmeaFixAssembler
from protocols.radar.ars408 import Ars408ObjectListAssembler, RadarObjectList
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.spat import decode_tscbm, to_spat

log = logging.getLogger("firmware_py.box")

ROLE = {
    "roadside_unit": pb.DEVICE_ROLE_ROADSIDE_UNIT,
    "vehicle_gateway": pb.DEVICE_ROLE_VEHICLE_GATEWAY,
}
SIGNAL_CONTROLLER_PORT = "signal-controller"
"""The signal controller's UDP port's name: health counters ``udp.signal-controller.*``."""
V2X_RADIO_PORT = "v2x-radio"
"""The C-V2X radio link's name: health counters ``udp.v2x-radio.*``."""


@dataclass
class Box:
    """A built box: its pipeline and, when simulated, the sensors feeding it."""

    config: BoxConfig
    uplink: UplinkPublisher
    pipeline: VehicleGatewayPipeline | RoadsideUnitPipeline
    simulators: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)

    async def run(self) -> None:
        """Run the pipeline and the simulators until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for simulate in self.simulators:
                tasks.create_task(simulate())
            tasks.create_task(self.pipeline.run(), name=f"box-{self.config.device.device_id}")


async def run_box(config: BoxConfig) -> None:
    """Open the box's ports, build it and run it until cancelled; close everything after."""
    uplink = config.uplink
    warn_if_plaintext(uplink.host, uplink.port, tls=uplink.tls is not None, source=config.source)
    with ExitStack() as stack:
        box = build_box(config, stack)
        log.info(
            "%s (%s) publishing to %s:%d",
            config.device.device_id,
            config.device.role,
            config.uplink.host,
            config.uplink.port,
        )
        # Everything built so far lives as long as the process: collect once and move it out
        # of the collector's sight, so that no full collection of it (measured at about 17 ms
        # within the first seconds) stalls the uplink's latency later.
        gc.collect()
        gc.freeze()
        await box.run()


def build_box(config: BoxConfig, stack: ExitStack) -> Box:
    """Open ports (registered on ``stack`` for closing) and wire the pipeline.

    Raises ``FirmwareError`` when a DBC, port or simulated actor cannot be set up.
    """
    identity = DeviceIdentity(
        config.device.device_id, config.device.region, ROLE[config.device.role]
    )
    outbox = stack.enter_context(open_outbox(config.outbox))
    uplink = UplinkPublisher(identity, config.uplink, outbox, software_version=__version__)
    simulate = config.simulation.enabled
    actors = intersection_actors()
    simulators: list[Callable[[], Coroutine[Any, Any, None]]] = []

    databases: dict[str, Any] = {}
    decoders: dict[str, VectorDecoder] = {}
    ports: dict[str, CanPort] = {}
    for bus in config.can:
        try:
            loaded = load_dbc(bus.dbc, encoding=bus.dbc_encoding)
        except ProtocolError as err:
            raise FirmwareError(f"{config.source}: can bus {bus.name!r}: {err}") from err
        for relaxation in loaded.relaxations:
            log.warning("%s: loaded %s in relaxed mode: %s", bus.name, bus.dbc.name, relaxation)
        databases[bus.name] = loaded.database
        wanted = wanted_ids(config, bus.name, loaded.database)
        decoders[bus.name] = VectorDecoder(loaded.database, _needed_messages(config, bus.name))
        port = create_can_port(bus.name, bus.interface, bus.channel, bus.bitrate, bus.fd, wanted)
        stack.enter_context(port)
        ports[bus.name] = port

    gnss = None
    if config.gnss is not None:
        url = config.gnss.port
        if url == SIMULATED:
            if not simulate:
                raise FirmwareError(f"{config.source}: gnss.port = 'simulated' needs [simulation]")
            if config.device.role == "vehicle_gateway":
                track = riding(_actor(actors, config))
            else:
                track = fixed_point(config.radars[0].position if config.radars else INTERSECTION)
            gnss_sim = stack.enter_context(GnssSimulator(track))
            simulators.append(gnss_sim.run)
            url = gnss_sim.device_path
        gnss = PySerialLinePort("gnss", url, baudrate=config.gnss.baudrate)
        stack.enter_context(gnss)
    fixes = NmeaFixAssembler(
        allow_missing_checksum=bool(config.gnss and config.gnss.allow_missing_checksum)
    )

    radio = _v2x_radio(config.v2x, stack) if config.v2x is not None else None
    pipeline: VehicleGatewayPipeline | RoadsideUnitPipeline
    if config.device.role == "vehicle_gateway":
        assert config.vehicle is not None  # the loader guarantees it
        if len(decoders) != 1:
            raise FirmwareError(f"{config.source}: a vehicle gateway reads exactly one [[can]] bus")
        ((bus_name, decoder),) = decoders.items()
        if simulate:
            bus_config = config.can[0]
            car = VehicleCanSimulator(
                _actor(actors, config),
                databases[bus_name],
                interface=bus_config.interface,
                channel=bus_config.channel,
            )
            simulators.append(car.run)
        pipeline = VehicleGatewayPipeline(
            can_ports=[ports[bus_name]],
            decoder=decoder,
            signal_map=config.vehicle.signals,
            gnss=gnss,
            fixes=fixes,
            uplink=uplink,
            settings=VehicleGatewaySettings(
                state_rate_hz=config.vehicle.state_rate_hz,
                health_period_s=config.health_period_s,
                hard_braking_mps2=config.vehicle.hard_braking_mps2,
                dimensions=config.vehicle.dimensions,
            ),
            radio=radio,
        )
    else:
        radars = []
        for radar in config.radars:
            radars.append(_radar_input(radar, ports[radar.bus], databases[radar.bus]))
            if simulate:
                bus_config = next(b for b in config.can if b.name == radar.bus)
                sim = RadarSimulator(
                    list(actors.values()),
                    databases[radar.bus],
                    position=radar.position,
                    heading_rad=heading_rad(radar),
                    sensor_id=radar.sensor_id,
                    interface=bus_config.interface,
                    channel=bus_config.channel,
                )
                simulators.append(sim.run)
        roadside = config.roadside
        controller = None
        if roadside is not None and roadside.signal_controller is not None:
            controller = _signal_controller_input(roadside.signal_controller, stack)
        pipeline = RoadsideUnitPipeline(
            radars=radars,
            gnss=gnss,
            fixes=fixes,
            signal_plan=roadside.signal_plan if roadside else None,
            signal_controller=controller,
            uplink=uplink,
            settings=RoadsideUnitSettings(
                speed_limit_mps=roadside.speed_limit_mps if roadside else 50 / 3.6,
                spat_rate_hz=roadside.spat_rate_hz if roadside else 10.0,
                health_period_s=config.health_period_s,
            ),
            radio=radio,
        )
    return Box(config, uplink, pipeline, simulators)


def _needed_messages(config: BoxConfig, bus: str) -> set[str] | None:
    """The DBC messages the box decodes on ``bus``; None when it cannot tell (read all)."""
    if config.vehicle is not None and config.device.role == "vehicle_gateway":
        return config.vehicle.signals.messages()
    return None  # radars: the assembler decodes its own messages


def wanted_ids(config: BoxConfig, bus: str, database: Any) -> WantedIds | None:
    """The frame ids the box reads on ``bus`` (its kernel filter); None when it reads all."""
    needed = _needed_messages(config, bus)
    return _wanted_ids(database, needed) if needed is not None else None


def _wanted_ids(database: Any, messages: set[str]) -> WantedIds:
    """Frame ids of ``messages``, split by id length, for kernel-side filters."""
    standard: set[int] = set()
    extended: set[int] = set()
    for name in messages:
        try:
            message = database.get_message_by_name(name)
        except KeyError as err:
            raise FirmwareError(
                f"{name!r} is mapped in [vehicle] but is not a message of the DBC"
            ) from err
        (extended if message.is_extended_frame else standard).add(message.frame_id)
    return WantedIds(frozenset(standard), frozenset(extended))


def open_outbox(config: OutboxConfig) -> SqliteOutbox:
    """Open (creating its directory) the box's durable outbox."""
    if str(config.path) != ":memory:":
        try:
            config.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FirmwareError(
                f"cannot create the outbox directory {config.path.parent}: {err}"
            ) from err
    try:
        return SqliteOutbox(config.path, limits=config.limits, durability=config.durability)
    except UplinkError as err:
        raise FirmwareError(str(err)) from err


def _actor(actors: dict[str, Any], config: BoxConfig) -> Any:
    name = config.simulation.actor
    if name not in actors:
        raise FirmwareError(
            f"{config.source}: simulation.actor = {name!r} is not a simulated actor; "
            f"valid: {sorted(actors)}"
        )
    return actors[name]


def _radar_input(radar: RadarConfig, port: CanPort, database: Any) -> RadarInput:
    assembler = Ars408ObjectListAssembler(sensor_id=radar.sensor_id, db=database)

    def extract(batch: FrameBatch) -> Sequence[RadarObjectList]:
        return assembler.feed_batch(batch)

    pose = SensorPose(radar.sensor, radar.position, heading_rad(radar))
    return RadarInput(port, extract, pose, counters=lambda: assembler.counters)


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


def _v2x_radio(config: V2xConfig, stack: ExitStack) -> V2xRadio:
    """Open the radio's UDP link (closed by ``stack``); "udp" is the only radio the loader
    accepts."""
    link = UdpLink(
        V2X_RADIO_PORT,
        config.listen_host,
        config.listen_port,
        peer_host=config.radio_host,
        peer_port=config.radio_port,
    )
    stack.enter_context(link)
    return V2xRadio(link, config.station_id)
