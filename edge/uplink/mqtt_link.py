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
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import UplinkError
from hal.net.paho_loop import PahoLoop
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


class MqttLink:
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
        self._timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._on_delivered = on_delivered or _ignore
        self._waiting: dict[int, asyncio.Future[None]] = {}  # mid -> publish awaited
        self._subacks: dict[int, asyncio.Future[list[ReasonCode] | None]] = {}
        self._messages: deque[bytes] = deque()
        self._message_waiter: asyncio.Future[None] | None = None
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self._gone: asyncio.Future[None] = self._loop.create_future()
        self._down: LinkLostError | None = None
        client = paho.Client(
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
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        self._socket = PahoLoop(
            client, on_readable=self._read, on_broken=self._broken, name="uplink"
        )

    @property
    def down(self) -> LinkLostError | None:
        """Why the link went down, or None while it is up (or not yet connected)."""
        return self._down

    async def connect(self) -> None:
        """Connect and wait for the broker's CONNACK. Raises ``LinkLostError``."""
        try:
            await self._socket.run_blocking(self._connect_blocking)
        except (OSError, ValueError) as err:
            raise LinkLostError(str(err) or type(err).__name__) from err
        await self._until(self._connected, "no CONNACK")

    def _connect_blocking(self) -> None:
        mqtt = self._mqtt
        if mqtt.tls is not None:
            self._client.tls_set(
                ca_certs=mqtt.tls.ca_certs, certfile=mqtt.tls.certfile, keyfile=mqtt.tls.keyfile
            )
        self._client.connect(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s)
        # Nagle's algorithm holds small QoS 0 messages back by tens of milliseconds.
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        """Subscribe and wait for the SUBACK. Raises ``LinkLostError``, also when refused."""
        self._raise_if_down()
        result, mid = self._client.subscribe(topic_filter, qos)
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            raise LinkLostError(f"cannot subscribe to {topic_filter}: {paho.error_string(result)}")
        suback: asyncio.Future[list[ReasonCode] | None] = self._loop.create_future()
        self._subacks[mid] = suback
        await self._until(suback, "no SUBACK")
        refused = [code for code in suback.result() or () if code.is_failure]
        if refused:
            raise LinkLostError(
                f"the broker refused the subscription to {topic_filter}: {refused[0]}"
            )

    def publish(
        self, topic: str, payload: bytes, qos: int, *, retain: bool, properties: Properties | None
    ) -> int:
        """Hand a message to paho; returns its message id, told to ``on_delivered`` once
        delivered. Raises ``LinkLostError`` when the link is down."""
        self._raise_if_down()
        info = self._client.publish(topic, payload, qos, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            self._broken(f"cannot publish: {paho.error_string(info.rc)}")
            self._raise_if_down()
        return info.mid

    async def publish_and_wait(
        self, topic: str, payload: bytes, qos: int, *, retain: bool, properties: Properties | None
    ) -> None:
        """Publish and wait until delivered, within the link's timeout.

        Raises ``LinkLostError``."""
        mid = self.publish(topic, payload, qos, retain=retain, properties=properties)
        delivered: asyncio.Future[None] = self._loop.create_future()
        self._waiting[mid] = delivered
        await self._until(delivered, "no acknowledgement")

    async def next_message(self) -> bytes:
        """The payload of the next message received on a subscription. Raises ``LinkLostError``."""
        while not self._messages:
            self._raise_if_down()
            self._message_waiter = self._loop.create_future()
            try:
                await self._message_waiter
            finally:
                self._message_waiter = None
        return self._messages.popleft()

    async def wait_down(self) -> None:
        """Return never: raises ``LinkLostError`` once the link is down."""
        await asyncio.shield(self._gone)
        self._raise_if_down()
        raise LinkLostError("gone")  # not reached: _gone is set only when the link is down

    async def close(self) -> None:
        """Disconnect cleanly when up (the broker then drops the will), within the link's
        timeout; else just drop the socket. Safe to call twice."""
        try:
            if self._socket.has_socket and self._down is None:
                self._client.disconnect()
                await asyncio.wait_for(asyncio.shield(self._gone), self._timeout_s)
        except TimeoutError:
            pass
        finally:
            self._set_down(LinkLostError("closed"))
            self._socket.drop()

    def abort(self) -> None:
        """Drop the connection without a DISCONNECT: the broker publishes the will."""
        self._broken("aborted")

    async def _until(self, future: asyncio.Future[Any], what: str) -> None:
        """Wait for ``future``; raises ``LinkLostError`` when the link went down meanwhile or
        it took longer than the link's timeout."""
        try:
            await asyncio.wait_for(asyncio.shield(future), self._timeout_s)
        except TimeoutError:
            raise LinkLostError(f"{what} within {self._timeout_s:g} s") from None
        self._raise_if_down()

    def _raise_if_down(self) -> None:
        if self._down is not None:
            raise self._down

    def _read(self) -> None:
        client = self._client
        for _ in range(READS_PER_WAKE):
            if client.loop_read() != paho.MQTT_ERR_SUCCESS or self._down is not None:
                return
            if not self._socket.tls_pending():
                return  # paho reads until the socket has no more; TLS may hold more
        self._socket.read_soon()

    def _broken(self, why: str) -> None:
        self._set_down(LinkLostError(why))
        self._socket.drop()

    def _set_down(self, lost: LinkLostError) -> None:
        """Record why the link is gone (the first reason) and wake whoever waits on it."""
        if self._down is None:
            self._down = lost
        waiting: list[asyncio.Future[Any] | None] = [self._message_waiter, self._connected]
        waiting += [self._gone, *self._waiting.values(), *self._subacks.values()]
        for future in waiting:
            if future is not None and not future.done():
                future.set_result(None)

    # paho's callbacks (on the event loop, except CONNACK-less failures inside connect).

    def _on_connect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.ConnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        if reason.is_failure:
            refused = LinkLostError(
                f"the broker refused the connection: {reason}", int(reason.value)
            )
            self._socket.on_loop(self._set_down, refused)
        else:
            self._socket.on_loop(self._connected_now)

    def _connected_now(self) -> None:
        if not self._connected.done():
            self._connected.set_result(None)

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        self._socket.on_loop(
            self._set_down, LinkLostError(f"disconnected: {reason}", int(reason.value))
        )

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: object,
        mid: int,
        _reason: ReasonCode,
        _properties: object,
    ) -> None:
        if self._down is not None:
            return
        waiting = self._waiting.pop(mid, None)
        if waiting is None:
            self._on_delivered(mid)
        elif not waiting.done():
            waiting.set_result(None)

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

    def _on_message(
        self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage
    ) -> None:
        self._messages.append(bytes(message.payload))
        if self._message_waiter is not None and not self._message_waiter.done():
            self._message_waiter.set_result(None)


def _ignore(_mid: int) -> None:
    pass
