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

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

KEEPALIVE_TICK_S = 1.0
"""How often paho's ``loop_misc`` runs: it pings when due and closes a link whose ping went
unanswered (which its owner hears of as a disconnect)."""


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
        else:
            self._loop.call_soon_threadsafe(callback, *args)

    def start_reading(self) -> None:
        """Read whenever the socket is readable (no-op without a socket)."""
        if self._fd is None or self._reading:
            return
        self._reading = True
        self._loop.add_reader(self._fd, self._read)
        if self.tls_pending():
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

    def tls_pending(self) -> bool:
        """Decrypted bytes wait in the TLS object, which leaves the socket itself unreadable."""
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
