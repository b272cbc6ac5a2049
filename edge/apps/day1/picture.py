"""One cycle's picture of what the radio heard (``Picture``), as ``heard_world.HeardWorld``
gives it to the Day-1 applications: remote vehicles, RSM participants, MAP lanes, signals, RSI
events and signs, all in one local east/north frame (m), headings clockwise from north."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from edge.apps.day1.geometry import FloatArray
from edge.apps.day1.lanes import LaneIndex, LaneMatches, LaneMatching
from edge.geodesy import LocalFrame
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import GeoPoint, SignKind
from protocols.v2x.bsm_extensions import EVENT_FLAGS


@dataclass(frozen=True, slots=True)
class PictureSettings:
    """How long what was heard stays true. ``vehicle_max_age_s`` 1.0: ten BSM periods (as the
    reception filter's stale bound); ``rsm_max_age_s`` 0.5: five RSM periods;
    ``spat_max_age_s`` 1.0: ten SPAT periods, after which a signal is unknown, never assumed;
    ``map_max_age_s`` 60: MAP is repeated about once a second, a minute of silence means the
    RSU is gone; ``rsi_max_age_s`` 5: RSI repeats at 1-10 Hz and an event not repeated has
    ended; ``min_bsms`` 2: a vehicle is used once two of its BSMs agree in time (one frame is
    never enough for a warning); ``recentre_m`` 2000. A MAP or an RSI is used once the same
    content came twice from its sender: both repeat unchanged about once a second, so one
    corrupted or forged frame (which would last until the next one, ten cycles) never moves a
    lane or raises a hazard."""

    vehicle_max_age_s: float = 1.0
    rsm_max_age_s: float = 0.5
    spat_max_age_s: float = 1.0
    map_max_age_s: float = 60.0
    rsi_max_age_s: float = 5.0
    min_bsms: int = 2
    recentre_m: float = 2000.0
    max_vehicles: int = 2048
    lane_matching: LaneMatching = field(default_factory=LaneMatching)


@dataclass(frozen=True, slots=True)
class Vehicles:
    """Remote vehicles (BSM senders), one entry per array index, at the picture's time."""

    ids: np.ndarray  # uint64 station ids
    east: FloatArray
    north: FloatArray
    speed: FloatArray  # m/s, 0 when the sender did not say
    heading: FloatArray  # rad clockwise from north
    accel: FloatArray  # longitudinal, m/s^2 (0 when not said)
    yaw_rate: FloatArray
    length: FloatArray
    width: FloatArray
    age_s: FloatArray  # since the newest BSM's capture
    brake: np.ndarray  # bool
    events: np.ndarray  # int64 bit masks of EVENT_FLAGS
    turn_signal: np.ndarray  # int64 pb.TurnSignal
    emergency: np.ndarray  # bool: an emergency vehicle on a call
    vehicle_class: np.ndarray  # int64 BasicVehicleClass
    speed_known: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.ids)

    def flag(self, name: str) -> np.ndarray:
        """Which vehicles' BSMs set the VehicleEventFlags bit ``name``."""
        return np.asarray((self.events >> EVENT_FLAGS.index(name)) & 1 == 1)

    def remote_id(self, index: int) -> str:
        """The id events name this vehicle by: its station id in hex (16 digits)."""
        return f"{int(self.ids[index]):016x}"


@dataclass(frozen=True, slots=True)
class Participants:
    """RSM participants (road users a roadside unit perceives), at the picture's time."""

    keys: tuple[str, ...]  # "<rsu hex>:<ptcId>"
    object_class: np.ndarray  # int64 pb.ObjectClass
    east: FloatArray
    north: FloatArray
    speed: FloatArray
    heading: FloatArray
    length: FloatArray
    width: FloatArray
    age_s: FloatArray

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True, slots=True)
class Phase:
    """One signal group's current state and its ends, in seconds from the picture's time
    (None: not said)."""

    state: pb.SignalState.ValueType
    min_end_s: float | None
    max_end_s: float | None
    likely_end_s: float | None


@dataclass(frozen=True, slots=True)
class HeardEvent:
    """An RSI traffic event: ``key`` ``rsi:<rsu hex>:<rteId>``; position in the frame."""

    key: str
    event_type: pb.EventType.ValueType
    event_code: int
    east: float | None
    north: float | None
    radius_m: float | None
    description: str
    severity: pb.Severity.ValueType


@dataclass(frozen=True, slots=True)
class HeardSign:
    """An RSI static sign: ``key`` ``rts:<rsu hex>:<rtsId>``."""

    key: str
    kind: SignKind | None
    sign_code: int
    east: float | None
    north: float | None
    speed_limit_mps: float | None
    description: str


@dataclass(frozen=True, slots=True)
class Picture:
    """Everything heard that is fresh at ``now_s`` (Unix s), in ``frame``."""

    now_s: float
    frame: LocalFrame
    vehicles: Vehicles
    participants: Participants
    lanes: LaneIndex
    signals: Mapping[int, Mapping[int, Phase]]  # intersection id -> signal group -> phase
    events: tuple[HeardEvent, ...]
    signs: tuple[HeardSign, ...]
    _vehicle_lanes: list[LaneMatches] = field(default_factory=list)

    def vehicle_lanes(self) -> LaneMatches:
        """The lane each remote vehicle is on (matched once per picture, when first asked)."""
        if not self._vehicle_lanes:
            v = self.vehicles
            self._vehicle_lanes.append(self.lanes.match(v.east, v.north, v.heading))
        return self._vehicle_lanes[0]

    def phase(self, intersection_id: int, signal_group: int) -> Phase | None:
        return self.signals.get(intersection_id, {}).get(signal_group)


def frame_at(point: GeoPoint) -> LocalFrame:
    """The local frame at a V2X reference point (no altitude: on the ellipsoid)."""
    altitude = point.altitude_m if point.altitude_m is not None else 0.0
    return LocalFrame.at(point.latitude_deg, point.longitude_deg, altitude)
