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
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import psycopg
from google.protobuf import json_format
from psycopg.conninfo import conninfo_to_dict

from cloud_bridge.body_json import body_json
from cloud_bridge.errors import StoreError
from cloud_bridge.recordings import json_view
from cloud_bridge.store.change_stream import CHANGE_CHANNEL
from cloud_bridge.store.partitions import KEY_DELETE_CHUNK, DayPartitions, day_of
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
from protocols.envelope import STATUS_SEQUENCE_BASE
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

MAX_BOOT_ID_BYTES = 256
"""Longer boot ids are kept as their SHA-256 (a boot id is a UUID: 36 bytes)."""

DAYS_AHEAD = 1
"""Day partitions created ahead of today's, so that midnight never waits for DDL."""

_INCOMING_COLUMNS = (
    "ord, device_id, boot_id, sequence, stream, region, topic, capture_time_ns, "
    "publish_time_ns, received_time_ns, historical, clock_suspect, latitude_deg, "
    "longitude_deg, payload, body"
)
_MESSAGE_COLUMNS = _INCOMING_COLUMNS.removeprefix("ord, ")
_STORED_COLUMNS = _MESSAGE_COLUMNS.removesuffix("body") + "body::json AS body, ord"
# The batch goes over in COPY's binary format (no text to parse but the JSON, and the payload's
# bytes as they are); the JSON travels as text and is checked once, as json, by the statement,
# for the messages it stores (migration 0003: json, not jsonb).
_INCOMING_TYPES = (
    "int4", "text", "text", "int8", "text", "text", "text", "int8", "int8", "int8", "bool",
    "bool", "float8", "float8", "bytea", "text",
)  # fmt: skip

# ON COMMIT DELETE ROWS: emptied in place at each commit (and rollback), rather than a TRUNCATE
# per batch, which gives the table a new file and updates the catalog each time.
_CREATE_INCOMING = """
CREATE TEMPORARY TABLE IF NOT EXISTS incoming (
    ord integer NOT NULL, device_id text NOT NULL, boot_id text NOT NULL,
    sequence bigint NOT NULL, stream text NOT NULL, region text NOT NULL, topic text NOT NULL,
    capture_time_ns bigint NOT NULL, publish_time_ns bigint NOT NULL,
    received_time_ns bigint NOT NULL, historical boolean NOT NULL,
    clock_suspect boolean NOT NULL, latitude_deg double precision,
    longitude_deg double precision, payload bytea NOT NULL, body text NOT NULL
) ON COMMIT DELETE ROWS
"""
_COPY_INCOMING = f"COPY incoming ({_INCOMING_COLUMNS}) FROM STDIN (FORMAT BINARY)"

