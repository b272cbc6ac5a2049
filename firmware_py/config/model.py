"""The typed configuration of a box (roadside unit, vehicle gateway) and of the bridge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from edge.geo import GeoPoint
from edge.roadside.radar_noise import RadarNoise
from edge.roadside.radar_reads import RADAR_READ_WINDOW_S
from edge.roadside.signal_plan import FixedTimePlan
from edge.uplink.outbox import Durability, OutboxLimits
from edge.uplink.settings import UplinkSettings
from edge.vehicle.state_estimator import VehicleDimensions
from firmware_py.config.apps import AppsConfig, HmiConfig
from firmware_py.config.commands import CommandsConfig
from firmware_py.config.metrics import ObservabilityConfig
from firmware_py.config.recorder import RecorderConfig
from protocols.vss import VssMapping

if TYPE_CHECKING:  # read by the loader for a roadside unit that has one
    from protocols.v2x.intersection_file import IntersectionDescription


class Role(StrEnum):
    """What a box is: each role has its own builder (``firmware_py.box``)."""

    ROADSIDE_UNIT = "roadside_unit"
    VEHICLE_GATEWAY = "vehicle_gateway"


ROLES = tuple(role.value for role in Role)
DEFAULT_STATE_DIR = Path("~/.local/state/roadgate").expanduser()
"""Where a box keeps its outbox unless ``[outbox] path`` says otherwise (on a board, a
systemd unit sets ``/var/lib/roadgate``)."""
SIMULATED = "simulated"
"""A GNSS port of this name is a pseudo-terminal fed by the simulated world."""


@dataclass(frozen=True)
class DeviceConfig:
    device_id: str
    region: str
    role: Role


@dataclass(frozen=True)
class CanBusConfig:
    name: str
    interface: str  # python-can interface: socketcan, virtual, slcan, pcan, kvaser...
    channel: str
    bitrate: int | None
    fd: bool
    dbc: Path
    dbc_encoding: str | None


@dataclass(frozen=True)
class GnssConfig:
    port: str  # a device path, a pyserial URL, or "simulated"
    baudrate: int
    allow_missing_checksum: bool


@dataclass(frozen=True)
class RadarConfig:
    sensor: str
    bus: str
    kind: str  # "ars408" or "delphi_esr": the shipped radar definition
    sensor_id: int
    position: GeoPoint
    heading_deg: float
    height_m: float = 5.0  # mounting height above the road
    noise: RadarNoise | None = None  # None: the kind's default (edge.roadside.radar_noise)


@dataclass(frozen=True)
class PerceptionConfig:
    """A roadside unit's tracker: ``reference`` is the intersection's reference point (None:
    the first radar's position); ``raw_object_lists`` also publishes each radar's own list
    (for debugging); ``uplink_period_s``: the fused list goes to the cloud at most once in
    this much capture time (0: every list); ``cooperative`` pairs tracks with vehicles' own
    state reports; ``station_ids``: (device id, BSM station id) of vehicle gateways heard both
    on MQTT and by radio, so that each is one vehicle; ``read_window_s``: a radar bus with
    frames coming is read at most once in this much time (a wake-up per window rather than
    every few frames; a frame waits that much longer at most)."""

    intersection_id: int = 0
    reference: GeoPoint | None = None
    raw_object_lists: bool = False
    uplink_period_s: float = 0.0
    cooperative: bool = True
    station_ids: tuple[tuple[str, int], ...] = ()
    read_window_s: float = RADAR_READ_WINDOW_S


@dataclass(frozen=True)
class VehicleConfig:
    """``signals``: the VSS mapping the config names, its single-signal overrides applied,
    checked against the bus's DBC, holding the leaves the vehicle state reads."""

    signals: VssMapping
    dimensions: VehicleDimensions
    state_rate_hz: float
    hard_braking_mps2: float


SIGNAL_CONTROLLER_PROTOCOLS = ("tscbm",)
"""``tscbm``: the NTCIP 1202 SPaT broadcast (Econolite, Siemens, McCain; V2X Hub's input)."""


@dataclass(frozen=True)
class SignalControllerConfig:
    """Where the signal controller's SPaT datagrams arrive and how to read them."""

    protocol: str  # one of SIGNAL_CONTROLLER_PROTOCOLS
    bind: str  # a local IP address; "0.0.0.0" for every interface
    port: int
    timeout_s: float  # silent longer than this: a SENSOR_FAULT event, no SPaT
    intersection_id: int
    # Phase number -> signal group; empty: every phase is the signal group of its number.
    signal_groups: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class RoadsideConfig:
    """``signal_plan`` and ``signal_controller`` exclude each other (the loader refuses
    both): SPaT comes from the controller, or from the fixed-time plan where there is none.
    ``intersection``: the description file's lanes and signs (MAP and RSI), or None."""

    speed_limit_mps: float
    spat_rate_hz: float
    signal_plan: FixedTimePlan | None
    signal_controller: SignalControllerConfig | None = None
    intersection: IntersectionDescription | None = None


V2X_RADIOS = ("udp",)
"""``udp``: the radio's host interface is UDP datagrams, one UPER ``MessageFrame`` each."""
DEFAULT_V2X_RADIO_PORT = 30301
DEFAULT_V2X_LISTEN_PORT = 30300


@dataclass(frozen=True)
class V2xConfig:
    """The box's C-V2X radio: where messages to broadcast go, where what it heard arrives."""

    radio: str  # one of V2X_RADIOS
    radio_host: str  # the radio's address
    radio_port: int
    listen_host: str  # a local IP address the radio sends to
    listen_port: int
    station_id: int  # the BSM's temporary id, as a number (8 bytes, big-endian)


@dataclass(frozen=True)
class OutboxConfig:
    path: Path
    limits: OutboxLimits
    durability: Durability


@dataclass(frozen=True)
class SimulationConfig:
    enabled: bool
    actor: str  # the simulated actor this box rides on (vehicles) or "" (roadside unit)


@dataclass(frozen=True)
class ClockConfig:
    """``[clock]``: what disciplines the box's clock and when it disagrees with GNSS time.

    ``source`` is ``"auto"`` (asked of the kernel and chrony) or a name in
    ``edge.clock.CLOCK_SOURCES``; ``max_error_s`` overrides the error bound the kernel
    reports (None: the kernel's); ``gnss_bound_s`` is how far the clock may be from GNSS time
    (the receiver's output latency included) before health and a CLOCK_FAULT event say so.
    """

    source: str = "auto"
    max_error_s: float | None = None
    gnss_bound_s: float = 0.5


@dataclass(frozen=True)
class BoxConfig:
    """Everything one box needs, validated."""

    source: str
    device: DeviceConfig
    uplink: UplinkSettings
    can: tuple[CanBusConfig, ...]
    gnss: GnssConfig | None
    health_period_s: float
    vehicle: VehicleConfig | None = None
    roadside: RoadsideConfig | None = None
    radars: tuple[RadarConfig, ...] = field(default_factory=tuple)
    simulation: SimulationConfig = field(default_factory=lambda: SimulationConfig(False, ""))
    v2x: V2xConfig | None = None
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    # A vehicle gateway's Day-1 applications (run when it has a radio) and its HMI output.
    apps: AppsConfig | None = None  # None: every application with its defaults
    hmi: HmiConfig | None = None
    # [commands]: the keys whose signed remote commands the box carries out (none: no commands).
    commands: CommandsConfig = field(default_factory=CommandsConfig)
    outbox: OutboxConfig = field(
        default_factory=lambda: OutboxConfig(
            DEFAULT_STATE_DIR / "outbox.sqlite3", OutboxLimits(), Durability.NORMAL
        )
    )
    # [metrics] and [logging]: the Prometheus endpoint (on loopback by default) and log format.
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    # [recorder]: the flight recorder (off unless enabled).
    recorder: RecorderConfig = field(default_factory=RecorderConfig)
