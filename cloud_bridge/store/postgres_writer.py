"""The bridge's batches into PostgreSQL on an asyncio connection of their own.

With the store's blocking connection the worker's event loop, which also serves the bridge's
HTTP API and live stream, stood still while the server stored a batch, and the next messages
were read only after the commit. Here the loop goes on meanwhile, reading from the broker up to
the service's bound. On one 2-vCPU host this changed no throughput measurably (the server's
time is taken from the worker's cores: docs/profiles.md); with the database on a host of its
own the two overlap (not measured)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

import psycopg

from cloud_bridge.errors import StoreError
from cloud_bridge.store.partitions import day_of
from cloud_bridge.store.postgres_steps import (
    CREATE_INCOMING,
    Row,
    dead_letter_steps,
    run_steps_async,
    store_steps,
)
from cloud_bridge.store.protocol import BatchOutcome, Reject
from cloud_bridge.validation import Accepted

if TYPE_CHECKING:
    from cloud_bridge.store.postgres_store import PostgresStore


class PostgresBatchWriter:
    """Writes batches into ``store``'s database on a connection of its own to ``dsn``, opened
    by ``async with`` on the loop that uses it (raises ``StoreError`` when it cannot).

    The store's blocking connection still creates partitions and does the daily retention
    (:meth:`PostgresStore.prepare_batch`, committed before the batch: rarely anything to do).
    Not for concurrent use: one batch at a time.
    """

    def __init__(self, store: PostgresStore, dsn: str) -> None:
        self._store = store
        self._dsn = dsn
        self._db: psycopg.AsyncConnection[Row] | None = None

    async def __aenter__(self) -> Self:
        where = self._store.where
        try:
            self._db = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=10
            )
            await self._db.execute(CREATE_INCOMING)
        except psycopg.Error as err:
            await self._close()
            raise StoreError(f"cannot open store {where}: {err}") from err
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def write(
        self,
        accepted: Sequence[tuple[Accepted, int]],
        rejects: Sequence[Reject],
        on_server_busy: Callable[[], None] | None = None,
    ) -> BatchOutcome:
        """See :class:`cloud_bridge.store.protocol.BatchWriter`."""
        store = self._store
        if self._db is None:
            raise StoreError(f"the batch writer of {store.where} is not open")
        db = self._db
        store.prepare_batch({day_of(received) for _, received in accepted})
        caps = store.dead_letter_caps
        try:
            async with db.transaction():
                dropped = 0
                for r in rejects:
                    steps = dead_letter_steps(
                        r.topic, r.payload, r.reason, r.detail, r.received_time_ns, caps
                    )
                    dropped += await run_steps_async(db, steps)
                stored = (
                    await run_steps_async(
                        db,
                        store_steps(accepted, store.channel, clear_incoming=False),
                        on_server_busy,
                    )
                    if accepted
                    else []
                )
        except psycopg.Error as err:
            raise StoreError(f"cannot store messages in {store.where}: {err}") from err
        store.dead_letters_dropped += dropped
        return BatchOutcome(stored, dropped)
