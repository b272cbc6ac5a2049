"""The CAN port: the one interface every CAN adapter implements."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Protocol, runtime_checkable

from hal.can.frames import FrameBatch


class BusState(StrEnum):
    """The controller's view of the bus (ISO 11898 fault confinement)."""

    UNKNOWN = "unknown"
    ACTIVE = "error-active"
    WARNING = "error-warning"
    PASSIVE = "error-passive"
    BUS_OFF = "bus-off"
    DOWN = "down"  # interface down or adapter gone


@runtime_checkable
class CanPort(AbstractContextManager["CanPort", None], Protocol):
    """One CAN bus. Use as a context manager; ``close()`` is safe to call twice.

    Every operation is fallible: errors are ``hal.errors.HalError`` subclasses.
    """

    @property
    def name(self) -> str:
        """The configured bus name, e.g. ``"vehicle"`` or ``"radar"``."""
        ...

    @property
    def state(self) -> BusState: ...

    @property
    def counters(self) -> Mapping[str, int]:
        """Monotonic counters, e.g. ``rx_frames``, ``tx_frames``, ``rx_errors``."""
        ...

    def open(self) -> None:
        """Open the bus. Raises ``PortOpenError`` saying what is missing."""
        ...

    def close(self) -> None:
        """Release the bus; harmless when already closed."""
        ...

    def receive(self, max_frames: int = 1024, timeout: float = 0.1) -> FrameBatch:
        """Block up to ``timeout`` s for frames; return at most ``max_frames`` (maybe none).

        The batch is the caller's to keep: a port never writes to one it has returned (the
        roadside unit holds a radar's reads until they may complete a list).
        Raises ``PortClosedError`` when the port is not open.
        """
        ...

    def send(
        self,
        arbitration_id: int,
        data: bytes,
        *,
        extended: bool = False,
        fd: bool = False,
        bitrate_switch: bool = False,
    ) -> None:
        """Queue one data frame for sending. Raises ``TransmitError`` or ``PortClosedError``;
        ``ValueError`` for a frame that cannot exist (``hal.can.frames.check_frame``)."""
        ...

    def send_remote(self, arbitration_id: int, length: int, *, extended: bool = False) -> None:
        """Queue one classic remote request for ``length`` (0-8) bytes. Raises as ``send``."""
        ...


@runtime_checkable
class PollableCanPort(CanPort, Protocol):
    """A CAN port an event loop can wait on, so that no thread has to block in ``receive``:
    ``receive`` with ``timeout`` 0 never blocks."""

    def fileno(self) -> int | None:
        """The descriptor that becomes readable when frames (or an error) arrive; ``None``
        while there is none (closed, or the interface gone and not reopened yet), and after a
        reopen a new one, never the old number for the new socket without a ``None`` read in
        between."""
        ...
