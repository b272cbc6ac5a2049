"""Daily partitions of the PostgreSQL store's history, created ahead and dropped by retention.

``messages`` is partitioned by ``received_time_ns`` (the bridge's clock), one partition per
UTC day named ``messages_pYYYYMMDD``. TimescaleDB is not needed: native declarative
partitioning does the same for this table, and :meth:`DayPartitions.drop_before` is the
retention policy.
"""

from __future__ import annotations

import datetime as dt
import re

import psycopg
from psycopg import sql

NS_PER_DAY = 86_400 * 10**9
_EPOCH = dt.date(1970, 1, 1)
_NAME = re.compile(r"^messages_p(\d{8})$")
# Any fixed number with the schema's hash: serialises workers creating the same partition.
_PARTITION_LOCK = 0x52475074
KEY_DELETE_CHUNK = 5_000
"""Dedupe keys retention deletes at most per call (per batch while it catches up): more than a
batch inserts, so the table shrinks back after each day, and a few milliseconds of work."""


def day_of(time_ns: int) -> int:
    """Days since the epoch of an instant in ns (UTC)."""
    return time_ns // NS_PER_DAY


def partition_name(day: int) -> str:
    """The name of one day's partition."""
    return f"messages_p{_EPOCH + dt.timedelta(days=day):%Y%m%d}"


def _day_of_name(name: str) -> int | None:
    match = _NAME.match(name)
    if match is None:
        return None
    date = dt.datetime.strptime(match[1], "%Y%m%d").date()
    return (date - _EPOCH).days


class DayPartitions:
    """The day partitions of ``messages`` on one connection, with a cache of those that exist.

    Not thread-safe; the caller runs it inside its transactions (DDL joins them and is undone
    with them: call :meth:`reload` after a rollback).
    """

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        self._conn = conn
        self._days: set[int] = set()
        self.reload()

    def reload(self) -> None:
        """Read which partitions exist."""
        rows = self._conn.execute(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'messages'::regclass"
        ).fetchall()
        self._days = {day for (name,) in rows if (day := _day_of_name(str(name))) is not None}

    @property
    def days(self) -> frozenset[int]:
        """The days that have a partition."""
        return frozenset(self._days)

    def ensure(self, days: set[int]) -> None:
        """Create the partitions of ``days`` that do not exist yet."""
        missing = sorted(days - self._days)
        if not missing:
            return
        # Another worker may be creating the same ones: wait for it, then IF NOT EXISTS.
        self._conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (_PARTITION_LOCK,)
        )
        for day in missing:
            self._conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF messages "
                    "FOR VALUES FROM ({}) TO ({})"
                ).format(
                    sql.Identifier(partition_name(day)),
                    sql.Literal(day * NS_PER_DAY),
                    sql.Literal((day + 1) * NS_PER_DAY),
                )
            )
            self._days.add(day)

    def drop_before(self, first_kept_day: int) -> list[str]:
        """Retention: drop the partitions of days before ``first_kept_day``; returns their names.

        Their dedupe keys stay: see :meth:`delete_keys_before`.
        """
        dropped = []
        for day in sorted(d for d in self._days if d < first_kept_day):
            self._conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(partition_name(day)))
            )
            self._days.discard(day)
            dropped.append(partition_name(day))
        return dropped

    def delete_keys_before(self, first_kept_day: int, limit: int = KEY_DELETE_CHUNK) -> int:
        """Delete at most ``limit`` dedupe keys received before ``first_kept_day``; returns how
        many. The key table is not partitioned (its unique key must hold across days), so
        retention deletes its rows, a bounded chunk at a time: call again while it returns
        ``limit``."""
        return self._conn.execute(
            "DELETE FROM message_keys WHERE ctid = ANY (ARRAY("
            "SELECT ctid FROM message_keys WHERE received_time_ns < %s LIMIT %s))",
            (first_kept_day * NS_PER_DAY, limit),
        ).rowcount
