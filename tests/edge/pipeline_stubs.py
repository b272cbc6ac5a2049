"""Small stub roles for building a pipeline in a test: each records what the pipeline did."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from edge.identity import DeviceIdentity
from edge.vehicle.state_estimator import Decoded, Fix
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.v2x import GeoPoint, IntersectionMap, StaticSign

DEVICE = "dev-1"


class RecordingUplink:
    """An uplink that keeps every submitted body with its capture time."""

    def __init__(self, role: pb.DeviceRole.ValueType) -> None:
        self.identity = DeviceIdentity(DEVICE, "test", role)
        self.submitted: list[tuple[Message, int]] = []
        self.running = asyncio.Event()

    def counters(self) -> Mapping[str, int]:
        return {"uplink.submitted": len(self.submitted)}

    def submit(self, body: Message, capture_time_ns: int) -> int:
        self.submitted.append((body, capture_time_ns))
        return len(self.submitted)

    async def run(self) -> None:
        self.running.set()
        await asyncio.Event().wait()  # until cancelled, like the real one

    def kinds(self) -> list[str]:
        return [body.DESCRIPTOR.name for body, _ in self.submitted]

    def of(self, kind: type[Any]) -> list[Any]:
        return [body for body, _ in self.submitted if isinstance(body, kind)]


class FixedClock:
    """Time stands still until a test moves it."""

    def __init__(self, now_ns: int = 1_700_000_000_000_000_000, monotonic_s: float = 100.0):
        self.now = now_ns
        self.monotonic = monotonic_s

    def now_ns(self) -> int:
        return self.now

    def monotonic_s(self) -> float:
        return self.monotonic

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1e9)
        self.monotonic += seconds


@dataclass(frozen=True)
class StubFix:
    latitude_deg: float | None = 34.0
    longitude_deg: float | None = 108.0
    altitude_m: float | None = 400.0
    speed_mps: float | None = 0.0
    course_deg: float | None = 0.0
    satellites: int | None = 9
    hdop: float | None = 0.8
    quality: Any = 4
    time: datetime | None = None
    eph_m: float | None = None
    errors: Any = None


class StubFixes:
    """A line ``b"FIX"`` completes a fix; anything else is rejected."""

    def __init__(self) -> None:
        self.rejects: dict[str, int] = {"checksum": 0}

    def feed(self, line: bytes) -> Fix | None:
        if line == b"FIX":
            return StubFix()
        self.rejects["checksum"] += 1
        return None


class StubDecoder:
    """Decodes every batch to ``output``; remembers the batches."""

    def __init__(self) -> None:
        self.rejects = {"short_frame": 2}
        self.batches: list[Any] = []
        self.output: Mapping[str, Decoded] = {}

    def decode_batch(self, batch: Any) -> Mapping[str, Decoded]:
        self.batches.append(batch)
        return self.output


class StubEstimator:
    """Hears CAN once ``update_can`` is called; its state is ``next_state``."""

    def __init__(self) -> None:
        self.last_can_time: float | None = None
        self.capture_time_s: float | None = None  # unknown: the pipeline stamps its clock
        self.rejects = {"bad_scaling.speed_mps": 1}
        self.counters = {"late": 2}
        self.can_updates: list[Mapping[str, Decoded]] = []
        self.gnss_updates: list[tuple[Fix, float]] = []
        self.asked_at: list[float] = []
        self.next_state = pb.VehicleState(speed_mps=12.0)

    def update_can(self, decoded: Mapping[str, Decoded]) -> None:
        self.can_updates.append(decoded)
        self.last_can_time = 1.0

    def update_gnss(self, fix: Fix, receive_time: float) -> None:
        self.gnss_updates.append((fix, receive_time))

    def state(self, now: float) -> pb.VehicleState:
        self.asked_at.append(now)
        return self.next_state


@dataclass
class StubLink:
    name: str = "v2x-radio"

    @property
    def counters(self) -> Mapping[str, int]:
        return {"tx_datagrams": 3}


class RecordingRadio:
    """A radio that keeps what it was asked to broadcast."""

    def __init__(self) -> None:
        self.link = StubLink()
        self.states: list[tuple[pb.VehicleState, int]] = []
        self.spats: list[tuple[pb.SignalPhaseTiming, int]] = []
        self.object_lists: list[tuple[pb.ObjectList, int]] = []
        self.events: list[tuple[pb.TrafficEvent, int]] = []
        self.maps: list[tuple[IntersectionMap, int]] = []
        self.signs: list[tuple[tuple[StaticSign, ...], GeoPoint, int]] = []
        self.running = asyncio.Event()

    @property
    def counters(self) -> Mapping[str, int]:
        return {
            "tx.bsm": len(self.states),
            "tx.spat": len(self.spats),
            "tx.rsm": len(self.object_lists),
            "tx.rsi": len(self.events),
        }

    def broadcast_state(self, state: pb.VehicleState, capture_time_ns: int) -> None:
        self.states.append((state, capture_time_ns))

    def broadcast_spat(self, spat: pb.SignalPhaseTiming, capture_time_ns: int) -> None:
        self.spats.append((spat, capture_time_ns))

    def broadcast_objects(self, objects: pb.ObjectList, capture_time_ns: int) -> None:
        self.object_lists.append((objects, capture_time_ns))

    def broadcast_event(self, event: pb.TrafficEvent, capture_time_ns: int) -> None:
        self.events.append((event, capture_time_ns))

    def broadcast_map(self, intersection: IntersectionMap, capture_time_ns: int) -> None:
        self.maps.append((intersection, capture_time_ns))

    def broadcast_signs(
        self, signs: Sequence[StaticSign], reference: GeoPoint, capture_time_ns: int
    ) -> None:
        self.signs.append((tuple(signs), reference, capture_time_ns))

    async def run(self) -> None:
        self.running.set()
        await asyncio.Event().wait()


def task_names(besides: Collection[asyncio.Task[Any]] = ()) -> set[str]:
    """The names of the running loop's unfinished tasks, but for those of ``besides``."""
    return {t.get_name() for t in asyncio.all_tasks().difference(besides) if not t.done()}
