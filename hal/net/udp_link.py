"""The UDP link adapter: a ``DatagramLink``, i.e. a bound ``UdpDatagramPort`` that also sends
to one configured peer (a C-V2X radio's host interface).

The peer is resolved once, at ``open()``, in the bound socket's address family, so a bad
radio address fails at start-up like a bad bind, not on every send. Sends never block (the
socket is non-blocking): when the kernel's send buffer is full the message is dropped and
counted, since a late BSM is worth less than the next one.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from hal.errors import PortOpenError, TransmitError
from hal.net.udp_port import UdpDatagramPort

_log = logging.getLogger("hal.net")


class UdpLink(UdpDatagramPort):
    """Datagrams to ``host``:``port`` are received; ``send`` goes to ``peer_host``:``peer_port``.

    Counters: those of ``UdpDatagramPort``, and ``tx_datagrams``, ``tx_bytes``, ``tx_errors``.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        peer_host: str,
        peer_port: int,
        **options: Any,
    ) -> None:
        """Raises ``ValueError`` as ``UdpDatagramPort`` does, and for an empty peer host or a
        peer port outside 1-65535."""
        super().__init__(name, host, port, **options)
        if not peer_host:
            raise ValueError(f"UDP link {name!r}: peer_host must not be empty")
        if not 1 <= peer_port <= 65535:
            raise ValueError(f"UDP link {name!r}: peer_port must be in 1-65535, got {peer_port}")
        self._peer = (peer_host, peer_port)
        self._peer_address: tuple[Any, ...] | None = None
        self._tx = {"tx_datagrams": 0, "tx_bytes": 0, "tx_errors": 0}

    def __repr__(self) -> str:
        status = "open" if self._is_open else "closed"
        return (
            f"<UdpLink {self._name!r} {self._host}:{self._port} -> "
            f"{self._peer[0]}:{self._peer[1]} {status}>"
        )

    @property
    def counters(self) -> Mapping[str, int]:
        return {**super().counters, **self._tx}

    @property
    def peer(self) -> tuple[str, int]:
        """The configured (host, port) datagrams are sent to."""
        return self._peer

    def open(self) -> None:
        """Bind as ``UdpDatagramPort.open`` does, then resolve the peer. Raises
        ``PortOpenError`` when either fails."""
        if self._is_open:
            return
        super().open()
        sock = self._require_open()
        host, port = self._peer
        try:
            infos = socket.getaddrinfo(host, port, family=sock.family, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as err:
            self.close()
            raise PortOpenError(
                f"UDP link {self._name!r}: cannot resolve the peer {host!r} as an "
                f"{sock.family.name} address (the bind address decides the family): {err}"
            ) from err
        self._peer_address = tuple(infos[0][4])

    def close(self) -> None:
        super().close()
        self._peer_address = None

    def send(self, data: bytes) -> None:
        """Send ``data`` to the peer as one datagram, without blocking.

        Raises ``PortClosedError`` when not open, ``TransmitError`` (counted in
        ``tx_errors``) when the kernel refuses the datagram.
        """
        sock = self._require_open()
        assert self._peer_address is not None  # set by open()
        try:
            sock.sendto(data, self._peer_address)
        except OSError as err:
            self._tx["tx_errors"] += 1
            why = "send buffer full" if isinstance(err, BlockingIOError) else err.strerror or err
            raise TransmitError(
                f"UDP link {self._name!r}: cannot send {len(data)} bytes to "
                f"{self._peer[0]}:{self._peer[1]}: {why}"
            ) from err
        self._tx["tx_datagrams"] += 1
        self._tx["tx_bytes"] += len(data)
