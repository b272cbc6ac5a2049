"""What the bridge just stored, pushed to live clients per region, with back-pressure.

The bridge hands each committed batch to :meth:`LiveHub.publish` (on its event loop, after the
commit: a client never sees what a crash could still undo). Each message becomes one JSON text,
made once and shared by every client of its region. Every client has a queue of at most
``client_queue`` texts; a client whose queue is full (it reads slower than the region
publishes) is dropped: told so and disconnected, never buffered without bound. The hub also
keeps the newest message of each device and stream (and the last events of each region), at
most ``max_cached`` in all, so a client that connects sees the intersection at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from google.protobuf import json_format

from cloud_bridge.validation import Accepted
from protocols.topics import BODY_OF_STREAM, Stream

_LOG = logging.getLogger(__name__)

LIVE_STREAMS = frozenset(
    {
        Stream.STATUS,
        Stream.HEALTH,
        Stream.OBJECTS,
        Stream.STATE,
        Stream.SPAT,
        Stream.EVENTS,
        Stream.INTERSECTION,
    }
)
"""The streams pushed live (acks and commands are not for dashboards)."""
RECENT_EVENTS = 20
"""Events per region a newly connected client gets."""

DROPPED = "dropped"
"""What a dropped client's queue ends with instead of a text."""


def live_text(accepted: Accepted, received_time_ns: int) -> str:
    """The JSON text a client gets for one stored message (bodies in protobuf's JSON form)."""
    env = accepted.envelope
    stream = accepted.topic.stream
    body = getattr(env, BODY_OF_STREAM[stream])
    return json.dumps(
        {
            "stream": stream.value,
            "region": accepted.topic.region,
            "device_id": env.device_id,
            "boot_id": env.boot_id,
            "sequence": env.sequence,
            "capture_time_ns": env.capture_time_ns,
            "received_time_ns": received_time_ns,
            "body": json_format.MessageToDict(body, preserving_proto_field_name=True),
        },
        separators=(",", ":"),
    )


@dataclass(eq=False)
class LiveClient:
    """One connected client: its region and its bounded queue of texts."""

    region: str
    queue: asyncio.Queue[str] = field(repr=False)
    dropped: bool = False
    sender: asyncio.Task[None] | None = field(default=None, repr=False)
    """The task writing the queue to the client: cancelled when the client is dropped, as it
    may be stuck waiting for the client to read."""


class TooManyClientsError(Exception):
    """The hub serves ``max_clients`` already."""


class LiveHub:
    """Fan-out of stored messages to live clients of their region."""

    def __init__(self, client_queue: int = 256, max_clients: int = 200, max_cached: int = 5000):
        if client_queue < 1 or max_clients < 1 or max_cached < 1:
            raise ValueError("client_queue, max_clients and max_cached must be >= 1")
        self.client_queue = client_queue
        self.max_clients = max_clients
        self.max_cached = max_cached
        self.clients_dropped = 0
        self.published = 0
        self._clients: dict[str, set[LiveClient]] = {}
        self._latest: OrderedDict[tuple[str, ...], tuple[Accepted, int]] = OrderedDict()
        self._events: dict[str, deque[tuple[Accepted, int]]] = {}

    @property
    def client_count(self) -> int:
        return sum(len(clients) for clients in self._clients.values())

    def publish(self, items: list[tuple[Accepted, int]]) -> None:
        """Take a committed batch of ``(accepted, received_time_ns)``; never blocks."""
        for accepted, received_ns in items:
            topic = accepted.topic
            if topic.stream not in LIVE_STREAMS:
                continue
            self._remember(accepted, received_ns)
            clients = self._clients.get(topic.region)
            if not clients:
                continue
            text = live_text(accepted, received_ns)
            self.published += 1
            for client in list(clients):
                self._offer(client, text)

    def _remember(self, accepted: Accepted, received_ns: int) -> None:
        topic = accepted.topic
        if topic.stream is Stream.EVENTS:
            if topic.region not in self._events and len(self._events) >= self.max_cached:
                return
            events = self._events.setdefault(topic.region, deque(maxlen=RECENT_EVENTS))
            events.append((accepted, received_ns))
            return
        key: tuple[str, ...] = (topic.region, topic.device_id, topic.stream.value)
        if topic.stream is Stream.OBJECTS:  # each sensor's list, and the fused one
            key += (accepted.envelope.object_list.sensor_id,)
        self._latest[key] = (accepted, received_ns)
        self._latest.move_to_end(key)
        while len(self._latest) > self.max_cached:
            self._latest.popitem(last=False)

    def _offer(self, client: LiveClient, text: str) -> None:
        if client.dropped:
            return
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._drop(client)

    def _drop(self, client: LiveClient) -> None:
        # Free what it queued at once and leave it one marker: memory stays bounded whatever
        # the client does, and its sender sees why it ends.
        client.dropped = True
        self.clients_dropped += 1
        self._forget(client)
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(DROPPED)
        if client.sender is not None:
            client.sender.cancel()
        _LOG.warning(
            "dropped a live client of region %s: it fell %d messages behind",
            client.region,
            self.client_queue,
        )

    def snapshot(self, region: str) -> list[str]:
        """Texts of the newest messages of ``region`` (intersections first), then its events."""
        entries = [v for k, v in self._latest.items() if k[0] == region]
        entries.sort(key=lambda e: e[0].topic.stream is not Stream.INTERSECTION)
        entries += list(self._events.get(region, ()))
        return [live_text(accepted, received) for accepted, received in entries]

    @contextmanager
    def connect(self, region: str) -> Iterator[LiveClient]:
        """Register a client of ``region`` for the ``with`` block.

        Its queue starts with :meth:`snapshot` (as much as fits). Raises
        ``TooManyClientsError``.
        """
        if self.client_count >= self.max_clients:
            raise TooManyClientsError(f"{self.max_clients} live clients already")
        client = LiveClient(region, asyncio.Queue(self.client_queue))
        for text in self.snapshot(region)[-self.client_queue :]:
            client.queue.put_nowait(text)
        self._clients.setdefault(region, set()).add(client)
        try:
            yield client
        finally:
            self._forget(client)

    def _forget(self, client: LiveClient) -> None:
        clients = self._clients.get(client.region)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._clients[client.region]
