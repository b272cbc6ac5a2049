"""The bridge service: subscribe to every device uplink, validate, dedupe, store.

One ``BridgeService`` owns one MQTT connection and one store. Run it as a task; cancel the task
(or press Ctrl-C under ``asyncio.run``) to stop it: what was received is committed first.

Downlink commands (stream ``cmd``) match the subscription but are ignored, neither stored nor
dead-lettered: cloud services publish them through the downlink component, which records what
it sends, and a command's envelope is not a device uplink (its sequence space is the issuer's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import aiomqtt

from cloud_bridge.settings import BridgeSettings
from cloud_bridge.stats import BridgeStats
from cloud_bridge.store import SqliteStore
from cloud_bridge.validation import Accepted, validate
from protocols.topics import Stream, subscription

_LOG = logging.getLogger(__name__)


def backoff_delays(
    initial_s: float = 1.0,
    maximum_s: float = 30.0,
    rand: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Endless reconnect delays: doubling from ``initial_s`` up to ``maximum_s``.

    Each delay is jittered into ``[d/2, d]`` so that a fleet of bridges that lost the same broker
    does not reconnect in lockstep, yet never retries in a tight loop.
    """
    delay = initial_s
    while True:
        yield delay / 2 + rand() * delay / 2
        delay = min(delay * 2, maximum_s)


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
    knobs: the largest batch committed at once, how long to keep filling a batch while messages
    are queued, and the reconnect backoff. Raises ``ValueError`` for a bad knob. Bad input never
    stops it: :meth:`run` raises only ``StoreError`` (the store cannot be written).
    """

    def __init__(
        self,
        settings: BridgeSettings,
        stats: BridgeStats | None = None,
        *,
        max_batch: int = 500,
        max_batch_delay_s: float = 0.05,
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        reject_log: RejectLog | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch {max_batch} is not valid: use >= 1")
        self.settings = settings
        self.stats = stats if stats is not None else BridgeStats()
        self.topic_filter = subscription(region=settings.region)
        self._max_batch = max_batch
        self._max_batch_delay_s = max_batch_delay_s
        self._reconnect_initial_s = reconnect_initial_s
        self._reconnect_max_s = reconnect_max_s
        self._reject_log = reject_log if reject_log is not None else RejectLog()

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run until cancelled; set ``ready`` once subscribed for the first time.

        Opens the store, connects (retrying with backoff while the broker is unreachable, from
        the start too: a bridge may well boot before its broker) and ingests. Raises
        ``StoreError`` if the store cannot be opened or written.
        """
        with SqliteStore(self.settings.store_path) as store:
            try:
                await self._connect_forever(store, ready)
            finally:
                self._reject_log.flush(final=True)

    async def _connect_forever(self, store: SqliteStore, ready: asyncio.Event | None) -> None:
        mqtt = self.settings.mqtt
        delays: Iterator[float] | None = None  # not None while disconnected
        while True:
            reader: _MessageReader | None = None
            try:
                async with aiomqtt.Client(
                    mqtt.host,
                    mqtt.port,
                    identifier=mqtt.client_id,
                    keepalive=mqtt.keepalive_s,
                    username=mqtt.username,
                    password=mqtt.password,
                    tls_params=mqtt.tls,
                    # A persistent session: the broker keeps our subscription and queues QoS 1
                    # messages while we reconnect, so an outage of the bridge loses nothing.
                    clean_session=False,
                ) as client:
                    await client.subscribe(self.topic_filter, qos=self.settings.subscribe_qos)
                    if delays is not None:
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
                    delays = None
                    if ready is not None:
                        ready.set()
                    reader = _MessageReader(client.messages)
                    await self._consume(reader, store)
            except aiomqtt.MqttError as err:
                if delays is None:
                    _LOG.warning(
                        "broker %s:%d unreachable (%s); retrying with backoff up to %g s",
                        mqtt.host,
                        mqtt.port,
                        err,
                        self._reconnect_max_s,
                    )
                    delays = backoff_delays(self._reconnect_initial_s, self._reconnect_max_s)
            finally:
                # The client is disconnected now, so an interrupted read ends at once.
                if reader is not None and (late := await reader.leftover()) is not None:
                    self._ingest(store, [late])
            if delays is not None:
                await asyncio.sleep(next(delays))

    async def _consume(self, reader: _MessageReader, store: SqliteStore) -> None:
        """Take messages in batches until the connection drops (raises ``MqttError``)."""
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
                # The client acknowledged queued messages to the broker on arrival: take them too,
                # so that stopping loses nothing that was received. Only those queued now, which
                # these awaits return at once: a flood still arriving must not delay the stop.
                with contextlib.suppress(aiomqtt.MqttError):
                    for _ in range(reader.backlog()):
                        batch.append(await reader.next())
                raise
            finally:
                if batch:
                    self._ingest(store, batch)

    def _ingest(self, store: SqliteStore, batch: list[aiomqtt.Message]) -> None:
        """Validate a batch, store and dead-letter it in one transaction, update the stats."""
        limit = self.settings.max_payload_bytes
        stats = self.stats
        with store.transaction():
            for message in batch:
                received_ns = time.time_ns()
                stats.record_received()
                topic = message.topic.value
                if topic.rsplit("/", 1)[-1] == Stream.CMD.value:
                    stats.record_ignored()
                    continue
                payload = message.payload
                verdict = validate(topic, payload, limit)
                if isinstance(verdict, Accepted):
                    if store.store(verdict, received_ns):
                        stats.record_stored(
                            verdict.envelope.device_id, verdict.topic.stream.value, received_ns
                        )
                    else:
                        stats.record_duplicate()
                else:
                    stats.record_rejected(verdict.reason)
                    self._reject_log.note(verdict.reason, topic, verdict.detail)
                    # Keep at most the size limit of an oversized payload: enough to inspect it,
                    # without letting one device fill the disk through the dead-letter table.
                    store.dead_letter(
                        topic, payload[:limit], verdict.reason, verdict.detail, received_ns
                    )
        self._reject_log.flush()


class _MessageReader:
    """Reads ``client.messages`` so that cancelling a read never loses a message.

    aiomqtt's iterator takes a message off its queue in an inner task; when the caller is
    cancelled right after that, the message (already acknowledged to the broker) is dropped.
    Here the read runs as a task of its own that cancellation does not touch: the next call, or
    :meth:`leftover`, picks up its result.
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