# One statement per batch: keys first (the database decides what is new), then the history,
# the per-boot counts, the device registry, the latest vehicle states and the change notices.
# Rows go in key order, so that workers sharing devices lock them in the same order. It returns
# the batch's items it did not store (rare: duplicates), rather than the many it did.
#
# The newest stored state of each device replaces its latest if it follows it: a later boot
# (boot_sequences.id, first seen later: from this statement's RETURNING for the boots it counted,
# else as it was), or a higher sequence within the boot; never by timestamps.
_STORE_BATCH = f"""
WITH firsts AS (
    -- Only the key and where to find the rest: the wide columns are read once, for what is new.
    SELECT DISTINCT ON (device_id, boot_id, sequence) device_id, boot_id, sequence,
        received_time_ns, ord
    FROM incoming ORDER BY device_id, boot_id, sequence, ord
), fresh AS (
    INSERT INTO message_keys (device_id, boot_id, sequence, received_time_ns)
    SELECT device_id, boot_id, sequence, received_time_ns FROM firsts
    ORDER BY device_id, boot_id, sequence
    ON CONFLICT DO NOTHING
    RETURNING device_id, boot_id, sequence
), stored AS (
    SELECT {_STORED_COLUMNS} FROM incoming
    WHERE ord IN (SELECT ord FROM firsts JOIN fresh USING (device_id, boot_id, sequence))
), saved AS (
    INSERT INTO messages ({_MESSAGE_COLUMNS}) SELECT {_MESSAGE_COLUMNS} FROM stored
), counted AS (
    -- What arrived per device and boot, and of it what was stored (the rest: duplicates).
    INSERT INTO boot_sequences AS b (device_id, boot_id, first_sequence, last_sequence,
        delivered, duplicates, first_received_ns, last_received_ns)
    SELECT i.device_id, i.boot_id, min(s.sequence), max(s.sequence), count(s.ord),
        count(*) - count(s.ord), min(i.received_time_ns), max(i.received_time_ns)
    FROM incoming AS i LEFT JOIN stored AS s USING (ord)
    WHERE i.sequence < {STATUS_SEQUENCE_BASE} GROUP BY i.device_id, i.boot_id
    ORDER BY i.device_id, i.boot_id
    ON CONFLICT (device_id, boot_id) DO UPDATE SET
        first_sequence = LEAST(b.first_sequence, excluded.first_sequence),
        last_sequence = GREATEST(b.last_sequence, excluded.last_sequence),
        delivered = b.delivered + excluded.delivered,
        duplicates = b.duplicates + excluded.duplicates,
        last_received_ns = GREATEST(b.last_received_ns, excluded.last_received_ns)
    RETURNING device_id, boot_id, id
), seen AS (
    INSERT INTO devices AS d (device_id, region, first_seen_ns, last_seen_ns)
    SELECT device_id, min(region), min(received_time_ns), max(received_time_ns)
    FROM stored GROUP BY device_id ORDER BY device_id
    ON CONFLICT (device_id) DO UPDATE SET
        region = excluded.region,
        first_seen_ns = LEAST(d.first_seen_ns, excluded.first_seen_ns),
        last_seen_ns = GREATEST(d.last_seen_ns, excluded.last_seen_ns)
), states AS (
    SELECT s.*, COALESCE(c.id, (
        SELECT b.id FROM boot_sequences AS b
        WHERE b.device_id = s.device_id AND b.boot_id = s.boot_id
    )) AS boot_rank
    FROM stored AS s LEFT JOIN counted AS c USING (device_id, boot_id)
    WHERE s.stream = 'state'
), latest AS (
    INSERT INTO latest_state AS l (device_id, region, boot_rank, boot_id, sequence,
        capture_time_ns, received_time_ns, latitude_deg, longitude_deg, body)
    SELECT DISTINCT ON (device_id) device_id, region, boot_rank, boot_id, sequence,
        capture_time_ns, received_time_ns, latitude_deg, longitude_deg, body
    FROM states WHERE boot_rank IS NOT NULL
    ORDER BY device_id, boot_rank DESC, sequence DESC
    ON CONFLICT (device_id) DO UPDATE SET
        region = excluded.region, boot_rank = excluded.boot_rank, boot_id = excluded.boot_id,
        sequence = excluded.sequence, capture_time_ns = excluded.capture_time_ns,
        received_time_ns = excluded.received_time_ns, latitude_deg = excluded.latitude_deg,
        longitude_deg = excluded.longitude_deg, body = excluded.body
    WHERE (l.boot_rank, l.sequence) < (excluded.boot_rank, excluded.sequence)
), notified AS (
    -- A notice per device, boot and stream stored (cloud_bridge.store.change_stream), sent by
    -- PostgreSQL at commit. Referenced below: a CTE that only reads runs only if referenced.
    SELECT count(pg_notify(%(channel)s, notice)) AS notices FROM (
        SELECT json_build_object(
            'device_id', device_id, 'boot_id', boot_id, 'stream', stream,
            'region', min(region), 'first_sequence', min(sequence),
            'last_sequence', max(sequence), 'count', count(*),
            'first_received_ns', min(received_time_ns), 'last_received_ns', max(received_time_ns)
        )::text AS notice
        FROM stored GROUP BY device_id, boot_id, stream
    ) AS notices
)
SELECT ord FROM incoming
WHERE ord NOT IN (SELECT ord FROM stored) AND (SELECT notices FROM notified) >= 0
"""

_UPSERT_STATUS = """
INSERT INTO device_status (device_id, region, liveness, role, software_version, updated_time_ns,
    boot_id, sequence)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (device_id) DO UPDATE SET
    region = excluded.region, liveness = excluded.liveness, role = excluded.role,
    software_version = excluded.software_version, updated_time_ns = excluded.updated_time_ns,
    boot_id = excluded.boot_id, sequence = excluded.sequence
"""

_BOOT_RANK = "SELECT id FROM status_boots WHERE device_id = %s AND boot_id = %s"

