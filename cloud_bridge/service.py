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
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cloud_bridge.mqtt_batches import LinkError, Message, MqttBatches
from cloud_bridge.rate_limit import DeviceRateLimiter, device_key
from cloud_bridge.session import topic_filter
from cloud_bridge.settings import BridgeSettings
from cloud_bridge.stats import BridgeStats
from cloud_bridge.store import MessageStore, open_store
from cloud_bridge.store.protocol import BatchWriter, Reject
from cloud_bridge.validation import Accepted, validate
from protocols.mqtt_connection import Jitter
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
    knobs: the largest batch committed at once (also how many received messages may wait;
    the reconnect backoff is ``settings.mqtt``'s) and how often the store's loss accounting
    totals are read into the stats. Raises ``ValueError`` for a bad knob. Bad input never
    stops it: :meth:`run` raises only ``StoreError`` (the store cannot be written).
    """

    def __init__(
        self,
        settings: BridgeSettings,
        stats: BridgeStats | None = None,
        *,
        max_batch: int = 500,
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
                async with store.batch_writer() as writer:
                    await self._connect_forever(store, writer, ready)
            finally:
                self._reject_log.flush(final=True)

    async def _connect_forever(
        self, store: MessageStore, writer: BatchWriter, ready: asyncio.Event | None
    ) -> None:
        mqtt = self.settings.mqtt
        # Equal jitter: never a tight loop once the broker has been gone a while.
        backoff = mqtt.backoff(Jitter.EQUAL)
        disconnected = False
        while True:
            # A persistent session (the broker queues for us while we reconnect) and, over
            # MQTT 5, a Maximum Packet Size: see cloud_bridge.session. Under QoS 1 a message
            # is acknowledged once committed (paho would acknowledge it on arrival, and a
            # bridge killed before its next commit would lose what the broker then considers
            # delivered). QoS 2 keeps paho's own acknowledgement: paho keeps a QoS 2 exchange
            # in memory only, so after a restart it would leave the broker's PUBREL unanswered.
            link = MqttBatches(
                self.settings,
                manual_ack=self.settings.subscribe_qos == 1,
                max_queued=self._max_batch,
            )
            try:
                await link.connect()
                await link.subscribe(self.topic_filter, self.settings.subscribe_qos)
                if disconnected:
                    _LOG.warning(
                        "broker %s:%d reachable again; subscribed to %s",
                        mqtt.host,
                        mqtt.port,
                        self.topic_filter,
                    )
                else:
                    _LOG.info("subscribed to %s on %s:%d", self.topic_filter, mqtt.host, mqtt.port)
                disconnected = False
                backoff.reset()
                if ready is not None:
                    ready.set()
                await self._consume(link, store, writer)
            except LinkError as err:
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
                # Sends the PUBACKs still queued before the DISCONNECT.
                await link.close()
            if disconnected:
                await asyncio.sleep(backoff.next_delay())

    async def _consume(self, link: MqttBatches, store: MessageStore, writer: BatchWriter) -> None:
        """Take messages in batches until the link drops (raises ``LinkError``).

        A batch is what arrived while the previous one was committed (up to ``max_batch``):
        one commit covers many messages under load, and a lone message is committed at once.
        Acknowledges each batch to the broker once it is committed. What was received before
        a drop is still committed; its acknowledgements are lost with the link, so the broker
        sends it again and the store's key dedupes it.
        """
        while True:
            try:
                await link.wait()
            except asyncio.CancelledError:
                # Commit what is queued too, so that a stop does not make the broker send it
                # again (and loses none under QoS 0 or 2). Only what is queued now: a flood
                # still arriving must not delay the stop.
                batch = link.take(link.backlog())
                if batch:
                    await self._ingest(store, writer, batch, link.read_on)
                    link.ack(batch)
                raise
            batch = link.take(self._max_batch)
            # The next messages are read once the store's server has this batch to work on
            # (writer.write's ``on_server_busy``): until then the process's time goes to
            # sending it.
            ingest = asyncio.ensure_future(self._ingest(store, writer, batch, link.read_on))
            try:
                await asyncio.shield(ingest)
            except asyncio.CancelledError:
                await ingest  # a stop lets the commit finish: the broker need not resend it
                link.ack(batch)
                raise
            link.ack(batch)

    async def _ingest(
        self,
        store: MessageStore,
        writer: BatchWriter,
        batch: list[Message],
        read_on: Callable[[], None],
    ) -> None:
        """Validate a batch, store and dead-letter it in one transaction, update the stats."""
        limit = self.settings.max_payload_bytes
        stats = self.stats
        accepted: list[tuple[Accepted, int]] = []
        rejects: list[Reject] = []
        for message in batch:
            received_ns = time.time_ns()
            stats.record_received()
            topic = message.topic
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
            if not self._rate_limiter.allow(device_key(topic), len(payload), historical=historical):
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
                rejects.append(
                    Reject(topic, payload[:limit], verdict.reason, verdict.detail, received_ns)
                )
        # One write for the batch: a round trip per message would bound a remote store.
        outcome = await writer.write(accepted, rejects, on_server_busy=read_on)
        stats.record_dead_letters_dropped(outcome.dead_letters_dropped)
        fresh: list[tuple[Accepted, int]] = []
        for (item, item_received_ns), stored in zip(accepted, outcome.stored, strict=True):
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


async def run_bridge(settings: BridgeSettings) -> None:
    """Run a bridge with fresh stats until cancelled. Raises ``StoreError``."""
    await BridgeService(settings).run()
