"""The bridge service: subscribe to every device uplink, validate, dedupe, store.

One ``BridgeService`` owns one MQTT connection and one store. Run it as a task; cancel the task
(or press Ctrl-C under ``asyncio.run``) to stop it: what was received is committed first.
Under QoS 1 (the default) a message is acknowledged to the broker only once it is committed, so
a bridge killed at any moment loses nothing: the broker sends what was not acknowledged again,
and the store's key (device, boot, sequence) keeps one copy.

Downlink commands (stream ``cmd``) match the subscription but are ignored, neither stored nor
dead-lettered: cloud services publish them through the downlink component, which records what
it sends, and a command's envelope is not a device uplink (its sequence space is the issuer's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import aiomqtt

from cloud_bridge.rate_limit import DeviceRateLimiter, device_key
from cloud_bridge.session import connect_options, topic_filter
from cloud_bridge.settings import BridgeSettings
from cloud_bridge.stats import BridgeStats
from cloud_bridge.store import MessageStore, open_store
from cloud_bridge.validation import Accepted, validate
from protocols.mqtt_connection import BRIDGE_CLIENT_ID, Jitter
from protocols.topics import Stream

_LOG = logging.getLogger(__name__)


@dataclass(slots=True)
class _Burst:
    last_summary: float
    last_seen: float
    suppressed: int = 0


class RejectLog:
    """Log each reject reason once when a burst starts, then a summary every ``interval_s``.

    A device sending garbage at 100 Hz must not write 100 log lines a second; a reason that was
    quiet for ``interval_s`` starts a new burst and is logged in full again.
    """

    def __init__(
        self,
        logger: logging.Logger = _LOG,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._clock = clock
        self._bursts: dict[str, _Burst] = {}

    def note(self, reason: str, topic: str, detail: str) -> None:
        """Account one reject; logs it only if it starts a burst of its reason."""
        now = self._clock()
        burst = self._bursts.get(reason)
        if burst is None:
            self._logger.warning(
                "rejected a message (%s) on %r: %s; more %s rejects are summarised every %g s",
                reason,
                topic,
                detail,
                reason,
                self._interval_s,
            )
            self._bursts[reason] = _Burst(last_summary=now, last_seen=now)
        else:
            burst.suppressed += 1
            burst.last_seen = now

    def flush(self, final: bool = False) -> None:
        """Log the summaries that are due (all of them when ``final``); end quiet bursts."""
        now = self._clock()
        for reason, burst in list(self._bursts.items()):
            if not final and now - burst.last_summary < self._interval_s:
                continue
            if burst.suppressed:
                self._logger.warning(
                    "rejected %d more messages (%s) in the last %.1f s",
                    burst.suppressed,
                    reason,
                    now - burst.last_summary,
                )
                burst.suppressed = 0
                burst.last_summary = now
            if final or now - burst.last_seen >= self._interval_s:
                del self._bursts[reason]


class BridgeService:
    """Subscribe to ``rg/v1/{region}/+/+``, validate, dedupe and store every message.

    Takes the settings, an optional ``BridgeStats`` to update (a new one otherwise), and tuning
    knobs: the largest batch committed at once and how long to keep filling a batch while
    messages are queued (the reconnect backoff is ``settings.mqtt``'s), and how often the
    store's loss accounting totals are read into the stats. Raises ``ValueError``
    for a bad knob. Bad input never
    stops it: :meth:`run` raises only ``StoreError`` (the store cannot be written).
    """

    def __init__(
        self,
        settings: BridgeSettings,
        stats: BridgeStats | None = None,
        *,
        max_batch: int = 500,
        max_batch_delay_s: float = 0.05,
        reject_log: RejectLog | None = None,
        loss_refresh_s: float = 60.0,
        on_stored: Callable[[list[tuple[Accepted, int]]], None] | None = None,
    ) -> None:
        # Called with each batch's newly stored (accepted, received_time_ns) after its commit
        # (cloud_bridge.web's live stream); it must not block.
        self.on_stored = on_stored
        if max_batch < 1:
            raise ValueError(f"max_batch {max_batch} is not valid: use >= 1")
        self.settings = settings
        self.stats = stats if stats is not None else BridgeStats()
        self.topic_filter = topic_filter(settings)
        self._max_batch = max_batch
        self._max_batch_delay_s = max_batch_delay_s
        self._reject_log = reject_log if reject_log is not None else RejectLog()
        self._rate_limiter = DeviceRateLimiter(
            settings.device_messages_per_s,
            settings.device_bytes_per_s,
            settings.device_burst_s,
            settings.device_backlog_bytes,
        )
        self._capture_window = settings.capture_window
        self._loss_refresh_s = loss_refresh_s
        self._loss_refreshed = -math.inf

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run until cancelled; set ``ready`` once subscribed for the first time.

        Opens the store, connects (retrying with backoff while the broker is unreachable, from
        the start too: a bridge may well boot before its broker) and ingests. Raises
        ``StoreError`` if the store cannot be opened or written.
        """
        with open_store(self.settings) as store:
            try:
                await self._connect_forever(store, ready)
            finally:
                self._reject_log.flush(final=True)

    async def _connect_forever(self, store: MessageStore, ready: asyncio.Event | None) -> None:
        mqtt = self.settings.mqtt
        # Equal jitter: never a tight loop once the broker has been gone a while.
        backoff = mqtt.backoff(Jitter.EQUAL)
        disconnected = False
        while True:
            reader: _MessageReader | None = None
            client = aiomqtt.Client(
                mqtt.host,
                mqtt.port,
                identifier=mqtt.client_id or BRIDGE_CLIENT_ID,
                keepalive=mqtt.keepalive_s,
                username=mqtt.username,
                password=mqtt.password,
                tls_params=None if mqtt.tls is None else aiomqtt.TLSParameters(**asdict(mqtt.tls)),
                # A persistent session (the broker queues for us while we reconnect) and,
                # over MQTT 5, a Maximum Packet Size: see cloud_bridge.session.
                **connect_options(self.settings),
            )
            if self.settings.subscribe_qos == 1:
                _ack_after_commit(client)
            try:
                async with client:
                    await client.subscribe(self.topic_filter, qos=self.settings.subscribe_qos)
                    if disconnected:
                        _LOG.warning(
                            "broker %s:%d reachable again; subscribed to %s",
                            mqtt.host,
                            mqtt.port,
                            self.topic_filter,
                        )
                    else:
                        _LOG.info(
                            "subscribed to %s on %s:%d", self.topic_filter, mqtt.host, mqtt.port
                        )
                    disconnected = False
                    backoff.reset()
                    if ready is not None:
                        ready.set()
                    reader = _MessageReader(client.messages)
                    await self._consume(reader, store, client)
            except aiomqtt.MqttError as err:
                if not disconnected:
                    _LOG.warning(
                        "broker %s:%d unreachable (%s); retrying with backoff up to %g s",
                        mqtt.host,
                        mqtt.port,
                        err,
                        mqtt.reconnect_max_s,
                    )
                    disconnected = True
            finally:
                # The client is disconnected now, so an interrupted read ends at once. Its
                # message cannot be acknowledged any more: the broker sends it again, deduped.
                if reader is not None and (late := await reader.leftover()) is not None:
                    self._ingest(store, [late])
            if disconnected:
                await asyncio.sleep(backoff.next_delay())

    async def _consume(
        self, reader: _MessageReader, store: MessageStore, client: aiomqtt.Client
    ) -> None:
        """Take messages in batches until the connection drops (raises ``MqttError``).

        Acknowledges each batch to the broker through ``client`` once it is committed.
        """
        loop = asyncio.get_running_loop()
        while True:
            batch: list[aiomqtt.Message] = []
            try:
                batch.append(await reader.next())
                # Take what is already queued, so one commit covers many messages under load
                # while a lone message is committed at once.
                deadline = loop.time() + self._max_batch_delay_s
                while reader.backlog() and len(batch) < self._max_batch and loop.time() < deadline:
                    batch.append(await reader.next())
            except asyncio.CancelledError:
                # Commit the queued messages too, so that a stop does not make the broker send
                # them again (and loses none under QoS 0 or 2). Only those queued now, which
                # these awaits return at once: a flood still arriving must not delay the stop.
                with contextlib.suppress(aiomqtt.MqttError):
                    for _ in range(reader.backlog()):
                        batch.append(await reader.next())
                raise
            finally:
                if batch:
                    self._ingest(store, batch)
                    _acknowledge(client, batch)

    def _ingest(self, store: MessageStore, batch: list[aiomqtt.Message]) -> None:
        """Validate a batch, store and dead-letter it in one transaction, update the stats."""
        limit = self.settings.max_payload_bytes
        stats = self.stats
        accepted: list[tuple[Accepted, int]] = []
        with store.transaction():
            for message in batch:
                received_ns = time.time_ns()
                stats.record_received()
                topic = message.topic.value
                if topic.rsplit("/", 1)[-1] == Stream.CMD.value:
                    stats.record_ignored()
                    continue
                payload = message.payload
                verdict = validate(
                    topic,
                    payload,
                    limit,
                    received_time_ns=received_ns,
                    window=self._capture_window,
                )
                # After validation: backlog (historical) has an allowance of its own.
                historical = isinstance(verdict, Accepted) and verdict.envelope.historical
                if not self._rate_limiter.allow(
                    device_key(topic), len(payload), historical=historical
                ):
                    stats.record_rate_limited()
                    self._reject_log.note("rate_limited", topic, "over the device's flood limit")
                    continue
                if isinstance(verdict, Accepted):
                    if verdict.clock_suspect:
                        stats.record_clock_suspect()
                    accepted.append((verdict, received_ns))
                else:
                    stats.record_rejected(verdict.reason)
                    self._reject_log.note(verdict.reason, topic, verdict.detail)
                    # Keep at most the size limit of an oversized payload: enough to inspect it,
                    # without letting one device fill the disk through the dead-letter table.
                    dropped = store.dead_letter(
                        topic, payload[:limit], verdict.reason, verdict.detail, received_ns
                    )
                    stats.record_dead_letters_dropped(dropped)
            # One write for the batch: a round trip per message would bound a remote store.
            fresh: list[tuple[Accepted, int]] = []
            for (item, item_received_ns), stored in zip(
                accepted, store.store_many(accepted), strict=True
            ):
                if stored:
                    fresh.append((item, item_received_ns))
                    stats.record_stored(
                        item.envelope.device_id, item.topic.stream.value, item_received_ns
                    )
                else:
                    stats.record_duplicate()
        if fresh and self.on_stored is not None:  # committed now
            self.on_stored(fresh)
        self._reject_log.flush()
        self._refresh_loss(store)

    def _refresh_loss(self, store: MessageStore) -> None:
        """Put the store's loss totals into the stats, every ``loss_refresh_s`` at most (the
        query reads a row per device and boot)."""
        now = time.monotonic()
        if now - self._loss_refreshed < self._loss_refresh_s:
            return
        self._loss_refreshed = now
        totals = store.loss_totals()
        self.stats.record_loss(totals.delivered, totals.duplicates, totals.missing)


def _ack_after_commit(client: aiomqtt.Client) -> None:
    """Make ``client`` leave QoS 1 acknowledgements to :func:`_acknowledge`.

    paho acknowledges a QoS 1 message as soon as it is queued in memory, and a bridge killed
    before its next commit would lose what the broker then considers delivered. Set before
    connecting: a persistent session's backlog arrives right after the CONNACK. aiomqtt 2.5
    does not expose paho's manual acknowledgement (aiomqtt issue #345), hence its paho client.
    QoS 2 keeps paho's own acknowledgement: paho keeps a QoS 2 exchange in memory only, so
    after a restart it would leave the broker's PUBREL unanswered and that slot stuck.
    """
    client._client.manual_ack_set(True)


def _acknowledge(client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
    """Acknowledge the QoS 1 messages of a committed ``batch``; a no-op without manual acks.

    Runs on the event loop, which drives paho's socket: paho queues each PUBACK and aiomqtt
    writes it when the socket is writable. On a connection that has dropped nothing is sent,
    and the broker sends the messages again, which the store's dedupe key absorbs.
    """
    paho = client._client
    for message in batch:
        if message.qos == 1:
            paho.ack(message.mid, 1)


class _MessageReader:
    """Reads ``client.messages`` so that cancelling a read never loses a message.

    aiomqtt's iterator takes a message off its queue in an inner task; when the caller is
    cancelled right after that, the message is dropped (the broker sends it again if it is
    QoS 1, not otherwise). Here the read runs as a task of its own that cancellation does not
    touch: the next call, or :meth:`leftover`, picks up its result.
    """

    def __init__(self, messages: aiomqtt.client.MessagesIterator) -> None:
        self._messages = messages
        self._read: asyncio.Future[aiomqtt.Message] | None = None

    async def next(self) -> aiomqtt.Message:
        """The next message. Raises ``MqttError`` when the connection drops."""
        if self._read is None:
            self._read = asyncio.create_task(self._read_one(), name="bridge-mqtt-read")
        try:
            message = await asyncio.shield(self._read)
        except aiomqtt.MqttError:
            self._read = None
            raise
        self._read = None
        return message

    async def _read_one(self) -> aiomqtt.Message:
        return await anext(self._messages)

    def backlog(self) -> int:
        """How many messages :meth:`next` returns without waiting for the network."""
        return len(self._messages) + (self._read is not None and self._read.done())

    async def leftover(self) -> aiomqtt.Message | None:
        """After the client disconnected: the message an interrupted read took, if any."""
        read, self._read = self._read, None
        if read is None:
            return None
        try:
            return await read
        except aiomqtt.MqttError:
            return None


async def run_bridge(settings: BridgeSettings) -> None:
    """Run a bridge with fresh stats until cancelled. Raises ``StoreError``."""
    await BridgeService(settings).run()
