"""What the demo shows: a cloud-side view of the intersection, read off MQTT like any service.

The monitor subscribes to the same topics a cloud service would and keeps what a person
watching wants to see: which devices are online, the roadside unit's fused tracks (cooperative
vehicles labelled with their own ids), the last warnings. Message rates come from the bridge's
own counters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

import aiomqtt

from protocols.envelope import decode
from protocols.errors import ProtocolError
from protocols.schema.sources import source_names
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream, Topic, subscription

log = logging.getLogger("firmware_py.demo")


@dataclass
class DeviceView:
    device_id: str
    role: str = "?"
    liveness: str = "?"
    objects: int = 0
    speed_mps: float | None = None
    last_seen: float = 0.0


@dataclass(frozen=True)
class TrackRow:
    """One fused track as the demo shows it."""

    object_id: int
    object_class: str
    east_m: float
    north_m: float
    speed_mps: float
    accuracy_m: float
    sources: tuple[str, ...]
    cooperative_id: str

    def describe(self) -> str:
        who = f" = {self.cooperative_id}" if self.cooperative_id else ""
        return (
            f"#{self.object_id} {self.object_class}{who} {self.speed_mps * 3.6:.0f} km/h "
            f"({'+'.join(self.sources) or 'coasting'})"
        )


@dataclass
class IntersectionView:
    """The latest picture of every device, and recent events."""

    devices: dict[str, DeviceView] = field(default_factory=dict)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    event_count: int = 0
    spat: str = ""
    tracks: list[TrackRow] = field(default_factory=list)

    def apply(self, topic: Topic, env: pb.Envelope) -> None:
        view = self.devices.setdefault(topic.device_id, DeviceView(topic.device_id))
        view.last_seen = time.time()
        body = env.WhichOneof("body")
        if body == "status":
            view.liveness = pb.Liveness.Name(env.status.liveness).removeprefix("LIVENESS_")
            view.role = pb.DeviceRole.Name(env.status.role).removeprefix("DEVICE_ROLE_")
        elif body == "object_list":
            objects = env.object_list
            fused = objects.kind == pb.OBJECT_LIST_KIND_FUSED
            if fused or not self.tracks:  # raw lists count only where nothing is fused
                view.objects = len(objects.objects)
            if fused:
                self.tracks = [
                    TrackRow(
                        o.object_id,
                        pb.ObjectClass.Name(o.object_class).removeprefix("OBJECT_CLASS_").lower(),
                        o.x_m,
                        o.y_m,
                        o.speed_mps,
                        o.position.horizontal_accuracy_m,
                        source_names(o.source_mask, objects.sensor_ids),
                        o.cooperative_id,
                    )
                    for o in objects.objects
                ]
        elif body == "vehicle_state":
            view.speed_mps = env.vehicle_state.speed_mps
        elif body == "event":
            self.event_count += 1
            stamp = time.strftime("%H:%M:%S", time.localtime(env.capture_time_ns / 1e9))
            kind = pb.EventType.Name(env.event.type).removeprefix("EVENT_TYPE_")
            if env.event.application:  # a Day-1 warning: the application says it best
                kind = f"{env.event.application} {kind}"
            self.events.appendleft(f"{stamp} {topic.device_id}: {kind} - {env.event.description}")
        elif body == "spat":
            self.spat = "  ".join(
                f"group {p.signal_group}: "
                f"{pb.SignalState.Name(p.state).removeprefix('SIGNAL_STATE_')} "
                f"{p.likely_end_s:.0f}s"
                for p in env.spat.phases
            )


async def watch(host: str, port: int, view: IntersectionView, ready: asyncio.Event) -> None:
    """Keep ``view`` up to date from the broker until cancelled."""
    async with aiomqtt.Client(host, port, identifier="roadgate-demo-monitor") as client:
        for stream in (Stream.STATUS, Stream.OBJECTS, Stream.STATE, Stream.EVENTS, Stream.SPAT):
            await client.subscribe(subscription(stream=stream.value), qos=0)
        ready.set()
        async for message in client.messages:
            try:
                topic = Topic.parse(str(message.topic))
                payload = message.payload
                if not isinstance(payload, bytes | bytearray):
                    continue
                view.apply(topic, decode(bytes(payload)))
            except ProtocolError as err:
                log.debug("monitor skipped a message: %s", err)
