"""The PostgreSQL store's writes as steps, so that one implementation runs on a blocking
connection (:class:`cloud_bridge.store.postgres_store.PostgresStore`) and on an asyncio one
(:class:`cloud_bridge.store.postgres_writer.PostgresBatchWriter`).

A write is a generator: it yields an :class:`Execute` or a :class:`Copy` and is sent the rows
the statement returned; what it returns is the write's result. :func:`run_steps` and
:func:`run_steps_async` drive one on a connection. (psycopg's blocking and asyncio connections
have the same calls, one awaited: without this, each write would be written twice.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from cloud_bridge.body_json import body_json
from cloud_bridge.recordings import json_view
from cloud_bridge.validation import Accepted
from protocols.envelope import STATUS_SEQUENCE_BASE
from protocols.schema.v1 import roadgate_pb2 as pb
from protocols.topics import Stream

MAX_BOOT_ID_BYTES = 256
"""Longer boot ids are kept as their SHA-256 (a boot id is a UUID: 36 bytes)."""

INCOMING_COLUMNS = (
    "ord, device_id, boot_id, sequence, stream, region, topic, capture_time_ns, "
    "publish_time_ns, received_time_ns, historical, clock_suspect, latitude_deg, "
    "longitude_deg, payload, body"
)
MESSAGE_COLUMNS = INCOMING_COLUMNS.removeprefix("ord, ")
_STORED_COLUMNS = MESSAGE_COLUMNS.removesuffix("body") + "body::json AS body, ord"
# The batch goes over in COPY's binary format (no text to parse but the JSON, and the payload's
# bytes as they are); the JSON travels as text and is checked once, as json, by the statement,
# for the messages it stores (migration 0003: json, not jsonb).
INCOMING_TYPES = (
    "int4", "text", "text", "int8", "text", "text", "text", "int8", "int8", "int8", "bool",
    "bool", "float8", "float8", "bytea", "text",
)  # fmt: skip

# ON COMMIT DELETE ROWS: emptied in place at each commit (and rollback), rather than a TRUNCATE
# per batch, which gives the table a new file and updates the catalog each time.
CREATE_INCOMING = """
CREATE TEMPORARY TABLE IF NOT EXISTS incoming (
    ord integer NOT NULL, device_id text NOT NULL, boot_id text NOT NULL,
    sequence bigint NOT NULL, stream text NOT NULL, region text NOT NULL, topic text NOT NULL,
    capture_time_ns bigint NOT NULL, publish_time_ns bigint NOT NULL,
    received_time_ns bigint NOT NULL, historical boolean NOT NULL,
    clock_suspect boolean NOT NULL, latitude_deg double precision,
    longitude_deg double precision, payload bytea NOT NULL, body text NOT NULL
) ON COMMIT DELETE ROWS
"""
COPY_INCOMING = f"COPY incoming ({INCOMING_COLUMNS}) FROM STDIN (FORMAT BINARY)"

# One statement per batch: keys first (the database decides what is new), then the history,
# the per-boot counts, the device registry, the latest vehicle states and the change notices.
# Rows go in key order, so that workers sharing devices lock them in the same order. It returns
# the batch's items it did not store (rare: duplicates), rather than the many it did.
#
# The newest stored state of each device replaces its latest if it follows it: a later boot
# (boot_sequences.id, first seen later: from this statement's RETURNING for the boots it counted,
# else as it was), or a higher sequence within the boot; never by timestamps.
STORE_BATCH = f"""
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
    INSERT INTO messages ({MESSAGE_COLUMNS}) SELECT {MESSAGE_COLUMNS} FROM stored
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

TRIM_PAGE = 256

Row = tuple[Any, ...]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Execute:
    """Run ``query`` with ``params``; the generator is sent the rows it returned (or [])."""

    query: str
    params: Sequence[object] | Mapping[str, object] | None = None
    prepare: bool | None = None


@dataclass(frozen=True, slots=True)
class Copy:
    """``COPY ... FROM STDIN (FORMAT BINARY)`` of ``rows`` typed ``types``; sent []."""

    statement: str
    types: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True, slots=True)
class ServerBusyNext:
    """The next statement keeps the server busy a while: the driver tells its caller (sent [])."""


