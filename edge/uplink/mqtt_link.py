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
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import UplinkError
from hal.net.paho_loop import ChunkedClient, PahoSession
from protocols.mqtt_connection import MqttConnection

log = logging.getLogger("edge.uplink")

READS_PER_WAKE = 1_000
"""Packets read per readable event at most, so that a flood cannot starve the loop's tasks."""

COALESCE_BYTES = 64 * 1024
"""Bytes of queued packets a ``CoalescingClient`` hands to one ``send`` at most."""

_PUBLISH = PacketTypes.PUBLISH << 4
_DISCONNECT = PacketTypes.DISCONNECT << 4


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


class CoalescingClient(ChunkedClient):
    """paho's client writing the packets queued in a row with one ``send``, not one each.

    paho writes each queued packet with a ``send`` of its own: with a window of hundreds of
    messages in flight that is a system call, and on the loopback or a LAN a TCP segment (the
    socket has ``TCP_NODELAY``), per message, which the broker then reads one by one. Here the
    packets waiting when the socket is writable are joined (up to ``COALESCE_BYTES``) into one
    packet of paho's queue, written as paho writes any packet (a partial write keeps the rest
    for the next writable event), in the same order. Packets that paho acts on once written
    (a QoS 0 PUBLISH is then delivered; a DISCONNECT closes the socket) are never joined:
    they go as before, one by one. (``_packet_write`` and the queue's entries are paho's own,
    private: should a release change them, an entry without the fields used here is left
    alone, and paho writes it as it always did.)
    """

    def _packet_write(self) -> MQTTErrorCode:
        coalesce(self._out_packet)
        return super()._packet_write()


def coalesce(queue: deque[Any], limit: int = COALESCE_BYTES) -> None:
    """Join the packets at the head of paho's write ``queue`` that paho does nothing with once
    written (all but QoS 0 PUBLISH and DISCONNECT), up to ``limit`` bytes, into one."""
    if len(queue) < 2 or not _joinable(queue[0]) or not _joinable(queue[1]):
        return
    parts: list[bytes | bytearray] = []
    size = 0
    first = queue[0]
    while queue and _joinable(queue[0]):
        packet = queue[0]
        part = packet["packet"][packet["pos"] :]
        if parts and size + len(part) > limit:
            break
        queue.popleft()
        parts.append(part)
        size += len(part)
    if len(parts) == 1:  # the first alone reached the limit: leave it as it was
        queue.appendleft(first)
        return
    joined = b"".join(parts)
    queue.appendleft(
        {
            "command": first["command"],
            "mid": first.get("mid", 0),
            "qos": first.get("qos", 1),
            "pos": 0,
            "to_process": len(joined),
            "packet": joined,
            "info": None,
        }
    )


def _joinable(packet: Any) -> bool:
    try:
        command = packet["command"] & 0xF0
        if command == _DISCONNECT or (command == _PUBLISH and packet["qos"] == 0):
            return False
        return bool(packet["to_process"] == len(packet["packet"]) - packet["pos"])
    except (KeyError, TypeError):
        return False


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
        client = CoalescingClient(
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

    def flush(self) -> None:
        """Write what was published now, as far as the socket takes it, rather than when the
        event loop next finds the socket writable (what it does not take waits for that)."""
        if self.down is not None:
            return
        try:
            self.client.loop_write()
        except Exception as err:  # paho raises what the socket raises: the link is broken
            self.broken(f"connection lost: {err!r}")

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
