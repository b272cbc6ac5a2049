"""The uplink publisher: a priority queue of bodies, sealed into Envelopes and sent over MQTT.

This is the in-memory first version: messages wait in memory while the broker is away. The
durable on-disk outbox replaces the queue behind the same ``submit`` interface.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import aiomqtt
from google.protobuf.message import Message

from edge.clock import WallClock
from edge.identity import DeviceIdentity, SequenceCounter
from edge.uplink.backoff import Backoff
from edge.uplink.settings import PRIORITY, UplinkSettings
from protocols.envelope import seal
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import STREAM_OF_BODY, Stream

log = logging.getLogger("edge.uplink")


@dataclass(frozen=True, slots=True)
class _Pending:
    stream: Stream
    body: Message
    sequence: int
    capture_time_ns: int


class UplinkPublisher:
    """Publishes one device's messages, safety events first.

    ``submit`` is called from the pipeline (same event loop) and never blocks; ``run`` owns the
    MQTT connection: it announces the device with a retained birth message, leaves a last will,
    reconnects with jittered backoff, and says goodbye (retained ``OFFLINE``) when cancelled.
    """

    def __init__(
        self,
        identity: DeviceIdentity,
        settings: UplinkSettings,
        *,
        clock: WallClock | None = None,
        software_version: str = "",
    ) -> None:
        self.identity = identity
        self.settings = settings
        self._clock = clock or WallClock()
        self._software_version = software_version
        self._sequence = SequenceCounter()
        self._order = itertools.count()
        self._queue: asyncio.PriorityQueue[tuple[int, int, _Pending]] = asyncio.PriorityQueue()
        self.published: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.connected = asyncio.Event()

    @property
    def queued(self) -> int:
        """Messages waiting to be published."""
        return self._queue.qsize()

    def submit(self, body: Message, capture_time_ns: int) -> int | None:
        """Queue ``body`` (an Envelope body message) for publishing.

        Returns its sequence number, or None when the queue is full and the message was
        telemetry (counted in ``dropped``). Events are never dropped here.
        Raises ``TypeError`` for a message that is not an Envelope body.
        """
        stream = STREAM_OF_BODY.get(_body_field(body))
        if stream is None:
            raise TypeError(f"{body.DESCRIPTOR.full_name} is not an Envelope body")
        if self._queue.qsize() >= self.settings.max_queued and stream is not Stream.EVENTS:
            self.dropped[stream.value] += 1
            return None
        pending = _Pending(stream, body, self._sequence.next(), capture_time_ns)
        self._queue.put_nowait((PRIORITY[stream], next(self._order), pending))
        return pending.sequence

    async def run(self) -> None:
        """Connect, publish until cancelled, reconnecting as needed; then say goodbye."""
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        lost_logged = False
        while True:
            try:
                async with self._client() as client:
                    await self._publish_status(client, pb.LIVENESS_ONLINE, "started")
                    self.connected.set()
                    if lost_logged:
                        log.info("%s: uplink recovered", self.identity.device_id)
                    lost_logged = False
                    backoff.reset()
                    try:
                        await self._session(client)
                    except asyncio.CancelledError:
                        await self._say_goodbye(client)
                        raise
            except aiomqtt.MqttError as err:
                self.connected.clear()
                if not lost_logged:
                    log.warning(
                        "%s: uplink to %s:%d unavailable (%s); retrying with backoff",
                        self.identity.device_id,
                        self.settings.host,
                        self.settings.port,
                        err,
                    )
                    lost_logged = True
                await asyncio.sleep(backoff.next_delay())

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(
            self.identity.topic(Stream.STATUS),
            self._status_envelope(pb.LIVENESS_LOST, "connection lost").SerializeToString(),
            qos=1,
            retain=True,
        )
        return aiomqtt.Client(
            self.settings.host,
            self.settings.port,
            identifier=self.settings.client_id or self.identity.device_id,
            username=self.settings.username,
            password=self.settings.password,
            keepalive=self.settings.keepalive_s,
            timeout=self.settings.ack_timeout_s,
            will=will,
            # Nagle's algorithm holds small QoS 0 messages back by tens of milliseconds.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        """Publish, and notice a lost connection even while there is nothing to publish."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._drain(client), name="uplink-drain")
                tasks.create_task(self._watch_connection(client), name="uplink-watch")
        except BaseExceptionGroup as group:
            lost = group.subgroup(aiomqtt.MqttError)
            if lost is None:
                raise
            raise lost.exceptions[0] from None

    @staticmethod
    async def _watch_connection(client: aiomqtt.Client) -> None:
        # aiomqtt's message iterator raises MqttError when the connection drops; a publisher
        # waiting for work would otherwise only find out at its next publish.
        async for _message in client.messages:
            pass  # the downlink (commands) will be handled here

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            item = await self._queue.get()
            pending = item[2]
            envelope = seal(
                pending.body,
                device_id=self.identity.device_id,
                boot_id=self.identity.boot_id,
                sequence=pending.sequence,
                capture_time_ns=pending.capture_time_ns,
                publish_time_ns=self._clock.now_ns(),
                clock_source=self._clock.source,
            )
            try:
                await client.publish(
                    self.identity.topic(pending.stream),
                    envelope.SerializeToString(),
                    qos=self.settings.qos.get(pending.stream, 1),
                )
            except (aiomqtt.MqttError, asyncio.CancelledError):
                # Not known to be delivered (the connection dropped, or we were stopped while
                # waiting for the acknowledgement): put it back in its place so the next
                # connection sends it. At worst the broker gets it twice; the bridge dedupes.
                self._queue.put_nowait(item)
                raise
            self.published[pending.stream.value] += 1

    async def _say_goodbye(self, client: aiomqtt.Client) -> None:
        try:
            await asyncio.wait_for(
                self._publish_status(client, pb.LIVENESS_OFFLINE, "stopped"), timeout=2.0
            )
        except (aiomqtt.MqttError, TimeoutError) as err:
            log.warning("%s: could not publish offline status: %s", self.identity.device_id, err)

    async def _publish_status(
        self, client: aiomqtt.Client, liveness: pb.Liveness.ValueType, reason: str
    ) -> None:
        envelope = self._status_envelope(liveness, reason)
        await client.publish(
            self.identity.topic(Stream.STATUS), envelope.SerializeToString(), qos=1, retain=True
        )
        self.published[Stream.STATUS.value] += 1

    def _status_envelope(self, liveness: pb.Liveness.ValueType, reason: str) -> pb.Envelope:
        now = self._clock.now_ns()
        status = pb.DeviceStatus(
            liveness=liveness,
            role=self.identity.role,
            software_version=self._software_version,
            reason=reason,
        )
        return seal(
            status,
            device_id=self.identity.device_id,
            boot_id=self.identity.boot_id,
            sequence=self._sequence.next(),
            capture_time_ns=now,
            publish_time_ns=now,
            clock_source=self._clock.source,
        )

    def counters(self) -> Mapping[str, int]:
        """Published and dropped messages per stream, flattened for health reports."""
        flat = {f"uplink.published.{k}": v for k, v in self.published.items()}
        flat.update({f"uplink.dropped.{k}": v for k, v in self.dropped.items()})
        flat["uplink.queued"] = self.queued
        return flat


def _body_field(body: Message) -> str:
    for field in pb.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields:
        if field.message_type is not None and field.message_type is body.DESCRIPTOR:
            return field.name
    return ""
