"""What every box opens, whatever its role: outbox and uplink, CAN buses, GNSS, radio, and
the flight recorder."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.clock import configured_clock
from edge.clock_check import GnssClockCheck
from edge.errors import UplinkError
from edge.identity import DeviceIdentity
from edge.uplink.outbox import SqliteOutbox
from edge.uplink.publisher import UplinkPublisher
from firmware_py import __version__
from firmware_py.box.sensor_gauges import WatchedFixAssembler
from firmware_py.config.model import SIMULATED, BoxConfig, OutboxConfig, Role, V2xConfig
from firmware_py.errors import FirmwareError
from hal.can.port import CanPort
from hal.can.registry import WantedIds, create_can_port
from hal.net.udp_link import UdpLink
from hal.serial.pyserial_port import PySerialLinePort
from protocols.dbc import load_dbc
from protocols.errors import ProtocolError
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

if TYPE_CHECKING:
    from edge.recording.sink import RecordingSink
    from edge.recording.switch import RecorderSwitch
    from edge.v2x import V2xRadio

log = logging.getLogger("firmware_py.box")

PB_ROLE: dict[Role, pb.DeviceRole.ValueType] = {
    Role.ROADSIDE_UNIT: pb.DEVICE_ROLE_ROADSIDE_UNIT,
    Role.VEHICLE_GATEWAY: pb.DEVICE_ROLE_VEHICLE_GATEWAY,
}
SIGNAL_CONTROLLER_PORT = "signal-controller"
"""The signal controller's UDP port's name: health counters ``udp.signal-controller.*``."""
V2X_RADIO_PORT = "v2x-radio"
"""The C-V2X radio link's name: health counters ``udp.v2x-radio.*``."""


@dataclass(frozen=True)
class CanBus:
    """One opened CAN bus: its port and the DBC database its frames are read with."""

    port: CanPort
    database: Any


def open_uplink(config: BoxConfig, stack: ExitStack) -> UplinkPublisher:
    """The box's uplink over its outbox (opened now, closed by ``stack``)."""
    identity = DeviceIdentity(
        config.device.device_id, config.device.region, PB_ROLE[config.device.role]
    )
    outbox = stack.enter_context(open_outbox(config.outbox))
    clock = configured_clock(config.clock.source, config.clock.max_error_s)
    return UplinkPublisher(
        identity, config.uplink, outbox, clock=clock, software_version=__version__
    )


def open_outbox(config: OutboxConfig) -> SqliteOutbox:
    """Open (creating its directory) the box's durable outbox.

    Raises ``FirmwareError`` when the directory cannot be created or the outbox opened.
    """
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


def open_can_buses(config: BoxConfig, stack: ExitStack) -> dict[str, CanBus]:
    """Load each ``[[can]]`` bus's DBC and open its port (closed by ``stack``), filtered to
    the frames the box reads. Raises ``FirmwareError`` for a DBC that does not load."""
    buses: dict[str, CanBus] = {}
    for bus in config.can:
        try:
            loaded = load_dbc(bus.dbc, encoding=bus.dbc_encoding)
        except ProtocolError as err:
            raise FirmwareError(f"{config.source}: can bus {bus.name!r}: {err}") from err
        for relaxation in loaded.relaxations:
            log.warning("%s: loaded %s in relaxed mode: %s", bus.name, bus.dbc.name, relaxation)
        wanted = wanted_ids(config, bus.name, loaded.database)
        port = create_can_port(bus.name, bus.interface, bus.channel, bus.bitrate, bus.fd, wanted)
        stack.enter_context(port)
        buses[bus.name] = CanBus(port, loaded.database)
    return buses


def open_gnss(
    config: BoxConfig, stack: ExitStack, simulated_device: str | None
) -> PySerialLinePort | None:
    """The GNSS receiver's port (closed by ``stack``), or None without ``[gnss]``.

    ``simulated_device`` is the simulated world's receiver, used for ``port = "simulated"``;
    without one that is a ``FirmwareError``.
    """
    if config.gnss is None:
        return None
    url = config.gnss.port
    if url == SIMULATED:
        if simulated_device is None:
            raise FirmwareError(f"{config.source}: gnss.port = 'simulated' needs [simulation]")
        url = simulated_device
    gnss = PySerialLinePort("gnss", url, baudrate=config.gnss.baudrate)
    stack.enter_context(gnss)
    return gnss


def fix_assembler(config: BoxConfig) -> WatchedFixAssembler:
    """The NMEA assembler for the box's GNSS receiver (it remembers the last fix for health)."""
    return WatchedFixAssembler(
        allow_missing_checksum=bool(config.gnss and config.gnss.allow_missing_checksum)
    )