Steps = Generator[Execute | Copy | ServerBusyNext, list[Row], T]


def run_steps(db: psycopg.Connection[Row], steps: Steps[T]) -> T:
    """Run ``steps`` on a blocking connection; returns their result. Raises ``psycopg.Error``."""
    try:
        step = next(steps)
        while True:
            if isinstance(step, ServerBusyNext):
                rows: list[Row] = []
            elif isinstance(step, Copy):
                with db.cursor().copy(step.statement) as copy:
                    copy.set_types(step.types)
                    for row in step.rows:
                        copy.write_row(row)
                rows = []
            else:
                cursor = db.execute(step.query, step.params, prepare=step.prepare)
                rows = cursor.fetchall() if cursor.description is not None else []
            step = steps.send(rows)
    except StopIteration as done:
        result: T = done.value
        return result


async def run_steps_async(
    db: psycopg.AsyncConnection[Row],
    steps: Steps[T],
    on_server_busy: Callable[[], None] | None = None,
) -> T:
    """:func:`run_steps` on an asyncio connection; calls ``on_server_busy`` at a
    :class:`ServerBusyNext` (its work then runs while the statement's result is awaited)."""
    try:
        step = next(steps)
        while True:
            if isinstance(step, ServerBusyNext):
                if on_server_busy is not None:
                    on_server_busy()
                rows: list[Row] = []
            elif isinstance(step, Copy):
                async with db.cursor().copy(step.statement) as copy:
                    copy.set_types(step.types)
                    for row in step.rows:
                        await copy.write_row(row)
                rows = []
            else:
                cursor = await db.execute(step.query, step.params, prepare=step.prepare)
                rows = await cursor.fetchall() if cursor.description is not None else []
            step = steps.send(rows)
    except StopIteration as done:
        result: T = done.value
        return result


def store_steps(
    batch: Sequence[tuple[Accepted, int]], channel: str, *, clear_incoming: bool
) -> Steps[list[bool]]:
    """Store ``(accepted, received_time_ns)`` pairs (see ``PostgresStore.store_many``) in the
    caller's transaction; returns one bool per item, False for a duplicate. The partitions of
    the received days must exist; ``clear_incoming`` when this transaction filled ``incoming``
    already."""
    rows = [
        incoming_row(ord_, accepted, received) for ord_, (accepted, received) in enumerate(batch)
    ]
    if clear_incoming:
        yield Execute("DELETE FROM incoming")
    yield Copy(COPY_INCOMING, INCOMING_TYPES, rows)
    yield ServerBusyNext()
    not_stored = yield Execute(STORE_BATCH, {"channel": channel}, prepare=True)
    stored = [True] * len(batch)
    for (ord_,) in not_stored:
        stored[ord_] = False
    # Device by device (workers lock rows in one order), each in arrival order.
    statuses = [
        status_row(accepted)
        for i, (accepted, _) in enumerate(batch)
        if stored[i] and accepted.topic.stream is Stream.STATUS
    ]
    for row in sorted(statuses, key=lambda row: str(row[0])):
        yield from _update_status(row)
    return stored


@dataclass(frozen=True, slots=True)
class DeadLetterCaps:
    """Dead letters kept at most, over every worker sharing the database."""

    rows: int
    bytes: int


