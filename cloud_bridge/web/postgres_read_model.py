"""The API's :class:`~cloud_bridge.web.read_model.ReadModel` over the PostgreSQL store.

The same queries as ``SqliteReadModel`` over the store's tables (``messages`` with its
``body`` json, ``device_status``, ``devices``, ``boot_sequences``), through a connection of
its own per call whose transactions are read-only. The store's indexes serve them:
``messages_device_time`` the per-device queries, ``messages_region_time`` the region's history.
Raises ``StoreError`` when the database cannot be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from cloud_bridge.errors import StoreError
from cloud_bridge.store.records import BootSequences, LossRecord, loss_records
from cloud_bridge.web.read_model import KIND_SCAN, DeviceRow, HistoryQuery, MessageRow, message_row
from protocols.topics import Stream

_COLUMNS = (
    "device_id, boot_id, sequence, stream, region, capture_time_ns, received_time_ns, "
    "historical, clock_suspect, body"
)


class PostgresReadModel:
    """Read-only queries of the PostgreSQL store at ``dsn`` (a libpq URL or DSN)."""

    def __init__(self, dsn: str, where: str = "the PostgreSQL store") -> None:
        self._dsn = dsn
        self._where = where

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        try:
            with psycopg.connect(self._dsn, autocommit=True, connect_timeout=10) as db:
                db.execute("SET default_transaction_read_only = on")
                yield db
        except psycopg.Error as err:
            raise StoreError(f"cannot read {self._where}: {err}") from err

    def devices(self, region: str, after: str | None, limit: int) -> list[DeviceRow]:
        with self._connect() as db:
            statuses = db.execute(
                "SELECT s.device_id, s.region, s.role, s.liveness, s.software_version, "
                "s.updated_time_ns, d.last_seen_ns FROM device_status AS s "
                "LEFT JOIN devices AS d USING (device_id) "
                "WHERE s.region = %s AND s.device_id > %s ORDER BY s.device_id LIMIT %s",
                (region, after or "", limit),
            ).fetchall()
            rows = []
            for device_id, dev_region, role, liveness, version, updated, last_seen in statuses:
                health = self._newest(db, region, Stream.HEALTH, device_id, None)
                rows.append(
                    DeviceRow(
                        device_id,
                        dev_region,
                        role,
                        liveness,
                        version,
                        updated,
                        last_seen,
                        None if health is None else health.body,
                    )
                )
            return rows

    def loss(self, region: str, device_id: str) -> list[LossRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT m.device_id, m.boot_id, MIN(m.sequence), MAX(m.sequence), COUNT(*), "
                "COALESCE(MAX(b.duplicates), 0) FROM messages AS m "
                "LEFT JOIN boot_sequences AS b USING (device_id, boot_id) "
                # Statuses are numbered apart (see SqliteReadModel.loss).
                "WHERE m.device_id = %s AND m.region = %s AND m.stream <> 'status' "
                "GROUP BY m.device_id, m.boot_id",
                (device_id, region),
            ).fetchall()
        return loss_records(BootSequences(*row) for row in rows)

    def latest(
        self, region: str, stream: Stream, device_id: str | None = None, kind: str | None = None
    ) -> list[MessageRow]:
        with self._connect() as db:
            if device_id is None:
                devices = [
                    str(d)
                    for (d,) in db.execute(
                        "SELECT device_id FROM device_status WHERE region = %s ORDER BY device_id",
                        (region,),
                    ).fetchall()
                ]
            else:
                devices = [device_id]
            found = (self._newest(db, region, stream, d, kind) for d in devices)
            return [row for row in found if row is not None]

    def _newest(
        self,
        db: psycopg.Connection[tuple[Any, ...]],
        region: str,
        stream: Stream,
        device_id: str,
        kind: str | None,
    ) -> MessageRow | None:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE device_id = %s AND region = %s "
            "AND stream = %s AND NOT clock_suspect "
            "ORDER BY capture_time_ns DESC, sequence DESC LIMIT %s",
            (device_id, region, stream.value, KIND_SCAN if kind else 1),
        ).fetchall()
        for raw in rows:
            row = message_row(raw)
            if kind is None or row.body.get("kind", "OBJECT_LIST_KIND_UNSPECIFIED") == kind:
                return row
        return None

    def history(self, query: HistoryQuery) -> list[MessageRow]:
        where = ["region = %s", "stream = %s", "capture_time_ns BETWEEN %s AND %s"]
        args: list[object] = [query.region, query.stream.value, query.from_ns, query.to_ns]
        if query.device_id is not None:
            where.append("device_id = %s")
            args.append(query.device_id)
        if query.event_type is not None:
            if query.event_type == "EVENT_TYPE_UNSPECIFIED":  # a default is not in the JSON
                where.append("body->'event'->>'type' IS NULL")
            else:
                where.append("body->'event'->>'type' = %s")
                args.append(query.event_type)
        if query.after is not None:
            after = query.after
            where.append("(capture_time_ns, device_id, boot_id, sequence) > (%s, %s, %s, %s)")
            args += [after.capture_time_ns, after.device_id, after.boot_id, after.sequence]
        sql = (
            f"SELECT {_COLUMNS} FROM messages WHERE {' AND '.join(where)} "
            "ORDER BY capture_time_ns, device_id, boot_id, sequence LIMIT %s"
        )
        with self._connect() as db:
            return [message_row(raw) for raw in db.execute(sql, (*args, query.limit)).fetchall()]
