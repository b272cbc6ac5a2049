"""The UDP adapter: a ``DatagramPort`` bound to a local address and port.

Only the ``socket`` module is used. Each datagram carries the kernel's receive time
(``SO_TIMESTAMPNS``), so a batch read late still says when each datagram arrived, and the
kernel's count of datagrams dropped for a full receive buffer (``SO_RXQ_OVFL``) is reported:
a datagram lost on the board is counted, not guessed.

``SO_REUSEADDR`` is deliberately not set: with it Linux lets a second UDP socket bind the same
port and splits the datagrams between them, so a stale second daemon would silently steal
half of a controller's messages. Without it the second bind fails with ``PortOpenError``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Mapping

from hal.errors import PortClosedError, PortOpenError
from hal.net.port import Datagram
from hal.port_base import AdapterBase
from hal.port_tracking import OpenPorts

_log = logging.getLogger("hal.net")

# Socket options Python's socket module does not export; values of <asm-generic/socket.h>
# (x86, x86-64, ARM), as in hal.can.socketcan_raw.
SO_TIMESTAMPNS = 35  # also the control message type (SCM_TIMESTAMPNS)
SO_RXQ_OVFL = 40
_TIMESPEC = struct.Struct("@ll")  # struct timespec, native
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(4)
MAX_DATAGRAM = 65535
"""Bytes read per datagram by default: anything UDP can carry."""

_open_ports: OpenPorts[UdpDatagramPort] = OpenPorts("UDP port", _log)


def open_ports() -> list[UdpDatagramPort]:
    """The ports of this adapter that are open right now (for leak checks and diagnostics)."""
    return _open_ports.ports()


def leaked_ports() -> int:
    """How many ports were garbage-collected while still open (each was closed then)."""
    return _open_ports.leaked


class UdpDatagramPort(AdapterBase):
    """Datagrams sent to ``host``:``port``. Created closed: ``open()`` or ``with``.

    Counters: ``rx_datagrams``, ``rx_bytes``, ``rx_errors`` (datagrams that could not be read
    whole, and failed reads), ``rx_truncated`` (longer than ``max_datagram``: dropped),
    ``rx_kernel_drops`` (dropped by the kernel for a full receive buffer).
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        max_datagram: int = MAX_DATAGRAM,
        receive_buffer_bytes: int = 256 * 1024,
    ) -> None:
        """``host``: a local address (``"0.0.0.0"`` or ``"::"`` for every interface) or a name
        that resolves to one; ``port`` 0 binds a free port (see ``local_address``).

        Raises ``ValueError`` for an empty name or host, a port outside 0-65535, or a
        non-positive ``max_datagram`` or ``receive_buffer_bytes``.
        """
        if not name or not host:
            raise ValueError("UDP port name and host must not be empty")
        if not 0 <= port <= 65535:
            raise ValueError(f"UDP port {name!r}: port must be in 0-65535, got {port}")
        if max_datagram < 1 or receive_buffer_bytes < 1:
            raise ValueError(
                f"UDP port {name!r}: max_datagram and receive_buffer_bytes must be positive"
            )
        self._name = name
        self._host = host
        self._port = port
        self._max_datagram = max_datagram
        self._receive_buffer_bytes = receive_buffer_bytes
        self._is_open = False
        self._sock: socket.socket | None = None
        self._poll = select.poll()
        self._counts: Counter[str] = Counter(
            {key: 0 for key in ("rx_datagrams", "rx_bytes", "rx_errors", "rx_truncated")}
        )
        self._kernel_drops = 0

    def __repr__(self) -> str:
        status = "open" if self._is_open else "closed"
        return f"<UdpDatagramPort {self._name!r} {self._host}:{self._port} {status}>"

    @property
    def counters(self) -> Mapping[str, int]:
        return {**self._counts, "rx_kernel_drops": self._kernel_drops}

    @property
    def local_address(self) -> tuple[str, int]:
        """The (host, port) the socket is bound to. Raises ``PortClosedError`` when closed."""
        sock = self._require_open()
        host, port = sock.getsockname()[:2]
        return str(host), int(port)

    def open(self) -> None:
        """Bind the socket; harmless when already open.

        Raises ``PortOpenError`` when the host does not resolve to a local address, the port
        is taken, or binding it needs a privilege this process lacks.
        """
        if self._is_open:
            return
        where = f"UDP port {self._name!r} ({self._host}:{self._port})"
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self._host, self._port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
            )[0]
        except (socket.gaierror, UnicodeError) as err:
            raise PortOpenError(f"{where}: cannot resolve {self._host!r}: {err}") from err
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as err:
            raise PortOpenError(f"{where}: cannot create a socket: {err}") from err
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer_bytes)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            sock.bind(address)
            sock.setblocking(False)
        except OSError as err:
            sock.close()
            raise PortOpenError(
                f"{where}: cannot bind: {err.strerror or err}. {_hint(err, self._port)}"
            ) from err
        self._sock = sock
        self._poll.register(sock.fileno(), select.POLLIN)
        self._is_open = True
        _open_ports.track(self, self._name, sock.close)

    def close(self) -> None:
        """Close the socket; harmless when already closed. Never raises."""
        if not self._is_open:
            return
        self._is_open = False
        _open_ports.untrack(self)
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._poll.unregister(sock.fileno())
            sock.close()

    def receive(self, timeout: float = 0.1, max_datagrams: int = 64) -> list[Datagram]:
        """Wait up to ``timeout`` s for a datagram, then read every queued one, up to
        ``max_datagrams``, each with its kernel receive time.

        Truncated datagrams are dropped and failed reads counted, never raised. Raises
        ``PortClosedError`` when the port is not open, or when another thread closes it during
        the call (at the end of the wait: closing does not cut it short), ``ValueError`` if
        ``timeout`` < 0 or ``max_datagrams`` < 1.
        """
        sock = self._require_open()
        if timeout < 0:
            raise ValueError(f"timeout must not be negative, got {timeout}")
        if max_datagrams < 1:
            raise ValueError(f"max_datagrams must be at least 1, got {max_datagrams}")
        ready = self._poll.poll(int(timeout * 1000 + 0.999))
        if not self._is_open:  # closed by another thread while waiting (it does not wake poll)
            raise PortClosedError(f"UDP port {self._name!r} was closed")
        if not ready:
            return []
        received: list[Datagram] = []
        while len(received) < max_datagrams:
            try:
                data, ancillary, flags, _ = sock.recvmsg(
                    self._max_datagram, _ANCILLARY_BYTES, socket.MSG_DONTWAIT
                )
            except BlockingIOError:
                break
            except OSError as err:
                if not self._is_open:
                    raise PortClosedError(f"UDP port {self._name!r} was closed") from err
                # An ICMP error queued on the socket, or a read the kernel refused: the
                # next read goes on with the next datagram.
                self._counts["rx_errors"] += 1
                _log.debug("UDP port %r: receive failed: %s", self._name, err)
                break
            stamp = self._take_ancillary(ancillary)
            if flags & socket.MSG_TRUNC:
                self._counts["rx_truncated"] += 1
                self._counts["rx_errors"] += 1
                continue
            self._counts["rx_datagrams"] += 1
            self._counts["rx_bytes"] += len(data)
            received.append((data, stamp))
        return received

    def _take_ancillary(self, ancillary: list[tuple[int, int, bytes]]) -> float:
        """The kernel's receive time (now when it gave none); notes the drop counter."""
        stamp = 0.0
        for level, kind, data in ancillary:
            if level != socket.SOL_SOCKET:
                continue
            if kind == SO_TIMESTAMPNS and len(data) == _TIMESPEC.size:
                seconds, nanoseconds = _TIMESPEC.unpack(data)
                stamp = seconds + nanoseconds * 1e-9
            elif kind == SO_RXQ_OVFL and len(data) >= 4:
                # The socket's drops so far (cumulative, unsigned 32-bit), sent only once
                # there were some.
                self._kernel_drops = int.from_bytes(data[:4], sys.byteorder)
        return stamp or time.time()

    def _require_open(self) -> socket.socket:
        sock = self._sock
        if not self._is_open or sock is None:
            raise PortClosedError(f"UDP port {self._name!r} is not open")
        return sock


def _hint(err: OSError, port: int) -> str:
    if err.errno == errno.EADDRINUSE:
        return (
            f"Another process is bound to UDP port {port}: 'ss -ulpn sport = :{port}' shows "
            "which (a second roadgate daemon, or V2X Hub's SPaT plugin?)."
        )
    if err.errno == errno.EADDRNOTAVAIL:
        return "The address is not one of this machine's: bind 0.0.0.0 or an address of ours."
    if err.errno == errno.EACCES:
        return f"Ports below 1024 need CAP_NET_BIND_SERVICE; use a higher port than {port}."
    return "Check the address and port."
