"""The uplink publisher: bodies into the durable outbox, out of it over MQTT, events first.

A message is sealed into its Envelope (boot id, sequence number) and committed to the outbox
before it is sent, and deleted only after the broker acknowledged it (QoS 1) or took it
(QoS 0). After an outage or a restart, what waited is sent first, in order per stream, marked
``historical``; safety events go before all telemetry, so a fresh warning never waits behind an
hour of backlog.

Sequence numbers mean messages: every message that goes through the outbox takes the next one,
so a gap the bridge sees in a device's numbering (per boot) is a message lost. Status envelopes
(the birth, the last will, the goodbye) are about the connection: sent directly, never replayed,
and a will left at each connection attempt is published only if that connection dies. They are
numbered apart, from ``STATUS_SEQUENCE_BASE`` up within the boot, so they neither leave false
gaps in the message numbering nor share a key (device, boot, sequence) with a message.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from google.protobuf.message import Message
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.clock import WallClock
from edge.errors import UplinkError
from edge.fault_events import FaultEvents
from edge.identity import DeviceIdentity
from edge.uplink.latency import LatencyHistogram
from edge.uplink.mqtt_link import LinkLostError, MqttLink, Will
from edge.uplink.outbox import OutboxEntry, SqliteOutbox
from edge.uplink.session_takeover import SessionTakeover
from edge.uplink.settings import EXPIRING_STREAMS, PRIORITY, UplinkSettings
from protocols.envelope import STATUS_SEQUENCE_BASE, seal
from protocols.mqtt_connection import Jitter
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import STREAM_OF_BODY, Stream

log = logging.getLogger("edge.uplink")

WINDOW = 256
"""Messages in flight at once (QoS 1 messages awaiting their PUBACK)."""

MAX_PAYLOAD_BYTES = 65536
"""The largest envelope the uplink sends: the bridge's default ``max_payload_bytes``, under the
shipped broker's ``max_packet_size``. A larger one would get the box disconnected by the broker
and then be re-sent from the outbox forever, so ``submit`` refuses it."""

ACK_COMMIT_DELAY_S = 1.0
"""How long the deletion of acknowledged messages may wait for a commit when nothing new goes
out (normally they ride along with the next send's commit). Losing them to a killed process
only re-sends messages that the bridge stores once. Also how long submitted messages wait for
a commit while the broker is away (nothing is sent, so no send commits them)."""


class UplinkPublisher:
    """Publishes one device's messages from its outbox.

    ``submit`` is called from the pipeline (same event loop) and never blocks on the network;
    ``run`` owns the MQTT connection: it announces the device with a retained birth message,
    leaves a last will, reconnects with jittered backoff, and says goodbye (retained
    ``OFFLINE``) when cancelled. The caller owns (opens and closes) the outbox. ``clock``
    stamps publish times and labels every Envelope with its source and error bound.
    """

    def __init__(
        self,
        identity: DeviceIdentity,
        settings: UplinkSettings,
        outbox: SqliteOutbox,
        *,
        clock: WallClock | None = None,
        software_version: str = "",
    ) -> None:
        self.identity = identity
        self.settings = settings
        self.outbox = outbox
        self._clock = clock or WallClock()
        self._software_version = software_version
        self._work = asyncio.Event()
        # Rows may be waiting that are not in flight: set by submit, cleared by a full refill.
        self._unsent = True
        self._ack_commit: asyncio.TimerHandle | None = None
        # Rows up to this id were waiting before the current connection: they are backlog.
        self._backlog_up_to = outbox.max_id()
        self.published: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # per stream: over MAX_PAYLOAD_BYTES
        # From handing a message to the client until the broker took it (PUBACK for QoS 1).
        self.publish_latency = LatencyHistogram()
        self.connected = asyncio.Event()
        self._downlink: Callable[[bytes], Awaitable[None]] | None = None
        self._window: _Window | None = None  # the connection's messages in flight
        # Another box with this client id: counted, logged and published once, slowed down.
        self.takeover = SessionTakeover(
            settings.mqtt.client_id or identity.device_id,
            identity.device_id,
            settings.takeover,
            on_episode=self._report_takeover,
        )
        self._uplink_faults = FaultEvents(identity.device_id, "uplink", pb.EVENT_TYPE_SENSOR_FAULT)
        self._topics = {stream: identity.topic(stream) for stream in Stream}  # once, not per send
        self._properties = _publish_properties(settings) if settings.mqtt.mqtt5 else {}
        # In memory: a boot has one publisher, and the boot id is new at every start.
        self._status_sequence = itertools.count(STATUS_SEQUENCE_BASE)
        # Told each envelope as handed to MQTT (topic, exact payload): the flight recorder.
        self.on_published: Callable[[str, bytes], None] | None = None

    @property
    def queued(self) -> int:
        """Messages waiting in the outbox."""
        return len(self.outbox)

    def submit(self, body: Message, capture_time_ns: int) -> int:
        """Seal ``body`` (an Envelope body message) and put it in the outbox.

        Returns its sequence number. A message over ``MAX_PAYLOAD_BYTES`` is refused: counted
        and logged, never queued. Raises ``TypeError`` for a message that is not an Envelope
        body and ``UplinkError`` when the outbox is closed. A full or failing disk is no error:
        the outbox keeps the message in memory and evicts telemetry to make room.
        """
        stream = STREAM_OF_BODY.get(_body_field(body))
        if stream is None:
            raise TypeError(f"{body.DESCRIPTOR.full_name} is not an Envelope body")
        sequence = self.outbox.next_sequence()
        payload = self._seal(body, sequence, capture_time_ns).SerializeToString()
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.refused[stream.value] += 1
            log.error(
                "%s: refused a message of %d bytes on %s (over %d): the broker would disconnect "
                "the box for it",
                self.identity.device_id,
                len(payload),
                stream.value,
                MAX_PAYLOAD_BYTES,
            )
            return sequence
        self.outbox.put(
            stream, PRIORITY[stream], self.identity.boot_id, sequence, capture_time_ns, payload
        )
        self._unsent = True
        self._work.set()
        if self._ack_commit is None:
            self._commit_soon()
        return sequence

    async def run(self) -> None:
        """Connect, publish until cancelled, reconnecting as needed; then say goodbye."""
        try:
            await self._run()
        finally:
            # The caller closes the outbox next: no commit may fire after that.
            if self._ack_commit is not None:
                self._ack_commit.cancel()
                self._ack_commit = None

    async def _run(self) -> None:
        # Full jitter: a fleet that lost the same broker spreads its reconnects.
        backoff = self.settings.mqtt.backoff(Jitter.FULL)
        lost_logged = False
        while True:
            link = self._link()
            try:
                await link.connect()
                await self._publish_status(link, pb.LIVENESS_ONLINE, "started")
                # Only now: a connection closed during the birth is no connection made.
                self.takeover.connected()
                if lost_logged:
                    # What waited out the outage is backlog: sent in order, marked historical.
                    self._backlog_up_to = self.outbox.max_id()
                self.connected.set()
                if lost_logged and not self.takeover.active:
                    log.info("%s: uplink recovered", self.identity.device_id)
                lost_logged = False
                backoff.reset()
                try:
                    await self._session(link)
                except asyncio.CancelledError:
                    await self._say_goodbye(link)
                    raise
            except LinkLostError as err:
                self.connected.clear()
                wait = self.takeover.lost(err)  # None unless another client took the session
                if not lost_logged and wait is None:
                    log.warning(
                        "%s: uplink to %s:%d unavailable (%s); retrying with backoff",
                        self.identity.device_id,
                        self.settings.mqtt.host,
                        self.settings.mqtt.port,
                        err,
                    )
                lost_logged = True
                link.abort()  # no DISCONNECT: the broker publishes the will
                await asyncio.sleep(backoff.next_delay() if wait is None else wait)
            finally:
                await link.close()
                self.outbox.commit()

    def _link(self) -> MqttLink:
        will = Will(
            self.identity.topic(Stream.STATUS),
            self._status_envelope(pb.LIVENESS_LOST, "connection lost").SerializeToString(),
        )
        return MqttLink(
            self.settings.mqtt,
            client_id=self.settings.mqtt.client_id or self.identity.device_id,
            will=will,
            timeout_s=self.settings.ack_timeout_s,
            on_delivered=self._delivered,
        )

    def receive_commands(self, handler: Callable[[bytes], Awaitable[None]]) -> None:
        """Subscribe to the device's ``cmd`` topic on every connection (QoS 1) and await
        ``handler`` with each payload, one at a time; call before ``run``."""
        self._downlink = handler

    async def _session(self, link: MqttLink) -> None:
        """Publish, and run the command downlink beside it, until the link goes down."""
        if self._downlink is not None:
            await link.subscribe(self._topics[Stream.CMD], qos=1)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._drain(link), name="uplink-drain")
                # A lost connection ends the drain even while it has nothing to send.
                tasks.create_task(link.wait_down(), name="uplink-watch")
                if self._downlink is not None:
                    tasks.create_task(self._commands(link, self._downlink), name="uplink-cmd")
        except BaseExceptionGroup as group:
            lost = group.subgroup(LinkLostError)
            if lost is None:
                raise
            # Its cause is kept (the broker's reason travels in the error itself).
            error = lost.exceptions[0]
            raise error from error.__cause__

    async def _commands(self, link: MqttLink, handler: Callable[[bytes], Awaitable[None]]) -> None:
        while True:
            await handler(await link.next_message())

    async def _drain(self, link: MqttLink) -> None:
        """Keep up to ``WINDOW`` messages in flight; each leaves the outbox when acknowledged.

        A sliding window rather than batch after batch: the link never idles waiting for the
        slowest acknowledgement of a batch. paho sends in call order, so each stream stays in
        order; rows are taken by priority, then age, so a new safety event is next in line.
        This loop wakes only when there is something to send (or the window has room again):
        an acknowledgement is one call of ``_delivered``, so at steady rates a message costs
        the event loop little more than its own send.
        """
        window = _Window(self.settings.ack_timeout_s, self._work)
        self._window = window
        self._unsent = True  # what was in flight on the last connection goes again
        try:
            while True:
                self._work.clear()
                window.check()
                if self._unsent and len(window) <= WINDOW // 2:
                    # Commit first: a message goes out only once it is on disk (or, when the
                    # disk refuses it, held in memory: sending it beats keeping it).
                    self.outbox.commit()
                    self._refill(link, window)
                    # Out now rather than at the next turn of the loop, and before a checkpoint.
                    link.flush()
                    if self.outbox.wal_restart_due():
                        self.outbox.checkpoint_wal()  # its fsyncs hold back no message sent
                await self._work.wait()
        finally:
            self._window = None
            if self._ack_commit is not None:  # run() commits when the session ends
                self._ack_commit.cancel()
                self._ack_commit = None
            window.close()

    def _refill(self, link: MqttLink, window: _Window) -> None:
        """Send what waits in the outbox, up to ``WINDOW`` in flight."""
        room = WINDOW - len(window)
        entries = self.outbox.peek(room, exclude=window.rows)
        self._unsent = len(entries) == room  # a full page may have more behind it
        backlog_up_to = self._backlog_up_to
        for entry in entries:
            self._send(link, entry, window, historical=entry.row_id <= backlog_up_to)

    def _send(
        self, link: MqttLink, entry: OutboxEntry, window: _Window, *, historical: bool
    ) -> None:
        """Hand one outbox entry to the link; ``_delivered`` takes it out of the outbox. If the
        link goes down first, the entry stays and goes again on the next connection (the bridge
        dedupes a second copy)."""
        # The send's fields appended to the stored envelope, which has neither: protobuf reads
        # two messages one after the other as the first merged with the second. Parsing and
        # writing the envelope again cost 21 us for a 12 KB object list here, appending 1 us.
        stamp = pb.Envelope(publish_time_ns=self._clock.now_ns(), historical=historical)
        topic, payload = self._topics[entry.stream], entry.body + stamp.SerializeToString()
        if self.on_published is not None:
            self.on_published(topic, payload)
        mid = link.publish(
            topic,
            payload,
            self.settings.qos.get(entry.stream, 1),
            retain=False,
            properties=self._properties.get(entry.stream),
        )
        window.add(mid, entry.row_id, entry.stream)

    def _delivered(self, mid: int) -> None:
        """The broker took message ``mid`` (PUBACK for QoS 1): it leaves the outbox."""
        window = self._window
        if window is None:
            return
        sent = window.pop(mid)
        if sent is None:
            return
        self.publish_latency.observe(time.monotonic() - sent.sent_s)
        self.outbox.ack(sent.row_id)
        self.published[sent.stream.value] += 1
        if self._unsent and len(window) <= WINDOW // 2:
            self._work.set()
        if self._ack_commit is None:
            self._commit_soon()

    def _commit_soon(self) -> None:
        """Commit within ``ACK_COMMIT_DELAY_S`` (one timer at a time)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # submitted before the loop runs: run() commits
            return
        self._ack_commit = loop.call_later(ACK_COMMIT_DELAY_S, self._commit_later)

    def _commit_later(self) -> None:
        self._ack_commit = None
        if not self.outbox.uncommitted:
            return
        try:
            if not self.outbox.commit():
                self._commit_soon()  # the disk refused it: try again (the outbox paces it)
        except UplinkError as err:  # closed: a timer has no caller to raise to
            log.error("%s: %s", self.identity.device_id, err)

    def _report_takeover(self, line: str) -> None:
        # An event as well as the log line: the cloud hears of it whichever box gets through.
        self.submit(self._uplink_faults.make(pb.SEVERITY_WARNING, line), self._clock.now_ns())

    async def _say_goodbye(self, link: MqttLink) -> None:
        try:
            await asyncio.wait_for(
                self._publish_status(link, pb.LIVENESS_OFFLINE, "stopped"), timeout=2.0
            )
        except (LinkLostError, TimeoutError) as err:
            log.warning("%s: could not publish offline status: %s", self.identity.device_id, err)

    async def _publish_status(
        self, link: MqttLink, liveness: pb.Liveness.ValueType, reason: str
    ) -> None:
        # Status is about the connection itself: sent directly, never replayed from the outbox.
        envelope = self._status_envelope(liveness, reason)
        topic, payload = self.identity.topic(Stream.STATUS), envelope.SerializeToString()
        if self.on_published is not None:
            self.on_published(topic, payload)
        await link.publish_and_wait(
            topic, payload, 1, retain=True, properties=self._properties.get(Stream.STATUS)
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
        envelope = self._seal(status, next(self._status_sequence), now)
        envelope.publish_time_ns = now
        return envelope

    def _seal(self, body: Message, sequence: int, capture_time_ns: int) -> pb.Envelope:
        clock = self._clock.label()
        return seal(
            body,
            device_id=self.identity.device_id,
            boot_id=self.identity.boot_id,
            sequence=sequence,
            capture_time_ns=capture_time_ns,
            publish_time_ns=0,  # set when sent
            clock_source=clock.source,
            clock_max_error_s=clock.max_error_s,
        )

    def counters(self) -> Mapping[str, int]:
        """Published and evicted messages per stream, the outbox's evictions per reason, failed
        commits and uncommitted messages, and the backlog, for health reports."""
        flat = {f"uplink.published.{k}": v for k, v in self.published.items()}
        flat.update({f"uplink.refused.oversize.{k}": v for k, v in self.refused.items()})
        flat.update({f"uplink.evicted.{k}": v for k, v in self.outbox.evicted.items()})
        flat.update({f"uplink.outbox.{k}": v for k, v in self.outbox.counters().items()})
        flat["uplink.queued"] = self.queued
        flat["uplink.queued_bytes"] = self.outbox.size_bytes
        flat["uplink.session_taken_over"] = self.takeover.taken_over
        flat["uplink.session_takeover_active"] = int(self.takeover.active)
        flat.update(
            {f"uplink.publish_latency.{k}": v for k, v in self.publish_latency.counters().items()}
        )
        return flat


class _Sent(NamedTuple):
    row_id: int
    stream: Stream
    sent_s: float  # time.monotonic() when handed to the link


class _Window:
    """The messages in flight on one connection, by message id, and what ends the session.

    One timer for the whole window fails the session when the oldest message has waited
    longer than ``timeout_s`` (paho does not fail in-flight publishes when the socket dies
    silently), instead of a timeout, with its task and timer, per message.
    """

    def __init__(self, timeout_s: float, work: asyncio.Event) -> None:
        self.sends: dict[int, _Sent] = {}  # mid -> what was sent; insertion order is age
        self.rows: set[int] = set()  # their outbox row ids
        self._loop = asyncio.get_running_loop()
        self._timeout_s = timeout_s
        self._work = work
        self._timer: asyncio.TimerHandle | None = None
        self._error: Exception | None = None

    def __len__(self) -> int:
        return len(self.sends)

    def add(self, mid: int, row_id: int, stream: Stream) -> None:
        self.sends[mid] = _Sent(row_id, stream, time.monotonic())
        self.rows.add(row_id)
        if self._timer is None:
            self._timer = self._loop.call_later(self._timeout_s, self._expired)

    def pop(self, mid: int) -> _Sent | None:
        sent = self.sends.pop(mid, None)
        if sent is not None:
            self.rows.discard(sent.row_id)
        return sent

    def fail(self, error: Exception) -> None:
        """End the session with ``error`` (the first one counts)."""
        if self._error is None:
            self._error = error
        self._work.set()

    def check(self) -> None:
        """Raise what ended the session, if anything did."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Forget what is in flight (it stays in the outbox) and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
        self.sends.clear()
        self.rows.clear()

    def _expired(self) -> None:
        self._timer = None
        for sent in self.sends.values():  # only the oldest matters
            waited = time.monotonic() - sent.sent_s
            if waited >= self._timeout_s:
                self.fail(LinkLostError(f"no acknowledgement within {self._timeout_s:g} s"))
            else:
                self._timer = self._loop.call_later(self._timeout_s - waited, self._expired)
            return


CONTENT_TYPE = "application/x-protobuf; messageType=roadgate.v1.Envelope"


def _publish_properties(settings: UplinkSettings) -> dict[Stream, Properties]:
    """MQTT 5 properties per stream: the content type, and an expiry for high-rate streams."""
    properties = {}
    for stream in Stream:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ContentType = CONTENT_TYPE
        if stream in EXPIRING_STREAMS:
            props.MessageExpiryInterval = settings.expiry_s
        properties[stream] = props
    return properties


def _body_field(body: Message) -> str:
    for field in pb.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields:
        if field.message_type is not None and field.message_type is body.DESCRIPTOR:
            return field.name
    return ""
