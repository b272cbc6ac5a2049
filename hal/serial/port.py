"""The serial line port: the one interface every serial adapter implements."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable


@runtime_checkable
class SerialLinePort(AbstractContextManager["SerialLinePort", None], Protocol):
    """A serial device read as ASCII lines (NMEA 0183). ``close()`` is safe to call twice."""

    @property
    def name(self) -> str: ...

    @property
    def connected(self) -> bool:
        """True while the device is present and open."""
        ...

    @property
    def counters(self) -> Mapping[str, int]:
        """Monotonic counters: ``lines``, ``bytes``, ``garbage_bytes``, ``overlong_lines``,
        ``reopens``..."""
        ...

    def open(self) -> None:
        """Open the device. Raises ``PortOpenError`` saying what is missing."""
        ...

    def close(self) -> None: ...

    def read_lines(self, timeout: float = 0.1) -> list[bytes]:
        """Block up to ``timeout`` s; return the complete lines read (without CR/LF), maybe none.

        Never raises for bad bytes: garbage is dropped and counted. When the device disappears
        the port reports ``connected == False`` and tries to reopen on later calls.
        """
        ...
