"""A message store on PostgreSQL (psycopg 3): the same methods as the SQLite store, for fleets.

Any number of bridge workers may share one database. Each batch is copied into a temporary
table (binary ``COPY``) and written by one prepared statement: the dedupe key (device, boot,
sequence) is a primary key of ``message_keys``, so the database itself keeps one copy of each
message however often, and by whichever worker, it arrives. The same statement counts what
arrived per device and boot (``boot_sequences``, read by :meth:`PostgresStore.loss_accounting`),
registers devices, keeps each vehicle's latest state and queues a NOTIFY per device, boot and
stream, which PostgreSQL sends at the commit (:mod:`cloud_bridge.store.change_stream`); statuses
follow one by one. The schema comes from versioned migrations
(:mod:`cloud_bridge.store.schema_migrations`) that ``roadgate bridge migrate`` applies: the store
refuses a database that is not migrated rather than changing it behind an operator's back.

Text from devices that PostgreSQL cannot hold (a NUL character in a boot id, a software version,
a dead letter's topic or detail) is kept with U+FFFD in its place, and a boot id over
``MAX_BOOT_ID_BYTES`` as its SHA-256; the raw payload keeps the original bytes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import psycopg
from google.protobuf import json_format
from psycopg.conninfo import conninfo_to_dict

from cloud_bridge.errors import StoreError
from cloud_bridge.store.change_stream import CHANGE_CHANNEL
from cloud_bridge.store.partitions import KEY_DELETE_CHUNK, DayPartitions, day_of
from cloud_bridge.store.postgres_steps import (
    CREATE_INCOMING,
    DeadLetterCaps,
    Row,
    dead_letter_steps,
    run_steps,
    store_steps,
)
from cloud_bridge.store.postgres_writer import PostgresBatchWriter
from cloud_bridge.store.records import (
    BootSequences,
    DeadLetter,
    DeviceStatusRecord,
    LossRecord,
    LossTotals,
    StoredMessage,
    loss_records,
)
from cloud_bridge.store.schema_migrations import applied_versions, latest_version
from cloud_bridge.validation import Accepted
from protocols.schema.v1 import roadgate_pb2 as pb

DAYS_AHEAD = 1
"""Day partitions created ahead of today's, so that midnight never waits for DDL."""


