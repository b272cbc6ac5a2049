"""What a scenario file describes: emulated hardware, ground truth, faults and expectations.

Built by ``hil.scenario_engine.loader.load_scenario``; every value here has been validated there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.geo import GeoPoint
from edge.roadside.signal_plan import FixedTimePlan
from hil.scenario_engine.expectations import Expectation
from hil.world import GroundTruth
from protocols.v2x.intersection_file import IntersectionDescription

GNSS_QUALITIES = ("gnss", "dgnss", "rtk_float", "rtk_fixed")
CAN_FAULTS = ("interface_down", "bus_off")
GNSS_FAULTS = ("gnss_unplug", "gnss_no_fix", "gnss_garbage")
CONTROLLER_FAULTS = ("controller_silent",)
DAEMON_FAULTS = ("broker_outage", "daemon_kill")
FAULT_KINDS = CAN_FAULTS + GNSS_FAULTS + CONTROLLER_FAULTS + DAEMON_FAULTS


@dataclass(frozen=True)
class CanReplaySpec:
    """Replays a CAN log (BLF, ASC, candump...) onto ``channel``, ``speed`` times real time."""

    name: str
    channel: str
    log: Path  # absolute
    speed: float = 1.0
    start_s: float = 0.0
    loop: bool = False


ARS408_MODELS = ("ideal", "realistic")


@dataclass(frozen=True)
class Ars408Spec:
    """A Continental ARS408 radar at ``position`` looking along ``heading_deg`` (from north).

    With ``mount`` (a radar of the world's scene, whose pose ``position`` and ``heading_deg``
    then are) it reports what the scene's radar measurement model returns: ``model`` one of
    ``ARS408_MODELS``, the realistic one drawing its errors from a generator seeded by ``seed``.
    """

    name: str
    channel: str
    sensor_id: int
    position: GeoPoint
    heading_deg: float
    cycle_s: float = 0.072
    mount: str | None = None
    model: str = "ideal"
    seed: int = 0


@dataclass(frozen=True)
class GnssSpec:
    """An NMEA receiver on a pty: riding ``actor``, or fixed at ``position`` (exactly one set)."""

    name: str
    actor: str | None
    position: GeoPoint | None
    rate_hz: float = 5.0
    quality: str = "rtk_fixed"  # one of GNSS_QUALITIES


@dataclass(frozen=True)
class SignalControllerSpec:
    """A traffic signal controller sending the NTCIP 1202 SPaT broadcast of ``plan`` (on
    scenario time: its cycle starts at scenario second 0) to the daemon's UDP ``port``, which
    the box template gets as ``$spat_port_<name>``; 0: the bench picks a free port."""

    name: str
    plan: FixedTimePlan
    port: int = 0
    rate_hz: float = 10.0


@dataclass(frozen=True)
class CV2xRadioSpec:
    """A C-V2X radio on its UDP host interface: records what the daemon sends to its port
    (``$v2x_radio_port_<name>`` in the box template) and sends the BSMs of
    ``remote_actors`` at ``rate_hz`` to the daemon's port (``$v2x_listen_port_<name>``);
    the bench picks both ports."""

    name: str
    remote_actors: tuple[str, ...] = ()
    rate_hz: float = 10.0
    emergency_actors: tuple[str, ...] = ()  # some of remote_actors: on an emergency call
    # The roadside unit it also plays (each part optional): MAP and RSI of ``intersection``
    # (read from ``intersection_file``), SPAT of ``signal_plan`` (scenario time: its cycle
    # starts at 0), RSM of ``rsm_actors``.
    intersection_file: Path | None = None
    intersection: IntersectionDescription | None = None
    signal_plan: FixedTimePlan | None = None
    rsm_actors: tuple[str, ...] = ()


@dataclass(frozen=True)
class VehicleCanSpec:
    """The car's powertrain bus on ``channel``: ``actor``'s ground-truth motion as the frames
    of ``dbc`` (absolute), live at 50 Hz."""

    name: str
    channel: str
    actor: str
    dbc: Path


@dataclass(frozen=True)
class HmiSpec:
    """The box's HMI display: records the warning lines the daemon sends to its UDP port
    (``$hmi_port_<name>`` in the box template; the bench picks it)."""

    name: str


EmulatorSpec = (
    CanReplaySpec
    | Ars408Spec
    | GnssSpec
    | SignalControllerSpec
    | CV2xRadioSpec
    | VehicleCanSpec
    | HmiSpec
)
CAN_EMULATORS = (CanReplaySpec, Ars408Spec, VehicleCanSpec)


@dataclass(frozen=True)
class FaultSpec:
    """A fault injected from ``at_s`` for ``duration_s`` seconds.

    ``target`` is a CAN channel (interface_down, bus_off), a GNSS emulator's name (gnss_*), a
    signal controller emulator's name (controller_silent) or "" (broker_outage; daemon_kill,
    whose duration is the time until the daemon restarts).
    ``size`` is the number of garbage bytes for gnss_garbage, 0 otherwise.
    """

    kind: str
    target: str
    at_s: float
    duration_s: float
    size: int = 0

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


@dataclass(frozen=True)
class ReplaySpec:
    """``[replay]``: after the run, the daemon's flight log is played back (``roadgate replay``'s
    player) at ``speed`` times its pace onto the same interfaces into a fresh daemon with the
    same config, watched ``settle_s`` after the last item; ``replay_equal`` expectations
    compare what the two published."""

    speed: float = 1.0
    settle_s: float = 2.0


@dataclass(frozen=True)
class Scenario:
    """One scenario file, loaded."""

    name: str
    description: str
    path: Path
    duration_s: float  # how long the emulators run
    settle_s: float  # how long the bench keeps watching after they stop
    box_template: Path  # the daemon's config template, absolute
    vcan: tuple[str, ...]  # vcan interfaces to create
    truth: GroundTruth
    emulators: tuple[EmulatorSpec, ...]
    faults: tuple[FaultSpec, ...]
    expectations: tuple[Expectation, ...]
    replay: ReplaySpec | None = None  # [replay]: the run's flight log replayed afterwards

    @property
    def can_channels(self) -> tuple[str, ...]:
        """Channels the CAN emulators use, in file order, each once."""
        channels = [e.channel for e in self.emulators if isinstance(e, CAN_EMULATORS)]
        return tuple(dict.fromkeys(channels))

    def emulator(self, name: str) -> EmulatorSpec:
        """The emulator called ``name`` (``KeyError`` if none)."""
        for spec in self.emulators:
            if spec.name == name:
                return spec
        raise KeyError(name)