_ONLINE = "LIVENESS_ONLINE"
_LOST = "LIVENESS_LOST"

_TRIM_PAGE = 256

Row = tuple[Any, ...]


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
            self._db.execute(_CREATE_INCOMING)
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
        rows = [
            _incoming_row(ord_, accepted, received)
            for ord_, (accepted, received) in enumerate(batch)
        ]
        db = self._conn()
        with self.transaction():
            try:
                self._maintain()
                self._partitions.ensure({day_of(received) for _, received in batch})
                if self._incoming_used:  # a second batch in one transaction
                    db.execute("DELETE FROM incoming")
                self._incoming_used = True
                with db.cursor().copy(_COPY_INCOMING) as copy:
                    copy.set_types(_INCOMING_TYPES)
                    for row in rows:
                        copy.write_row(row)
                not_stored = db.execute(_STORE_BATCH, {"channel": self.channel}, prepare=True)
                stored = [True] * len(batch)
                for (ord_,) in not_stored:
                    stored[ord_] = False
                # Device by device (workers lock rows in one order), each in arrival order.
                statuses = [
                    _status_row(accepted)
                    for i, (accepted, _) in enumerate(batch)
                    if stored[i] and accepted.topic.stream is Stream.STATUS
                ]
                for row in sorted(statuses, key=lambda row: str(row[0])):
                    _update_status(db, row)
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
        safe_topic = _text(topic.encode("utf-8", "backslashreplace").decode("utf-8"))
        safe_detail = _text(detail.encode("utf-8", "backslashreplace").decode("utf-8"))
        size = len(payload) + len(safe_topic.encode("utf-8")) + len(safe_detail.encode("utf-8"))
        db = self._conn()
        with self.transaction():
            try:
                db.execute(
                    "INSERT INTO dead_letters (received_time_ns, topic, reason, detail, payload, "
                    "size) VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        received_time_ns,
                        safe_topic,
                        _text(reason),
                        safe_detail,
                        bytes(payload),
                        size,
                    ),
                )
                totals = db.execute(
                    "UPDATE dead_letter_totals SET row_count = row_count + 1, "
                    "byte_count = byte_count + %s RETURNING row_count, byte_count",
                    (size,),
                ).fetchone()
                assert totals is not None  # the migration inserts the one row
                dropped = self._trim_dead_letters(db, int(totals[0]), int(totals[1]))
            except psycopg.Error as err:
                raise StoreError(f"cannot store a dead letter in {self.where}: {err}") from err
        self.dead_letters_dropped += dropped
        return dropped

    def _trim_dead_letters(self, db: psycopg.Connection[Row], rows: int, used: int) -> int:
        excess_rows = rows - self.max_dead_letters
        excess_bytes = used - self.max_dead_letter_bytes
        if excess_rows <= 0 and excess_bytes <= 0:
            return 0
        last_id, count, freed = -1, 0, 0
        while count < excess_rows or freed < excess_bytes:
            page = db.execute(
                "SELECT id, size FROM dead_letters WHERE id > %s ORDER BY id LIMIT %s",
                (last_id, _TRIM_PAGE),
            ).fetchall()
            if not page:
                break
            for row_id, size in page:
                if count >= excess_rows and freed >= excess_bytes:
                    break
                last_id, count, freed = int(row_id), count + 1, freed + int(size)
        if count == 0:
            return 0
        db.execute("DELETE FROM dead_letters WHERE id <= %s", (last_id,))
        db.execute(
            "UPDATE dead_letter_totals SET row_count = row_count - %s, "
            "byte_count = byte_count - %s",
            (count, freed),
        )
        return count

    def dead_letter_usage(self) -> tuple[int, int]:
        """Dead letters kept now: (rows, bytes of payload, topic and detail)."""
        ((rows, used),) = self._query("SELECT row_count, byte_count FROM dead_letter_totals", ())
        return int(rows), int(used)

    def count_messages(self, stream: str | None = None, device_id: str | None = None) -> int:
        """Number of stored messages, optionally of one stream and/or device."""
        where, args = _filters(stream=stream, device_id=device_id)
        return int(self._query(f"SELECT count(*) FROM messages{where}", args)[0][0])

    def messages(self, device_id: str | None = None) -> list[StoredMessage]:
        """Stored messages, optionally of one device, ordered by device, boot, sequence."""
        where, args = _filters(device_id=device_id)
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