class PostgresStore(contextlib.AbstractContextManager["PostgresStore", None]):
    """Messages, dead letters, device status and loss accounting in a PostgreSQL database.

    Takes a libpq URL or DSN (its ``options=-csearch_path=...`` picks a schema); the database
    must be migrated (``roadgate bridge migrate``). Dead letters are capped as in the SQLite
    store, over all workers that share the database. ``retention_days`` drops day partitions
    of the history older than that (None keeps them); ``channel`` is where commits are
    notified; ``clock`` gives the time retention and partitions ahead go by.

    A context manager; ``close()`` is idempotent. Writes outside :meth:`transaction` commit one
    by one. Not thread-safe. Raises ``StoreError`` (``ValueError`` for a cap below 1).
    """

    def __init__(
        self,
        dsn: str,
        *,
        max_dead_letters: int = 10_000,
        max_dead_letter_bytes: int = 16 * 1024 * 1024,
        retention_days: int | None = None,
        channel: str = CHANGE_CHANNEL,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if max_dead_letters < 1 or max_dead_letter_bytes < 1:
            raise ValueError(
                f"dead-letter caps {max_dead_letters} rows, {max_dead_letter_bytes} bytes are "
                "not valid: use >= 1 each"
            )
        if retention_days is not None and retention_days < 1:
            raise ValueError(f"retention_days {retention_days} is not valid: use >= 1")
        self.where = describe_dsn(dsn)
        self._dsn = dsn
        self.max_dead_letters = max_dead_letters
        self.max_dead_letter_bytes = max_dead_letter_bytes
        self.retention_days = retention_days
        self.channel = channel
        self.dead_letters_dropped = 0
        self._clock = clock
        self._in_transaction = False
        self._incoming_used = False
        self._maintained_day: int | None = None
        self._old_keys_left = False
        self._db: psycopg.Connection[Row] | None = None
        try:
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as err:
            raise StoreError(f"cannot open store {self.where}: {err}") from err
        try:
            _check_migrated(self._db, self.where)
            self._db.execute(CREATE_INCOMING)
            self._partitions = DayPartitions(self._db)
            with self.transaction():
                self._maintain()
        except psycopg.Error as err:
            self.close()
            raise StoreError(f"cannot open store {self.where}: {err}") from err
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._db is None

    def close(self) -> None:
        """Close the connection; harmless when already closed."""
        if self._db is not None:
            db, self._db = self._db, None
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one transaction: commit on exit, roll back on an exception.

        Nested use joins the outer transaction. Raises ``StoreError`` if the commit fails.
        """
        db = self._conn()
        if self._in_transaction:
            yield
            return
        self._in_transaction = True
        try:
            with db.transaction():
                yield
        except psycopg.Error as err:
            self._after_rollback()
            raise StoreError(f"cannot commit to {self.where}: {err}") from err
        except BaseException:
            self._after_rollback()
            raise
        finally:
            self._in_transaction = False
            self._incoming_used = False  # ON COMMIT DELETE ROWS, or rolled back

    def store(self, accepted: Accepted, received_time_ns: int) -> bool:
        """Store one accepted message as :meth:`store_many` does.

        Returns False (and changes nothing) for a duplicate of (device, boot, sequence).
        """
        (stored,) = self.store_many([(accepted, received_time_ns)])
        return stored

    def store_many(self, items: Iterable[tuple[Accepted, int]]) -> list[bool]:
        """Store ``(accepted, received_time_ns)`` pairs in one transaction.

        Returns one bool per item: True if stored, False for a duplicate (of an earlier item
        too). Status messages update ``device_status`` in the order the SQLite store documents;
        vehicle states update ``latest_state`` the same way. Raises ``StoreError``.
        """
        batch = list(items)
        if not batch:
            return []
        db = self._conn()
        with self.transaction():
            try:
                self._maintain()
                self._partitions.ensure({day_of(received) for _, received in batch})
                steps = store_steps(batch, self.channel, clear_incoming=self._incoming_used)
                self._incoming_used = True
                stored = run_steps(db, steps)
            except psycopg.Error as err:
                raise StoreError(f"cannot store messages in {self.where}: {err}") from err
        return stored

    def dead_letter(
        self, topic: str, payload: bytes, reason: str, detail: str, received_time_ns: int
    ) -> int:
        """Record a rejected message with its reason; drop the oldest past the caps.

        Returns how many older dead letters were dropped to stay within the caps (also added
        to ``dead_letters_dropped``). Raises ``StoreError``.
        """
        steps = dead_letter_steps(
            topic, payload, reason, detail, received_time_ns, self.dead_letter_caps
        )
        db = self._conn()
        with self.transaction():
            try:
                dropped = run_steps(db, steps)
            except psycopg.Error as err:
                raise StoreError(f"cannot store a dead letter in {self.where}: {err}") from err
        self.dead_letters_dropped += dropped
        return dropped

    @property
    def dead_letter_caps(self) -> DeadLetterCaps:
        """The dead-letter caps, as the writes take them."""
        return DeadLetterCaps(self.max_dead_letters, self.max_dead_letter_bytes)

    def batch_writer(self) -> PostgresBatchWriter:
        """The bridge's writer: each batch on an asyncio connection of its own (see
        :class:`PostgresBatchWriter`). Open it with ``async with`` on the loop that uses it."""
        return PostgresBatchWriter(self, self._dsn)

    def prepare_batch(self, days: set[int]) -> None:
        """Before a batch written on another connection: the day's maintenance and the history
        partitions of ``days``, committed here first (nothing to do on most calls). Raises
        ``StoreError``."""
        if (
            self._maintained_day == day_of(self._clock())
            and not self._old_keys_left
            and days <= self._partitions.days
        ):
            return
        with self.transaction():
            try:
                self._maintain()
                self._partitions.ensure(days)
            except psycopg.Error as err:
                raise StoreError(f"cannot prepare partitions in {self.where}: {err}") from err

    def dead_letter_usage(self) -> tuple[int, int]:
        """Dead letters kept now: (rows, bytes of payload, topic and detail)."""
        ((rows, used),) = self._query("SELECT row_count, byte_count FROM dead_letter_totals", ())
        return int(rows), int(used)

    def count_messages(self, stream: str | None = None, device_id: str | None = None) -> int:
        """Number of stored messages, optionally of one stream and/or device."""
        where, args = _filters(stream=stream, device_id=device_id)
        return int(self._query(f"SELECT count(*) FROM messages{where}", args)[0][0])

    def messages(
        self, device_id: str | None = None, region: str | None = None
    ) -> list[StoredMessage]:
        """Stored messages, optionally of one device and/or region, ordered by device, boot,
        sequence."""
        where, args = _filters(device_id=device_id, region=region)
        rows = self._query(
            "SELECT device_id, boot_id, sequence, stream, region, topic, capture_time_ns, "
            "publish_time_ns, received_time_ns, historical, payload, clock_suspect "
            f'FROM messages{where} ORDER BY device_id COLLATE "C", boot_id COLLATE "C", sequence',
            args,
        )
        return [_message_from_row(row) for row in rows]

    def dead_letters(self) -> list[DeadLetter]:
        """All dead letters in the order they were recorded."""
        rows = self._query(
            "SELECT id, received_time_ns, topic, reason, detail, payload FROM dead_letters "
            "ORDER BY id",
            (),
        )
        return [
            DeadLetter(int(i), int(t), str(topic), str(reason), str(detail), bytes(payload))
            for i, t, topic, reason, detail, payload in rows
        ]

    def dead_letter_reasons(self) -> dict[str, int]:
        """Number of dead letters per reason."""
        rows = self._query("SELECT reason, count(*) FROM dead_letters GROUP BY reason", ())
        return {str(reason): int(count) for reason, count in rows}

    def device_statuses(self) -> list[DeviceStatusRecord]:
        """The latest status of every device that published one, ordered by device id."""
        rows = self._query(
            "SELECT device_id, region, liveness, role, software_version, updated_time_ns, "
            'boot_id, sequence FROM device_status ORDER BY device_id COLLATE "C"',
            (),
        )
        return [DeviceStatusRecord(*row) for row in rows]

    def loss_accounting(self, device_id: str | None = None) -> list[LossRecord]:
        """Delivered, duplicate and missing counts per device and boot (see ``LossRecord``).

        The ``loss_accounting`` view gives the same figures to SQL clients.
        """
        where, args = _filters(device_id=device_id)
        rows = self._query(
            "SELECT device_id, boot_id, first_sequence, last_sequence, delivered, duplicates "
            f"FROM boot_sequences{where}",
            args,
        )
        return loss_records(BootSequences(*row) for row in rows)

    def loss_totals(self) -> LossTotals:
        """:meth:`loss_accounting` summed over every device and boot, by the database."""
        ((delivered, duplicates, missing),) = self._query(
            "SELECT COALESCE(sum(delivered), 0), COALESCE(sum(duplicates), 0), "
            "COALESCE(sum(missing + missing_before), 0) FROM loss_accounting",
            (),
        )
        return LossTotals(int(delivered), int(duplicates), int(missing))

    def partition_days(self) -> frozenset[int]:
        """The UTC days (since the epoch) that have a history partition."""
        return self._partitions.days

    def apply_retention(self) -> list[str]:
        """Drop the history partitions older than ``retention_days`` now; returns their names.

        The store does the same on opening and at each new day, deleting the dropped days'
        keys a chunk per batch (see :meth:`DayPartitions.delete_keys_before`); this call
        deletes them all at once.
        """
        if self.retention_days is None:
            return []
        first_kept = day_of(self._clock()) - self.retention_days
        dropped: list[str] = []
        while True:
            with self.transaction():
                try:
                    dropped += self._partitions.drop_before(first_kept)
                    deleted = self._partitions.delete_keys_before(first_kept)
                except psycopg.Error as err:
                    raise StoreError(f"cannot apply retention in {self.where}: {err}") from err
            if deleted < KEY_DELETE_CHUNK:
                self._old_keys_left = False
                return dropped

    def _maintain(self) -> None:
        """Once a day: create the partitions ahead and drop those past retention; then, a
        chunk per batch until none are left, delete the keys of the days dropped."""
        today = day_of(self._clock())
        if self._maintained_day != today:
            self._partitions.ensure({today + ahead for ahead in range(DAYS_AHEAD + 1)})
            if self.retention_days is not None:
                self._partitions.drop_before(today - self.retention_days)
                self._old_keys_left = True
            self._maintained_day = today
        if self._old_keys_left and self.retention_days is not None:
            first_kept = today - self.retention_days
            deleted = self._partitions.delete_keys_before(first_kept)
            self._old_keys_left = deleted == KEY_DELETE_CHUNK

    def _after_rollback(self) -> None:
        # DDL is transactional: partitions created in the transaction are gone again.
        self._maintained_day = None
        if self._db is not None and not self._db.closed:
            with contextlib.suppress(psycopg.Error):
                self._partitions.reload()

    def _conn(self) -> psycopg.Connection[Row]:
        if self._db is None:
            raise StoreError(f"store {self.where} is closed")
        return self._db

    def _query(self, sql: str, args: Sequence[object]) -> list[Row]:
        db = self._conn()
        try:
            return db.execute(sql.encode(), args).fetchall()
        except psycopg.Error as err:
            raise StoreError(f"cannot query {self.where}: {err}") from err


def describe_dsn(dsn: str) -> str:
    """``dsn`` for messages: host, port and database, never a password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "PostgreSQL (an invalid connection string)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or 5432
    return f"PostgreSQL {host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