def gnss_clock_check(config: BoxConfig) -> GnssClockCheck | None:
    """The check of the box's clock against its GNSS receiver's time; None without one."""
    if config.gnss is None:
        return None
    return GnssClockCheck(config.device.device_id, bound_s=config.clock.gnss_bound_s)


def open_recorder(
    config: BoxConfig, stack: ExitStack, uplink: UplinkPublisher
) -> RecorderSwitch | None:
    """The box's flight recorder (finished by ``stack``), recording every envelope ``uplink``
    publishes; None without ``[recorder]``. With ``enabled``, it records from now on; a
    directory it cannot write into is logged, and the box runs without recording."""
    settings = config.recorder
    if not settings.configured:
        return None
    # Here, not at the top: mcap and zstandard are for a box with a recorder.
    from edge.recording.errors import RecordingError
    from edge.recording.switch import RecorderSwitch
    from edge.recording.writer import FlightRecorder, MiB, RecorderLimits

    directory = settings.recordings_dir(config.outbox.path)
    try:
        limits = RecorderLimits(
            max_file_bytes=max(1, round(settings.max_file_mb * MiB)),
            max_file_age_s=settings.max_file_age_s,
            max_total_bytes=max(1, round(settings.max_total_mb * MiB)),
        )
    except ValueError as err:  # the loader checks the same bounds
        raise FirmwareError(f"{config.source}: [recorder]: {err}") from err
    device = config.device
    metadata = {
        "device_id": device.device_id,
        "role": device.role.value,
        "software_version": __version__,
        "config": config.source,
    }

    def new_recorder() -> FlightRecorder:
        # Prefixed with the device id: boxes sharing a directory never delete each other's logs.
        return FlightRecorder(directory, limits, prefix=device.device_id, metadata=metadata)

    recorder = RecorderSwitch(new_recorder)
    stack.callback(recorder.close)
    if settings.enabled:
        try:
            recorder.start()
        except RecordingError as err:
            log.warning("%s: %s; running without recording", device.device_id, err)

    uploads = f"/{Stream.RECORDING.value}"

    def record_published(topic: str, payload: bytes) -> None:
        # An uploaded cut is the log itself: recording its chunks would copy the log into it.
        if not topic.endswith(uploads):
            recorder.envelope(topic, payload, time.time())

    uplink.on_published = record_published
    return recorder


def open_v2x_radio(
    config: V2xConfig,
    stack: ExitStack,
    *,
    on_heard: Callable[[str, Mapping[str, Any], float], None] | None = None,
    recording: RecordingSink | None = None,
) -> V2xRadio:
    """Open the radio's UDP link (closed by ``stack``); "udp" is the only radio the loader
    accepts. ``on_heard`` gets every message it hears (kind, fields, receive time); with
    ``recording``, every datagram heard and sent is recorded."""
    # Here, not at the top: the codec's ASN.1 compiler (asn1tools) costs a box without a
    # radio about 20 MiB of its memory budget.
    from edge.v2x import V2xRadio

    link = UdpLink(
        V2X_RADIO_PORT,
        config.listen_host,
        config.listen_port,
        peer_host=config.radio_host,
        peer_port=config.radio_port,
    )
    stack.enter_context(link)
    if recording is None:
        return V2xRadio(link, config.station_id, on_heard=on_heard)
    from edge.recording.recorded_link import RecordedLink

    return V2xRadio(RecordedLink(link, recording), config.station_id, on_heard=on_heard)


def needed_messages(config: BoxConfig) -> set[str] | None:
    """The DBC messages the box decodes; None when it cannot tell (read all).

    A vehicle gateway decodes what its signal map names; a roadside unit's radar assemblers
    decode their own messages.
    """
    if config.device.role is Role.VEHICLE_GATEWAY and config.vehicle is not None:
        return config.vehicle.signals.messages()
    return None


def wanted_ids(config: BoxConfig, bus: str, database: Any) -> WantedIds | None:
    """The frame ids the box reads on ``bus`` (its kernel filter); None when it reads all.

    Raises ``FirmwareError`` when a mapped message is not in ``database``.
    """
    del bus  # every bus of a box reads the same messages: a gateway has one bus
    needed = needed_messages(config)
    return ids_of(database, needed) if needed is not None else None


def ids_of(database: Any, messages: set[str]) -> WantedIds:
    """Frame ids of ``messages``, split by id length, for kernel-side filters.

    Raises ``FirmwareError`` for a name that is not a message of ``database``.
    """
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
