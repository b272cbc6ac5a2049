"""What the bridge service and its tests need of a message store (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from cloud_bridge.store.records import (
    DeadLetter,
    DeviceStatusRecord,
    LossRecord,
    LossTotals,
    StoredMessage,
)
from cloud_bridge.validation import Accepted


@dataclass(frozen=True, slots=True)
class Reject:
    """A message refused by validation, to be kept as a dead letter (see ``dead_letter``)."""

    topic: str
    payload: bytes
    reason: str
    detail: str
    received_time_ns: int


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a batch write did: one bool per accepted message (False: a duplicate key), and
    how many old dead letters the caps dropped."""

    stored: list[bool]
    dead_letters_dropped: int


class BatchWriter(Protocol):
    """How the bridge service writes: one batch, one transaction, awaited."""

    async def write(
        self,
        accepted: Sequence[tuple[Accepted, int]],
        rejects: Sequence[Reject],
        on_server_busy: Callable[[], None] | None = None,
    ) -> BatchOutcome:
        """Dead-letter ``rejects`` and store ``accepted`` (``(message, received_time_ns)``)
        in one transaction; raises ``StoreError`` (then nothing of it is kept).

        ``on_server_busy`` is called when a database server has the batch's long statement
        and the caller may use the wait (never for a store without a server)."""
        ...


class MessageStore(Protocol):
    """A store keyed by (device, boot, sequence): each key is stored once, whatever arrives.

    Every method raises ``StoreError`` when the database cannot be read or written.
    """

    dead_letters_dropped: int

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""

    def close(self) -> None:
        """Close the store; harmless when already closed."""

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: commit on exit, roll back on an exception; nested use joins."""

    def batch_writer(self) -> AbstractAsyncContextManager[BatchWriter]:
        """The writer the bridge service uses on its event loop (``async with``)."""

    def store(self, accepted: Accepted, received_time_ns: int) -> bool:
        """Store one message; False (nothing changed) for a duplicate key."""

    def store_many(self, items: Iterable[tuple[Accepted, int]]) -> list[bool]:
        """Store ``(accepted, received_time_ns)`` pairs at once; one bool each as ``store``."""

    def dead_letter(
        self, topic: str, payload: bytes, reason: str, detail: str, received_time_ns: int
    ) -> int:
        """Record a rejected message; returns how many old dead letters the caps dropped."""

    def dead_letter_usage(self) -> tuple[int, int]:
        """Dead letters kept now: (rows, bytes of payload, topic and detail)."""

    def count_messages(self, stream: str | None = None, device_id: str | None = None) -> int:
        """Number of stored messages, optionally of one stream and/or device."""

    def messages(
        self, device_id: str | None = None, region: str | None = None
    ) -> list[StoredMessage]:
        """Stored messages, optionally of one device and/or region, ordered by device, boot,
        sequence."""

    def dead_letters(self) -> list[DeadLetter]:
        """All dead letters in the order they were recorded."""

    def dead_letter_reasons(self) -> dict[str, int]:
        """Number of dead letters per reason."""

    def device_statuses(self) -> list[DeviceStatusRecord]:
        """The latest status of every device that published one, ordered by device id."""

    def loss_accounting(self, device_id: str | None = None) -> list[LossRecord]:
        """Delivered, duplicate and missing counts per device and boot."""

    def loss_totals(self) -> LossTotals:
        """:meth:`loss_accounting` summed over every device and boot."""
