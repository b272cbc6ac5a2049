"""A store with data in two regions, and the API served on uvicorn in a thread for a test."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message

from cloud_bridge.store.sqlite_store import SqliteStore
from cloud_bridge.validation import Accepted, validate
from cloud_bridge.web.api import build_app
from cloud_bridge.web.api_keys import KeyRing, hash_key
from cloud_bridge.web.live_hub import LiveHub
from cloud_bridge.web.read_model import ReadModel, SqliteReadModel
from cloud_bridge.web.server import listening_socket, serve_app, url_of
from protocols.envelope import seal
from protocols.schema.v1 import roadgate_pb2 as pb

REGION_A, REGION_B = "region-a", "region-b"
KEY_A, KEY_B, KEY_BOTH = "key-of-a-" + "x" * 30, "key-of-b-" + "y" * 30, "key-both-" + "z" * 30
KEY_HASHES = {
    REGION_A: (hash_key(KEY_A), hash_key(KEY_BOTH)),
    REGION_B: (hash_key(KEY_B), hash_key(KEY_BOTH)),
}
T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
YEAR_2100_NS = 4_102_444_800_000_000_000
STREAM_OF = {
    "vehicle_state": "state",
    "object_list": "objects",
    "spat": "spat",
    "event": "events",
    "health": "health",
    "status": "status",
    "intersection": "intersection",
}


class Sequencer:
    """Seals bodies as a device's successive messages, validated as the bridge does."""

    def __init__(
        self, region: str, device_id: str, boot_id: str = "boot-1", t0_ns: int = T0_NS
    ) -> None:
        self.region, self.device_id, self.boot_id = region, device_id, boot_id
        self.t0_ns = t0_ns
        self.sequence = 0

    def next(self, body: Message, capture_time_ns: int | None = None) -> Accepted:
        self.sequence += 1
        capture = (
            self.t0_ns + self.sequence * 100_000_000 if capture_time_ns is None else capture_time_ns
        )
        env = seal(
            body,
            device_id=self.device_id,
            boot_id=self.boot_id,
            sequence=self.sequence,
            capture_time_ns=capture,
            publish_time_ns=capture + 1_000_000,
            clock_source=pb.CLOCK_SOURCE_SIMULATED,
        )
        stream = STREAM_OF[env.WhichOneof("body") or ""]
        topic = f"rg/v1/{self.region}/{self.device_id}/{stream}"
        verdict = validate(topic, env.SerializeToString(), 65536)
        assert isinstance(verdict, Accepted), verdict
        return verdict


def rsu_status() -> pb.DeviceStatus:
    return pb.DeviceStatus(
        liveness=pb.LIVENESS_ONLINE, role=pb.DEVICE_ROLE_ROADSIDE_UNIT, software_version="1.0"
    )


def vehicle_status() -> pb.DeviceStatus:
    return pb.DeviceStatus(
        liveness=pb.LIVENESS_ONLINE, role=pb.DEVICE_ROLE_VEHICLE_GATEWAY, software_version="1.0"
    )


def fused(east_m: float, object_id: int = 7) -> pb.ObjectList:
    return pb.ObjectList(
        sensor_id="fused",
        kind=pb.OBJECT_LIST_KIND_FUSED,
        intersection_id=101,
        objects=[
            pb.PerceivedObject(
                object_id=object_id,
                object_class=pb.OBJECT_CLASS_CAR,
                x_m=east_m,
                y_m=-3.0,
                speed_mps=10.0,
            )
        ],
    )


def spat(state: pb.SignalState.ValueType) -> pb.SignalPhaseTiming:
    return pb.SignalPhaseTiming(
        intersection_id=101, phases=[pb.PhaseState(signal_group=1, state=state, likely_end_s=5)]
    )


def event(kind: pb.EventType.ValueType, event_id: str) -> pb.TrafficEvent:
    return pb.TrafficEvent(event_id=event_id, type=kind, description=f"event {event_id}")


def region_messages(region: str, events: int = 30) -> list[Accepted]:
    """An RSU and a vehicle of ``region``: status, health, tracks, SPaT, states and events."""
    rsu, car = Sequencer(region, f"rsu-{region}"), Sequencer(region, f"car-{region}")
    items = [rsu.next(rsu_status()), car.next(vehicle_status())]
    items.append(rsu.next(pb.DeviceHealth(uptime_s=12.0, cpu_load=0.25)))
    items.append(rsu.next(pb.IntersectionGeometry(intersection_id=101, name=f"x-{region}")))
    for i in range(5):
        items.append(rsu.next(fused(float(i))))
        items.append(rsu.next(pb.ObjectList(sensor_id="radar0", kind=pb.OBJECT_LIST_KIND_SENSOR)))
        items.append(rsu.next(spat(pb.SIGNAL_STATE_GREEN if i % 2 else pb.SIGNAL_STATE_RED)))
        items.append(car.next(pb.VehicleState(speed_mps=float(i), heading_rad=0.1)))
    # A SPaT dated 2100 by a clock glitch, flagged by the bridge: never the newest.
    glitch = rsu.next(spat(pb.SIGNAL_STATE_GREEN), capture_time_ns=YEAR_2100_NS)
    items.append(dataclasses.replace(glitch, clock_suspect=True))
    for i in range(events):
        kind = pb.EVENT_TYPE_SPEEDING if i % 3 else pb.EVENT_TYPE_RED_LIGHT_VIOLATION
        items.append(rsu.next(event(kind, f"{region}-{i}")))
    return items


def seeded_messages() -> list[tuple[Accepted, int]]:
    """:func:`region_messages` of both regions, with their received times."""
    both = region_messages(REGION_A) + region_messages(REGION_B)
    return [(m, T0_NS + i) for i, m in enumerate(both)]


def seeded_store(path: Path) -> Path:
    """A SQLite store holding :func:`seeded_messages`."""
    with SqliteStore(path) as store:
        store.store_many(seeded_messages())
    return path


@dataclass
class ServedApi:
    """The API on a real uvicorn server in a thread of its own (with its own loop)."""

    url: str
    hub: LiveHub
    loop: asyncio.AbstractEventLoop

    def publish(self, items: list[tuple[Accepted, int]]) -> None:
        """Hand a committed batch to the hub on the server's loop, as the bridge does."""
        done = threading.Event()

        def run() -> None:
            self.hub.publish(items)
            done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(5)


@contextmanager
def served_api(
    store: Path | ReadModel, hub: LiveHub | None = None, *, max_page: int = 1000
) -> Iterator[ServedApi]:
    """Serve the API over ``store`` (a SQLite file or a read model) on 127.0.0.1 (a free port)
    for the block."""
    hub = hub or LiveHub()
    model = SqliteReadModel(store) if isinstance(store, Path) else store
    app = build_app(model, hub, KeyRing(KEY_HASHES), max_page=max_page)
    sock = listening_socket("127.0.0.1", 0)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    task: list[asyncio.Task[None]] = []

    async def main() -> None:
        ready = asyncio.Event()
        task.append(asyncio.current_task())  # type: ignore[arg-type]
        serving = asyncio.create_task(serve_app(app, sock, ready), name="api-under-test")
        await ready.wait()
        started.set()
        await serving

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="api-under-test", daemon=True)
    thread.start()
    assert started.wait(10), "the API did not start"
    try:
        yield ServedApi(url_of(sock), hub, loop)
    finally:
        loop.call_soon_threadsafe(task[0].cancel)
        thread.join(10)
        assert not thread.is_alive(), "the API did not stop"
