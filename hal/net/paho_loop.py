"""paho-mqtt's socket driven by the running asyncio loop: the uplink's and the bridge's link.

paho parses the packets and keeps the session (CONNECT options, TLS, keepalive, the QoS flows);
the event loop watches its socket with ``add_reader``/``add_writer``, as aiomqtt does. What
differs from aiomqtt is that no call costs a future of its own: its owner reacts to paho's
callbacks (a message, a PUBACK) directly, so a message costs the loop no future, task or queue
operation. (Measured: aiomqtt's per-message futures cost the bridge about half its messages per
CPU second, the uplink about a third of its rate.)

A leaf module (it imports nothing of ours): the uplink (``edge``) and the bridge
(``cloud_bridge``) both drive their connection with it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

KEEPALIVE_TICK_S = 1.0
"""How often paho's ``loop_misc`` runs: it pings when due and closes a link whose ping went
unanswered (which its owner hears of as a disconnect)."""


RECEIVE_CHUNK_BYTES = 64 * 1024
"""Bytes a ``ChunkedClient`` asks of its socket at once."""


class ChunkedClient(paho.Client):
    """paho's client reading its socket ``RECEIVE_CHUNK_BYTES`` at a time.

    paho asks the socket for a packet's type byte, then each byte of its length, then the rest:
    three or four system calls per packet (a PUBACK, a vehicle state), 15 % of the bridge's CPU
    time. Here one call reads what the socket holds and paho's reads take from it. What paho
    has not taken waits here, where the socket's readable event does not see it:
    :meth:`PahoLoop.bytes_held` asks :attr:`buffered`. (``_sock_recv`` is paho's own, private:
    should a paho release read otherwise, this reads as paho does, one call per read.)
    """

    _chunk = b""
    _taken = 0

    @property
    def buffered(self) -> bool:
        """Received bytes that paho has not read yet wait here."""
        return self._taken < len(self._chunk)

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.buffered:
            self._chunk, self._taken = super()._sock_recv(RECEIVE_CHUNK_BYTES), 0
        start = self._taken
        self._taken = min(start + bufsize, len(self._chunk))
        return self._chunk[start : self._taken]


class PahoLoop:
    """Watches one paho client's socket from the event loop it is created on.

    It takes over the client's socket callbacks. ``on_readable`` is called when the socket
    (or TLS) holds bytes while reading is on: it calls ``client.loop_read()`` as its owner's
    policy wants (how many packets, when to stop reading). An exception from reading or writing
    is a broken link: ``on_broken`` hears why and the socket is dropped. Use once per
    connection; always :meth:`drop` when done.
    """

    def __init__(
        self,
        client: paho.Client,
        *,
        on_readable: Callable[[], None],
        on_broken: Callable[[str], None],
        name: str,
    ) -> None:
        self.client = client
        self._on_readable = on_readable
        self._on_broken = on_broken
        self._name = name
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._fd: int | None = None
        self._sock: SocketLike | None = None
        self._reading = False
        self._dropped = False
        self._keepalive: asyncio.Task[None] | None = None
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write

    @property
    def has_socket(self) -> bool:
        """The socket is open (from paho's connect until it or :meth:`drop` closes it)."""
        return self._sock is not None

    @property
    def reading(self) -> bool:
        """The socket is being read."""
        return self._reading

    async def run_blocking(self, call: Callable[[], object]) -> None:
        """Run one of paho's blocking calls (``connect``: name lookup, TCP and TLS handshakes,
        loading certificates) on the default executor. Raises what it raises."""
        await self._loop.run_in_executor(None, call)

    def on_loop(self, callback: Callable[..., object], *args: object) -> None:
        """Call ``callback`` on the event loop: now when on it, else soon (paho calls some
        callbacks from ``connect``, which runs on an executor thread)."""
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        elif not self._loop.is_closed():  # a client collected after its loop closed
            self._loop.call_soon_threadsafe(callback, *args)

    def start_reading(self) -> None:
        """Read whenever the socket is readable (no-op without a socket)."""
        if self._fd is None or self._reading:
            return
        self._reading = True
        self._loop.add_reader(self._fd, self._read)
        if self.bytes_held():
            self.read_soon()

    def stop_reading(self) -> None:
        """Leave the socket unread until :meth:`start_reading`: the broker's window and TCP
        hold back what comes, so its owner's memory stays bounded."""
        if self._reading and self._fd is not None:
            self._loop.remove_reader(self._fd)
        self._reading = False

    def read_soon(self) -> None:
        """Read again soon, readable or not: after a bounded read that left bytes waiting."""
        self._loop.call_soon(self._read_if_reading)

    def bytes_held(self) -> bool:
        """Received bytes wait where the socket's readable event does not see them: decrypted
        in the TLS object, or in a ``ChunkedClient``'s chunk."""
        if isinstance(self.client, ChunkedClient) and self.client.buffered:
            return True
        pending: Callable[[], int] | None = getattr(self._sock, "pending", None)
        return pending is not None and pending() > 0

    def drop(self) -> None:
        """Stop watching and close the socket (paho's own close does the same when it can).
        Safe to call twice, and before the socket opened (it is then closed when it does)."""
        self._dropped = True
        self.stop_reading()
        if self._fd is not None:
            self._loop.remove_writer(self._fd)
            self._fd = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._keepalive is not None:
            self._keepalive.cancel()

    def _read(self) -> None:
        try:
            self._on_readable()
        except Exception as err:  # paho raises what the socket raises: the link is broken
            self._broken(err)

    def _read_if_reading(self) -> None:
        if self._reading:
            self._read()

    def _write(self) -> None:
        try:
            self.client.loop_write()
        except Exception as err:  # as in _read
            self._broken(err)

    def _broken(self, err: Exception) -> None:
        self._on_broken(f"connection lost: {err!r}")
        self.drop()

    async def _tick(self) -> None:
        while True:
            if self.client.loop_misc() != paho.MQTT_ERR_SUCCESS:
                return
            await asyncio.sleep(KEEPALIVE_TICK_S)

    # paho's socket callbacks.

    def _on_socket_open(self, _client: paho.Client, _userdata: object, sock: Any) -> None:
        self.on_loop(self._opened, sock)

    def _opened(self, sock: SocketLike) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        if self._dropped:  # dropped while connect() was still running on its thread
            self.drop()
            return
        self.start_reading()
        self._keepalive = self._loop.create_task(self._tick(), name=f"{self._name}-keepalive")

    def _on_socket_close(self, _client: paho.Client, _userdata: object, _sock: Any) -> None:
        if not self._dropped:  # dropped: nothing left to unwatch (paho's __del__ calls this)
            self.on_loop(self._closed_by_paho)

    def _closed_by_paho(self) -> None:
        self.stop_reading()
        if self._fd is not None:
            self._loop.remove_writer(self._fd)
        self._fd = None
        self._sock = None  # paho closes it
        if self._keepalive is not None:
            self._keepalive.cancel()

    def _on_socket_register_write(self, _client: paho.Client, _u: object, _sock: Any) -> None:
        self.on_loop(self._watch_writable)

    def _watch_writable(self) -> None:
        if self._fd is not None:
            self._loop.add_writer(self._fd, self._write)

    def _on_socket_unregister_write(self, _client: paho.Client, _u: object, _sock: Any) -> None:
        self.on_loop(self._unwatch_writable)

    def _unwatch_writable(self) -> None:
        if self._fd is not None:
            self._loop.remove_writer(self._fd)


class PahoSession:
    """A paho client's connection on the event loop: connect (CONNACK), subscribe (SUBACK), a
    clean close, and why it went down; the base of the uplink's and the bridge's links.

    A subclass builds the client (its options, credentials, callbacks for messages and
    deliveries) and says what differs: its error type (``_error``), its blocking connect
    (``_connect_blocking``: ``client.connect`` with its options, TLS first), how it reads
    (``_read``, called when the socket is readable) and whom to wake when the link goes down
    (``_woken``). Every wait is bounded by ``timeout_s``. Use once per connection.
    """

    def __init__(self, client: paho.Client, *, timeout_s: float, name: str) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        # Resolved (never with an exception) when the CONNACK comes or the link goes down.
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self._gone: asyncio.Future[None] = self._loop.create_future()
        self._subacks: dict[int, asyncio.Future[list[ReasonCode] | None]] = {}
        self._down: Exception | None = None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        self.socket = PahoLoop(client, on_readable=self._read, on_broken=self.broken, name=name)

    # What a subclass says.

    def _error(self, message: str, reason_code: int | None) -> Exception:
        """The subclass's error for a link that is down (``reason_code``: the broker's)."""
        raise NotImplementedError

    def _connect_blocking(self) -> None:
        raise NotImplementedError

    def _read(self) -> None:
        raise NotImplementedError

    def _woken(self) -> None:
        """Wake the subclass's own waiters: the link just went down."""

    # The session.

    @property
    def down(self) -> Exception | None:
        """Why the link went down (the first reason), or None while it is up or connecting."""
        return self._down

    async def connect(self) -> None:
        """Connect and wait for the broker's CONNACK. Raises the subclass's error."""
        try:
            await self.socket.run_blocking(self._connect_blocking)
        except (OSError, ValueError) as err:
            raise self._error(str(err) or type(err).__name__, None) from err
        await self.until(self._connected, "no CONNACK")

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        """Subscribe and wait for the SUBACK. Raises the subclass's error, also when refused."""
        self.raise_if_down()
        result, mid = self.client.subscribe(topic_filter, qos)
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            why = f"cannot subscribe to {topic_filter}: {paho.error_string(result)}"
            raise self._error(why, None)
        suback: asyncio.Future[list[ReasonCode] | None] = self._loop.create_future()
        self._subacks[mid] = suback
        await self.until(suback, "no SUBACK")
        refused = [code for code in suback.result() or () if code.is_failure]
        if refused:
            why = f"the broker refused the subscription to {topic_filter}: {refused[0]}"
            raise self._error(why, int(refused[0].value))

    async def wait_down(self) -> None:
        """Return never: raises the subclass's error once the link is down."""
        await asyncio.shield(self._gone)
        self.raise_if_down()

    async def close(self) -> None:
        """Disconnect cleanly when up (what is queued to send goes first; the broker drops the
        will), within ``timeout_s``; else just drop the socket. Safe to call twice."""
        try:
            if self.socket.has_socket and self._down is None:
                self.client.disconnect()
                await asyncio.wait_for(asyncio.shield(self._gone), self.timeout_s)
        except TimeoutError:
            pass
        finally:
            self.set_down(self._error("closed", None))
            self.socket.drop()

    def abort(self) -> None:
        """Drop the connection without a DISCONNECT: the broker publishes the will."""
        self.broken("aborted")

    async def until(self, future: asyncio.Future[Any], what: str) -> None:
        """Wait for ``future``; raises the subclass's error when the link went down meanwhile
        or it took longer than ``timeout_s``."""
        try:
            await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            raise self._error(f"{what} within {self.timeout_s:g} s", None) from None
        self.raise_if_down()

    def raise_if_down(self) -> None:
        """Raise why the link went down, if it did."""
        if self._down is not None:
            raise self._down

    def broken(self, why: str) -> None:
        """The link is broken (``why``): down, and its socket dropped."""
        self.set_down(self._error(why, None))
        self.socket.drop()

    def set_down(self, error: Exception) -> None:
        """Record why the link is gone (the first reason counts) and wake whoever waits."""
        if self._down is None:
            self._down = error
        futures: list[asyncio.Future[Any]] = [self._connected, self._gone]
        for future in (*futures, *self._subacks.values()):
            if not future.done():
                future.set_result(None)
        self._woken()

    # paho's callbacks (CONNACK and DISCONNECT may come from connect's executor thread).

    def _on_connect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.ConnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        if reason.is_failure:
            why = f"the broker refused the connection: {reason}"
            self.socket.on_loop(self.set_down, self._error(why, int(reason.value)))
        else:
            self.socket.on_loop(self._connected_now)

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
        error = self._error(f"disconnected: {reason}", int(reason.value))
        self.socket.on_loop(self.set_down, error)

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
