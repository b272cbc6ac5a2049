"""The roles a pipeline is composed of, each a small ``Protocol`` passed to its constructor.

As a Stone Soup tracker receives its predictor, updater and associator, a pipeline receives its
decoder, fix source, estimator, applications, uplink, radio and clock: the composition root
(``firmware_py.box``) passes the real ones, tests pass small stubs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from google.protobuf.message import Message

from edge.identity import DeviceIdentity
from edge.recording.sink import RecordingSink
from edge.vehicle.state_estimator import Decoded, Fix
from protocols.schema.v1 import roadgate_pb2 as pb

if TYPE_CHECKING:  # types only: a role's pipeline imports what it runs, no more
    from edge.roadside.object_fusion import SensorPose
    from protocols.radar.ars408 import RadarObjectList
    from protocols.v2x import GeoPoint, IntersectionMap, StaticSign


class FrameDecoder(Protocol):
    """Decodes a frame batch into per-message columns (``protocols.dbc``'s vector decoder)."""

    @property
    def rejects(self) -> Mapping[str, int]:
        """Frames not decoded, by reason (``short_frame``, ``unknown_id``...)."""
        ...

    def decode_batch(self, batch: Any) -> Mapping[str, Decoded]: ...


class FixSource(Protocol):
    """Turns NMEA lines into fixes (``protocols.nmea``'s assembler)."""

    @property
    def rejects(self) -> Mapping[str, int]:
        """Sentences not used, by reason (``checksum``, ``malformed``...)."""
        ...

    def feed(self, line: bytes) -> Fix | None: ...


class StateEstimator(Protocol):
    """Keeps the vehicle's state from decoded CAN and GNSS fixes
    (``edge.vehicle.state_estimator.VehicleStateEstimator``)."""

    @property
    def last_can_time(self) -> float | None:
        """When CAN was last heard (Unix s); None before the first frame."""
        ...

    @property
    def rejects(self) -> Mapping[str, int]:
        """Values not used, by reason."""
        ...

    @property
    def counters(self) -> Mapping[str, int]:
        """Values used with a remark (late, re-timed), by kind."""
        ...

    @property
    def capture_time_s(self) -> float | None:
        """When the newest input of ``state`` was sensed (Unix s); None: unknown."""
        ...

    def update_can(self, decoded: Mapping[str, Decoded]) -> None: ...

    def update_gnss(self, fix: Fix, receive_time: float) -> None: ...

    def state(self, now: float) -> pb.VehicleState: ...


class VehicleStateApp(Protocol):
    """Judges each published vehicle state (``edge.apps.emergency_brake``)."""

    def evaluate(self, state: pb.VehicleState) -> pb.TrafficEvent | None: ...


class V2xApplications(Protocol):
    """The Day-1 applications on what the radio heard (``edge.apps.day1.engine.Day1Engine``)."""

    @property
    def counters(self) -> Mapping[str, int]: ...

    def cycle(self, state: pb.VehicleState, now_s: float) -> list[pb.TrafficEvent]:
        """The warnings that start with ``state`` at Unix ``now_s``."""
        ...


class ObjectListApp(Protocol):
    """Judges each published object list (``edge.apps.speeding``)."""

    def evaluate(self, objects: pb.ObjectList) -> list[pb.TrafficEvent]: ...


ObjectPlacement: TypeAlias = "Callable[[RadarObjectList, SensorPose], pb.ObjectList]"
"""Places one radar cycle's objects on the map (``edge.roadside.object_fusion``)."""


class BackgroundFeed(Protocol):
    """Something the box runs beside its ports, e.g. the roadside unit's subscription to the
    region's vehicle states (``edge.roadside.state_feed.StateFeed``)."""

    @property
    def counters(self) -> Mapping[str, int]: ...

    async def run(self) -> None: ...


class ObjectFusion(Protocol):
    """Turns each radar's cycles into the intersection's fused object list
    (``edge.roadside.fused_objects.IntersectionFusion``)."""

    @property
    def counters(self) -> Mapping[str, int]: ...

    @property
    def checked_fields(self) -> frozenset[str]:
        """Fields of the lists ``on_list`` returns that hold only values it checked finite
        (it leaves out what is not, counted): the publish guard does not read them again."""
        ...

    def on_list(self, sensor: str, radar_list: RadarObjectList) -> tuple[pb.ObjectList, int] | None:
        """The fused list after ``radar_list`` and its capture time (ns), or None."""
        ...


class Uplink(Protocol):
    """Where published bodies go (``edge.uplink.publisher.UplinkPublisher``)."""

    @property
    def identity(self) -> DeviceIdentity: ...

    def counters(self) -> Mapping[str, int]: ...

    def submit(self, body: Message, capture_time_ns: int) -> int:
        """Queue ``body`` captured at ``capture_time_ns``; returns its sequence number."""
        ...

    async def run(self) -> None:
        """Send what was submitted until cancelled."""
        ...


class NamedCounters(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def counters(self) -> Mapping[str, int]: ...


class Radio(Protocol):
    """The C-V2X radio (``edge.v2x.radio.V2xRadio``): what is published also goes on the air."""

    @property
    def link(self) -> NamedCounters: ...

    @property
    def counters(self) -> Mapping[str, int]: ...

    def broadcast_state(self, state: pb.VehicleState, capture_time_ns: int) -> None: ...

    def broadcast_spat(self, spat: pb.SignalPhaseTiming, capture_time_ns: int) -> None: ...

    def broadcast_objects(self, objects: pb.ObjectList, capture_time_ns: int) -> None: ...

    def broadcast_event(self, event: pb.TrafficEvent, capture_time_ns: int) -> None: ...

    def broadcast_map(self, intersection: IntersectionMap, capture_time_ns: int) -> None: ...

    def broadcast_signs(
        self, signs: Sequence[StaticSign], reference: GeoPoint, capture_time_ns: int
    ) -> None: ...

    async def run(self) -> None: ...


class FlightLog(RecordingSink, Protocol):
    """The flight recorder (``edge.recording.switch.RecorderSwitch``): the pipeline records its
    inputs into it, keeps it writing with ``tick`` and reports its counters in health; an
    operator's ``record`` command starts and stops it."""

    @property
    def counters(self) -> Mapping[str, int]: ...

    def tick(self) -> None:
        """Write what is due (called every ``RECORDER_TICK_S``); never raises."""
        ...

    def start(self, duration_s: float | None = None) -> str:
        """Record (for ``duration_s``, or until stopped); returns what it did."""
        ...

    def stop(self) -> str:
        """Finish the capture; returns what it did."""
        ...


RECORDER_TICK_S = 0.25
"""How often a pipeline ticks its recorder: well within the recorder's 1-second promise."""


class Clock(Protocol):
    """Wall time stamps what is published; monotonic time judges silences and uptime."""

    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch."""
        ...

    def monotonic_s(self) -> float:
        """Seconds on a clock that never steps."""
        ...


@dataclass(frozen=True)
class SystemClock:
    """The board's clocks."""

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_s(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()
