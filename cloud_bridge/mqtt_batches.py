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
from typing import Any, NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from cloud_bridge.errors import BridgeError
from cloud_bridge.session import connect_options
from cloud_bridge.settings import BridgeSettings
from hal.net.paho_loop import PahoLoop
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


class MqttBatches:
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
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        # Resolved (never with an exception) when the CONNACK comes or the link goes down.
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self._gone: asyncio.Future[None] = self._loop.create_future()
        self._subacks: dict[int, asyncio.Future[list[ReasonCode] | None]] = {}
        self._down: str | None = None
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._mqtt.client_id or BRIDGE_CLIENT_ID,
            clean_session=options["clean_session"],
            protocol=options["protocol"],
            manual_ack=manual_ack,
        )
        if self._mqtt.username is not None:
            client.username_pw_set(self._mqtt.username, self._mqtt.password)
        client.enable_logger(logging.getLogger(f"{__name__}.paho"))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        self._socket = PahoLoop(
            client, on_readable=self._read, on_broken=self._link_down, name="bridge-mqtt"
        )

    async def connect(self) -> None:
        """Connect and wait for the broker's CONNACK. Raises ``LinkError``."""
        try:
            # paho's connect blocks: name lookup, TCP and TLS handshakes, loading certificates.
            await self._socket.run_blocking(self._connect_blocking)
        except (OSError, ValueError) as err:
            raise LinkError(str(err) or type(err).__name__) from err
        await self._until(self._connected, "no CONNACK")

    def _connect_blocking(self) -> None:
        mqtt = self._mqtt
        if mqtt.tls is not None:
            self._client.tls_set(
                ca_certs=mqtt.tls.ca_certs, certfile=mqtt.tls.certfile, keyfile=mqtt.tls.keyfile
            )
        self._client.connect(
            mqtt.host,
            mqtt.port,
            keepalive=mqtt.keepalive_s,
            clean_start=self._clean_start,
            properties=self._properties,
        )

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        """Subscribe and wait for the SUBACK. Raises ``LinkError``, also when refused."""
        result, mid = self._client.subscribe(topic_filter, qos)
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            raise LinkError(f"cannot subscribe to {topic_filter}: {paho.error_string(result)}")
        suback: asyncio.Future[list[ReasonCode] | None] = self._loop.create_future()
        self._subacks[mid] = suback
        await self._until(suback, "no SUBACK")
        refused = [code for code in suback.result() or () if code.is_failure]
        if refused:
            raise LinkError(f"the broker refused the subscription to {topic_filter}: {refused[0]}")
        self._bounded = True

    async def _until(self, future: asyncio.Future[Any], what: str) -> None:
        """Wait for ``future``; raises ``LinkError`` when the link went down or it took longer
        than ``CALL_TIMEOUT_S``."""
        try:
            await asyncio.wait_for(asyncio.shield(future), CALL_TIMEOUT_S)
        except TimeoutError:
            raise LinkError(f"{what} within {CALL_TIMEOUT_S:g} s") from None
        if self._down is not None:
            raise LinkError(self._down)

    def backlog(self) -> int:
        """How many received messages wait to be taken."""
        return len(self._queue)

    async def wait(self) -> None:
        """Return once a message waits to be taken. Raises ``LinkError`` when none does and the
        link is down: what was received before the drop is always handed over first."""
        while not self._queue:
            if self._down is not None:
                raise LinkError(self._down)
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def take(self, limit: int) -> list[Message]:
        """Up to ``limit`` waiting messages, oldest first (an empty list when none waits)."""
        queue = self._queue
        batch = queue[:limit]
        del queue[:limit]
        if not self._socket.reading and len(queue) < self._max_queued and self._down is None:
            self._socket.start_reading()
        return batch

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge the QoS 1 ones among ``messages`` to the broker (with manual acks).

        paho queues each PUBACK and they go out when the socket is writable; on a link that
        dropped nothing is sent, and the broker sends the messages again (the store dedupes).
        """
        client = self._client
        for message in messages:
            if message.qos == 1:
                client.ack(message.mid, 1)

    async def close(self) -> None:
        """Disconnect cleanly (what is queued to send goes first, PUBACKs included), or just
        drop the socket after ``CALL_TIMEOUT_S``. Safe to call twice."""
        try:
            if self._socket.has_socket and self._down is None:
                self._client.disconnect()
                await asyncio.wait_for(asyncio.shield(self._gone), CALL_TIMEOUT_S)
        except TimeoutError:
            pass
        finally:
            self._socket.drop()

    def _read(self) -> None:
        """Read what the socket holds (up to ``READS_PER_WAKE`` packets or a full queue).
        Raises what the socket raises (the link is then broken)."""
        client = self._client
        queue = self._queue
        sock = self._socket
        for _ in range(READS_PER_WAKE):
            before = len(queue)
            if client.loop_read() != paho.MQTT_ERR_SUCCESS:
                break  # paho closed the socket and called on_disconnect
            if len(queue) >= self._max_queued and self._bounded:
                sock.stop_reading()
                break
            # No message: nothing left to read (or a packet of another kind; the loop calls
            # again while the socket is readable), unless TLS holds decrypted bytes.
            if len(queue) == before and not sock.tls_pending():
                break
        else:
            if sock.tls_pending():
                sock.read_soon()
        if queue and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _link_down(self, reason: str) -> None:
        """Record why the link is gone (the first reason) and wake whoever waits on it."""
        if self._down is None:
            self._down = reason
        for future in (self._waiter, self._connected, self._gone, *self._subacks.values()):
            if future is not None and not future.done():
                future.set_result(None)

    # paho's callbacks.

    def _on_connect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.ConnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        if reason.is_failure:
            self._link_down(f"the broker refused the connection: {reason}")
        elif not self._connected.done():
            self._connected.set_result(None)

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        self._link_down(f"disconnected: {reason}")

    def _on_message(
        self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage
    ) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = BAD_TOPIC
        # bytes() of paho's bytes is the same object: no copy.
        self._queue.append(Message(topic, bytes(message.payload), message.qos, message.mid))

    def _on_subscribe(
        self,
        _client: paho.Client,
        _userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        _properties: object,
    ) -> None:
        suback = self._subacks.pop(mid, None)
        if suback is not None and not suback.done():
            suback.set_result(reasons)