def _check_migrated(db: psycopg.Connection[Row], where: str) -> None:
    try:
        applied = applied_versions(db)
    except psycopg.Error as err:
        raise StoreError(f"cannot read the schema version of {where}: {err}") from err
    needed = latest_version()
    if max(applied, default=0) < needed:
        raise StoreError(
            f"{where} is at schema version {max(applied, default=0)}, this bridge needs "
            f"{needed}: run `roadgate bridge migrate --config FILE` first"
        )


def _filters(**columns: str | None) -> tuple[str, tuple[object, ...]]:
    """A WHERE clause for the given non-None column values (names are ours, never input)."""
    used = {name: value for name, value in columns.items() if value is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{name} = %s" for name in used), tuple(used.values())


def _message_from_row(row: Row) -> StoredMessage:
    (device_id, boot_id, sequence, stream, region, topic, capture, publish, received) = row[:9]
    historical, payload, clock_suspect = row[9:]
    envelope = pb.Envelope.FromString(bytes(payload))
    return StoredMessage(
        device_id=device_id,
        boot_id=boot_id,
        sequence=int(sequence),
        stream=stream,
        region=region,
        topic=topic,
        capture_time_ns=int(capture),
        publish_time_ns=int(publish),
        received_time_ns=int(received),
        historical=bool(historical),
        payload=bytes(payload),
        body_json=json_format.MessageToJson(
            envelope, preserving_proto_field_name=True, indent=None
        ),
        clock_suspect=bool(clock_suspect),
    )