def _boot_key(boot_id: str) -> str:
    """``boot_id`` as the store keeps it: PostgreSQL text (see :func:`_text`), and one longer
    than ``MAX_BOOT_ID_BYTES`` as ``sha256:<hex>`` of it (a B-tree key has room for ~2.7 kB, a
    NOTIFY payload for 8 kB, and a device may send 64 kB)."""
    encoded = boot_id.encode("utf-8")
    if len(encoded) > MAX_BOOT_ID_BYTES:
        return f"sha256:{hashlib.sha256(encoded).hexdigest()}"
    return _text(boot_id)


def _text(value: str) -> str:
    """``value`` as PostgreSQL text holds it: a NUL character becomes U+FFFD."""
    return value.replace("\x00", "\ufffd")


def _position(env: pb.Envelope) -> pb.Position | None:
    """The position a message is about: a vehicle's, a sensor's, an event's."""
    body = env.WhichOneof("body")
    if body == "vehicle_state" and env.vehicle_state.HasField("position"):
        return env.vehicle_state.position
    if body == "object_list" and env.object_list.HasField("sensor_position"):
        return env.object_list.sensor_position
    if body == "event" and env.event.HasField("position"):
        return env.event.position
    return None


def _incoming_row(ord_: int, accepted: Accepted, received_time_ns: int) -> tuple[object, ...]:
    env = accepted.envelope
    topic = accepted.topic
    position = _position(env)
    # json_format's JSON mapping, in about half its time; a recording chunk's bytes only once,
    # in the payload
    body = body_json(json_view(env))
    return (
        ord_,
        env.device_id,
        _boot_key(env.boot_id),
        env.sequence,
        topic.stream.value,
        topic.region,
        str(topic),
        env.capture_time_ns,
        env.publish_time_ns,
        received_time_ns,
        env.historical,
        accepted.clock_suspect,
        None if position is None else position.latitude_deg,
        None if position is None else position.longitude_deg,
        accepted.payload,
        # PostgreSQL text cannot hold the NUL \u0000 stands for (json's ->> refuses it): a
        # convenience copy, the payload keeps the original.
        body.replace("\\u0000", "\\ufffd"),
    )


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


def _update_status(db: psycopg.Connection[Row], row: tuple[Any, ...]) -> None:
    """Make ``row`` (see :func:`_status_row`) the device's status if it supersedes the current.

    The rule of :meth:`cloud_bridge.store.SqliteStore.store`: boots rank in the order their
    first status arrived (``status_boots.id``).
    """
    device_id, liveness, boot_id, sequence = row[0], row[2], row[6], row[7]
    db.execute(
        "INSERT INTO status_boots (device_id, boot_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (device_id, boot_id),
    )
    current = db.execute(
        "SELECT boot_id, sequence, liveness FROM device_status WHERE device_id = %s FOR UPDATE",
        (device_id,),
    ).fetchone()
    if current is not None:
        current_boot, current_sequence, current_liveness = current
        if current_boot != boot_id:
            rank = db.execute(_BOOT_RANK, (device_id, boot_id)).fetchone()
            current_rank = db.execute(_BOOT_RANK, (device_id, current_boot)).fetchone()
            if rank is not None and current_rank is not None and rank[0] < current_rank[0]:
                return
        elif sequence <= current_sequence and not (
            liveness == _LOST and current_liveness == _ONLINE
        ):
            return
    db.execute(_UPSERT_STATUS, row)
    db.execute(
        "UPDATE devices SET role = %s, software_version = %s WHERE device_id = %s",
        (row[3], row[4], device_id),
    )


def _status_row(accepted: Accepted) -> tuple[object, ...]:
    env = accepted.envelope
    return (
        env.device_id,
        accepted.topic.region,
        _enum_name(pb.Liveness.DESCRIPTOR, env.status.liveness),
        _enum_name(pb.DeviceRole.DESCRIPTOR, env.status.role),
        _text(env.status.software_version),
        env.capture_time_ns,
        _boot_key(env.boot_id),
        env.sequence,
    )


def _enum_name(enum: Any, value: int) -> str:
    """The name of ``value``, or its number: proto3 enums are open, devices may send new values."""
    known = enum.values_by_number.get(value)
    return str(known.name) if known is not None else str(value)
