"""The bridge's MQTT connection: paho-mqtt driven by the asyncio loop (``hal.net.paho_loop``),
handing messages over in batches.

``on_message`` appends a small copy of paho's message to a list and the consumer takes a batch
at a time, so a message costs no future, task or queue operation of its own. The list is
bounded: at ``max_queued`` messages the socket is not read any more until the consumer has
taken some (the broker's inflight window and TCP hold the rest), so memory stays bounded however
far behind the store falls. (Under aiomqtt a backlog piled up in its unbounded queue, and the
garbage collector kept scanning it: with the per-message futures, that cost the bridge about
half of its messages per CPU second.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge.errors import BridgeError
from cloud_bridge.session import connect_options
from cloud_bridge.settings import BridgeSettings
from hal.net.paho_loop import ChunkedClient, PahoSession
from protocols.mqtt_connection import BRIDGE_CLIENT_ID


class Message(NamedTuple):
    """A received message, as much of paho's as the bridge needs.

    paho's own message carries a ``Properties`` object of some sixty containers under MQTT 5:
    queued, hundreds of those kept the garbage collector busy. This copy lets them go at once.
    """

    topic: str
    payload: bytes
    qos: int
    mid: int


BAD_TOPIC = "\ufffd"
"""The topic of a message whose topic is not UTF-8 (a broker should refuse it): no topic
matches it, so the message is rejected as ``bad_topic`` and dead-lettered, never a crash."""

CALL_TIMEOUT_S = 10.0
"""How long a CONNACK, a SUBACK or a clean disconnect may take (aiomqtt's default too)."""

READS_PER_WAKE = 1_000
"""Packets read per readable event at most, so that a flood cannot starve the loop's tasks."""


class LinkError(BridgeError):
    """The connection could not be made, was refused or dropped. The service reconnects."""


class MqttBatches(PahoSession):
    """One connection to the broker. Use once: :meth:`connect`, :meth:`subscribe`, then
    :meth:`wait` and :meth:`take` until :meth:`wait` raises ``LinkError``; always :meth:`close`.

    Create it on the event loop that drives it. With ``manual_ack`` paho acknowledges no QoS 1
    message by itself: :meth:`ack` does, once the caller has committed it. Raises ``ValueError``
    for ``max_queued`` < 1.
    """

    def __init__(self, settings: BridgeSettings, *, manual_ack: bool, max_queued: int) -> None:
        if max_queued < 1:
            raise ValueError(f"max_queued {max_queued} is not valid: use >= 1")
        options = connect_options(settings)
        self._mqtt = settings.mqtt
        self._clean_start = options["clean_start"]
        self._properties = options["properties"]
        # No bound until the SUBACK: a persistent session's backlog arrives ahead of it (up to
        # the broker's inflight window under QoS 1) and the SUBACK must still be read.
        self._max_queued = max_queued
        self._bounded = False
        self._queue: list[Message] = []
        self._waiter: asyncio.Future[None] | None = None
        client = ChunkedClient(
            CallbackAPIVersion.VERSION2,
            client_id=self._mqtt.client_id or BRIDGE_CLIENT_ID,
            clean_session=options["clean_session"],
            protocol=options["protocol"],
            manual_ack=manual_ack,
        )
        if self._mqtt.username is not None:
            client.username_pw_set(self._mqtt.username, self._mqtt.password)
        client.enable_logger(logging.getLogger(f"{__name__}.paho"))
        client.on_message = self._on_message
        super().__init__(client, timeout_s=CALL_TIMEOUT_S, name="bridge-mqtt")

    def _error(self, message: str, reason_code: int | None) -> LinkError:
        return LinkError(message)

    def _connect_blocking(self) -> None:
        mqtt = self._mqtt
        if mqtt.tls is not None:
            self.client.tls_set(
                ca_certs=mqtt.tls.ca_certs, certfile=mqtt.tls.certfile, keyfile=mqtt.tls.keyfile
            )
        self.client.connect(
            mqtt.host,
            mqtt.port,
            keepalive=mqtt.keepalive_s,
            clean_start=self._clean_start,
            properties=self._properties,
        )

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        """Subscribe and wait for the SUBACK. Raises ``LinkError``, also when refused."""
        await super().subscribe(topic_filter, qos)
        self._bounded = True

    def backlog(self) -> int:
        """How many received messages wait to be taken."""
        return len(self._queue)

    async def wait(self) -> None:
        """Return once a message waits to be taken (reading on if it had stopped). Raises
        ``LinkError`` when none does and the link is down: what was received before the drop
        is always handed over first."""
        while not self._queue:
            self.raise_if_down()
            self.read_on()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def take(self, limit: int) -> list[Message]:
        """Up to ``limit`` waiting messages, oldest first (an empty list when none waits).

        Reading stays as it was: stopped at the bound, it goes on at :meth:`read_on` (or
        :meth:`wait`), so that the caller chooses when to spend its time reading.
        """
        queue = self._queue
        batch = queue[:limit]
        del queue[:limit]
        return batch

    def read_on(self) -> None:
        """Read again if reading stopped at the bound and there is room now."""
        if not self.socket.reading and len(self._queue) < self._max_queued and self.down is None:
            self.socket.start_reading()

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge the QoS 1 ones among ``messages`` to the broker (with manual acks).

        paho queues each PUBACK and they go out when the socket is writable; on a link that
        dropped nothing is sent, and the broker sends the messages again (the store dedupes).
        """
        client = self.client
        for message in messages:
            if message.qos == 1:
                client.ack(message.mid, 1)

    def _read(self) -> None:
        """Read what the socket holds (up to ``READS_PER_WAKE`` packets or a full queue).
        Raises what the socket raises (the link is then broken)."""
        client = self.client
        queue = self._queue
        sock = self.socket
        for _ in range(READS_PER_WAKE):
            before = len(queue)
            if client.loop_read() != paho.MQTT_ERR_SUCCESS:
                break  # paho closed the socket and called on_disconnect
            if len(queue) >= self._max_queued and self._bounded:
                sock.stop_reading()
                break
            # No message: nothing left to read (or a packet of another kind; the loop calls
            # again while the socket is readable), unless TLS or the client holds bytes.
            if len(queue) == before and not sock.bytes_held():
                break
        else:
            if sock.bytes_held():
                sock.read_soon()
        if queue and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _woken(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # paho's callbacks.

    def _on_message(
        self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage
    ) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = BAD_TOPIC
        # bytes() of paho's bytes is the same object: no copy.
        self._queue.append(Message(topic, bytes(message.payload), message.qos, message.mid))