def dead_letter_steps(
    topic: str, payload: bytes, reason: str, detail: str, received_time_ns: int,
    caps: DeadLetterCaps,
) -> Steps[int]:  # fmt: skip
    """Record a rejected message in the caller's transaction; drop the oldest past ``caps``.
    Returns how many were dropped."""
    safe_topic = text(topic.encode("utf-8", "backslashreplace").decode("utf-8"))
    safe_detail = text(detail.encode("utf-8", "backslashreplace").decode("utf-8"))
    size = len(payload) + len(safe_topic.encode("utf-8")) + len(safe_detail.encode("utf-8"))
    yield Execute(
        "INSERT INTO dead_letters (received_time_ns, topic, reason, detail, payload, "
        "size) VALUES (%s, %s, %s, %s, %s, %s)",
        (received_time_ns, safe_topic, text(reason), safe_detail, bytes(payload), size),
    )
    ((rows, used),) = yield Execute(
        "UPDATE dead_letter_totals SET row_count = row_count + 1, "
        "byte_count = byte_count + %s RETURNING row_count, byte_count",
        (size,),
    )
    excess_rows = int(rows) - caps.rows
    excess_bytes = int(used) - caps.bytes
    if excess_rows <= 0 and excess_bytes <= 0:
        return 0
    last_id, count, freed = -1, 0, 0
    while count < excess_rows or freed < excess_bytes:
        page = yield Execute(
            "SELECT id, size FROM dead_letters WHERE id > %s ORDER BY id LIMIT %s",
            (last_id, TRIM_PAGE),
        )
        if not page:
            break
        for row_id, row_size in page:
            if count >= excess_rows and freed >= excess_bytes:
                break
            last_id, count, freed = int(row_id), count + 1, freed + int(row_size)
    if count == 0:
        return 0
    yield Execute("DELETE FROM dead_letters WHERE id <= %s", (last_id,))
    yield Execute(
        "UPDATE dead_letter_totals SET row_count = row_count - %s, byte_count = byte_count - %s",
        (count, freed),
    )
    return count


def boot_key(boot_id: str) -> str:
    """``boot_id`` as the store keeps it: PostgreSQL text (see :func:`_text`), and one longer
    than ``MAX_BOOT_ID_BYTES`` as ``sha256:<hex>`` of it (a B-tree key has room for ~2.7 kB, a
    NOTIFY payload for 8 kB, and a device may send 64 kB)."""
    encoded = boot_id.encode("utf-8")
    if len(encoded) > MAX_BOOT_ID_BYTES:
        return f"sha256:{hashlib.sha256(encoded).hexdigest()}"
    return text(boot_id)


def text(value: str) -> str:
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


def incoming_row(ord_: int, accepted: Accepted, received_time_ns: int) -> tuple[object, ...]:
    """An accepted message as a row of ``incoming`` (``INCOMING_COLUMNS``)."""
    env = accepted.envelope
    topic = accepted.topic
    position = _position(env)
    # json_format's JSON mapping, in about half its time; a recording chunk's bytes only once,
    # in the payload
    body = body_json(json_view(env))
    return (
        ord_,
        env.device_id,
        boot_key(env.boot_id),
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


def _update_status(row: tuple[Any, ...]) -> Steps[None]:
    """Make ``row`` (see :func:`status_row`) the device's status if it supersedes the current.

    The rule of :meth:`cloud_bridge.store.SqliteStore.store`: boots rank in the order their
    first status arrived (``status_boots.id``).
    """
    device_id, liveness, boot_id, sequence = row[0], row[2], row[6], row[7]
    yield Execute(
        "INSERT INTO status_boots (device_id, boot_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (device_id, boot_id),
    )
    current = yield Execute(
        "SELECT boot_id, sequence, liveness FROM device_status WHERE device_id = %s FOR UPDATE",
        (device_id,),
    )
    if current:
        current_boot, current_sequence, current_liveness = current[0]
        if current_boot != boot_id:
            rank = yield Execute(_BOOT_RANK, (device_id, boot_id))
            current_rank = yield Execute(_BOOT_RANK, (device_id, current_boot))
            if rank and current_rank and rank[0][0] < current_rank[0][0]:
                return
        elif sequence <= current_sequence and not (
            liveness == _LOST and current_liveness == _ONLINE
        ):
            return
    yield Execute(_UPSERT_STATUS, row)
    yield Execute(
        "UPDATE devices SET role = %s, software_version = %s WHERE device_id = %s",
        (row[3], row[4], device_id),
    )


def status_row(accepted: Accepted) -> tuple[object, ...]:
    """A status message as a row of ``device_status``."""
    env = accepted.envelope
    return (
        env.device_id,
        accepted.topic.region,
        _enum_name(pb.Liveness.DESCRIPTOR, env.status.liveness),
        _enum_name(pb.DeviceRole.DESCRIPTOR, env.status.role),
        text(env.status.software_version),
        env.capture_time_ns,
        boot_key(env.boot_id),
        env.sequence,
    )


def _enum_name(enum: Any, value: int) -> str:
    """The name of ``value``, or its number: proto3 enums are open, devices may send new values."""
    known = enum.values_by_number.get(value)
    return str(known.name) if known is not None else str(value)
