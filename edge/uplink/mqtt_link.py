"""One connection of a box to its broker: paho-mqtt driven by the event loop (``PahoLoop``).

The uplink keeps hundreds of messages in flight. Under aiomqtt each cost a future, a task to
await it and a wake-up of that task; here ``publish`` hands the message to paho and returns its
message id, and ``on_delivered`` is told the id when the broker acknowledged it (QoS 1) or it
was written to the socket (QoS 0): one plain call per message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import UplinkError
from hal.net.paho_loop import ChunkedClient, PahoSession
from protocols.mqtt_connection import MqttConnection

log = logging.getLogger("edge.uplink")

READS_PER_WAKE = 1_000
"""Packets read per readable event at most, so that a flood cannot starve the loop's tasks."""


class LinkLostError(UplinkError):
    """The connection could not be made, was refused or dropped (the uplink reconnects).

    ``reason_code`` is the MQTT reason the broker gave (CONNACK or DISCONNECT), when it gave
    one; paho's 0x80 "Unspecified error" for a socket closed without a word.
    """

    def __init__(self, message: str, reason_code: int | None = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes when the connection dies without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttLink(PahoSession):
    """One connection: :meth:`connect`, then :meth:`publish`, :meth:`subscribe` and
    :meth:`next_message` until one of them raises ``LinkLostError``; always :meth:`close`.

    ``on_delivered(mid)`` is called on the event loop for every message that :meth:`publish`
    sent, once delivered; it is never called after the link went down. Create it on the event
    loop that drives it.
    """

    def __init__(
        self,
        mqtt: MqttConnection,
        *,
        client_id: str,
        will: Will,
        timeout_s: float,
        on_delivered: Callable[[int], None] | None = None,
    ) -> None:
        self._mqtt = mqtt
        self._on_delivered = on_delivered or _ignore
        self._waiting: dict[int, asyncio.Future[None]] = {}  # mid -> publish awaited
        self._messages: deque[bytes] = deque()
        self._message_waiter: asyncio.Future[None] | None = None
        client = ChunkedClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if mqtt.mqtt5 else paho.MQTTv311,
        )
        # No bound of paho's own: the uplink's window bounds what is in flight, and paho's
        # bound costs a walk over every message in flight at each acknowledgement.
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        if mqtt.username is not None:
            client.username_pw_set(mqtt.username, mqtt.password)
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.enable_logger(logging.getLogger(f"{__name__}.paho"))
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        super().__init__(client, timeout_s=timeout_s, name="uplink")

    def _error(self, message: str, reason_code: int | None) -> LinkLostError:
        return LinkLostError(message, reason_code)

    def _connect_blocking(self) -> None:
        mqtt = self._mqtt
        if mqtt.tls is not None:
            self.client.tls_set(
                ca_certs=mqtt.tls.ca_certs, certfile=mqtt.tls.certfile, keyfile=mqtt.tls.keyfile
            )
        self.client.connect(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s)
        # Nagle's algorithm holds small QoS 0 messages back by tens of milliseconds.
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def publish(
        self, topic: str, payload: bytes, qos: int, *, retain: bool, properties: Properties | None
    ) -> int:
        """Hand a message to paho; returns its message id, told to ``on_delivered`` once
        delivered. Raises ``LinkLostError`` when the link is down."""
        self.raise_if_down()
        info = self.client.publish(topic, payload, qos, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            self.broken(f"cannot publish: {paho.error_string(info.rc)}")
            self.raise_if_down()
        return info.mid

    async def publish_and_wait(
        self, topic: str, payload: bytes, qos: int, *, retain: bool, properties: Properties | None
    ) -> None:
        """Publish and wait until delivered, within the link's timeout.

        Raises ``LinkLostError``."""
        mid = self.publish(topic, payload, qos, retain=retain, properties=properties)
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[mid] = delivered
        await self.until(delivered, "no acknowledgement")

    async def next_message(self) -> bytes:
        """The payload of the next message received on a subscription. Raises
        ``LinkLostError``."""
        while not self._messages:
            self.raise_if_down()
            self._message_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._message_waiter
            finally:
                self._message_waiter = None
        return self._messages.popleft()

    def _read(self) -> None:
        client = self.client
        for _ in range(READS_PER_WAKE):
            if client.loop_read() != paho.MQTT_ERR_SUCCESS or self.down is not None:
                return
            if not self.socket.bytes_held():
                return  # paho reads until the socket has no more; TLS or the chunk may hold more
        self.socket.read_soon()

    def _woken(self) -> None:
        for future in (self._message_waiter, *self._waiting.values()):
            if future is not None and not future.done():
                future.set_result(None)

    # paho's callbacks (on the event loop: they come from reading and writing).

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: object,
        mid: int,
        _reason: ReasonCode,
        _properties: object,
    ) -> None:
        if self.down is not None:
            return
        waiting = self._waiting.pop(mid, None)
        if waiting is None:
            self._on_delivered(mid)
        elif not waiting.done():
            waiting.set_result(None)

    def _on_message(
        self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage
    ) -> None:
        self._messages.append(bytes(message.payload))
        if self._message_waiter is not None and not self._message_waiter.done():
            self._message_waiter.set_result(None)


def _ignore(_mid: int) -> None:
    pass
