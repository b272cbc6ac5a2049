"""A batch writer on a store's own blocking calls, for a store whose commit is quick."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from cloud_bridge.store.protocol import BatchOutcome, MessageStore, Reject
from cloud_bridge.validation import Accepted


class BlockingBatchWriter:
    """Writes each batch in one transaction of ``store``'s own calls, on the event loop's
    thread: the loop waits for the commit. Right for SQLite (a local file, no server to wait
    for; a thread would only add hand-offs)."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def write(
        self,
        accepted: Sequence[tuple[Accepted, int]],
        rejects: Sequence[Reject],
        on_server_busy: Callable[[], None] | None = None,
    ) -> BatchOutcome:
        """See :class:`cloud_bridge.store.protocol.BatchWriter`."""
        store = self._store
        with store.transaction():
            dropped = 0
            for reject in rejects:
                dropped += store.dead_letter(
                    reject.topic,
                    reject.payload,
                    reject.reason,
                    reject.detail,
                    reject.received_time_ns,
                )
            stored = store.store_many(accepted) if accepted else []
        return BatchOutcome(stored, dropped)
