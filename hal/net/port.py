"""The datagram port: the one interface every datagram adapter implements."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

Datagram = tuple[bytes, float]
"""A datagram's payload and its receive time (Unix seconds, the kernel's stamp where it
gives one)."""


@runtime_checkable
class DatagramPort(AbstractContextManager["DatagramPort", None], Protocol):
    """A bound datagram socket, read in batches. ``close()`` is safe to call twice."""

    @property
    def name(self) -> str:
        """The configured port name, e.g. ``"signal-controller"``."""
        ...

    @property
    def counters(self) -> Mapping[str, int]:
        """Monotonic counters: ``rx_datagrams``, ``rx_bytes``, ``rx_errors``..."""
        ...

    def open(self) -> None:
        """Bind. Raises ``PortOpenError`` saying why (address in use, not ours, no right)."""
        ...

    def close(self) -> None: ...

    def receive(self, timeout: float = 0.1, max_datagrams: int = 64) -> list[Datagram]:
        """Block up to ``timeout`` s; return the datagrams queued, at most ``max_datagrams``
        (maybe none). Raises ``PortClosedError`` when the port is not open."""
        ...


@runtime_checkable
class DatagramLink(DatagramPort, Protocol):
    """A datagram port that also sends, to the one peer it is configured for (a C-V2X
    radio's host interface: messages to broadcast go to it, those it received come back)."""

    def send(self, data: bytes) -> None:
        """Queue ``data`` as one datagram to the peer; never blocks. Raises
        ``TransmitError`` when the kernel refuses it (buffer full, no route, too long) and
        ``PortClosedError`` when the port is not open."""
        ...
