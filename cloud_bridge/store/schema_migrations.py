"""Versioned migrations of the PostgreSQL store.

The SQL files ship in ``cloud_bridge/store/migrations/`` as ``NNNN_name.sql``; ``migrate``
applies those not yet recorded in ``schema_migrations``, in order, each in one transaction with
its record, under an advisory lock so that workers starting together apply each once. Objects
go to the connection's current schema (the first of its ``search_path``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import psycopg

from cloud_bridge.errors import StoreError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Any fixed number, with the schema's hash: held only while migrating that schema.
_MIGRATION_LOCK = 0x52476174

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: its version (the file's number), name and text."""

    version: int
    name: str
    sql: str


def shipped_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("cloud_bridge.store.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def latest_version() -> int:
    """The version a fully migrated database has."""
    return shipped_migrations()[-1].version


def applied_versions(conn: psycopg.Connection[tuple[object, ...]]) -> set[int]:
    """The versions recorded in ``schema_migrations`` (none when the table does not exist)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return set()
    return {int(str(row[0])) for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(
    conn: psycopg.Connection[tuple[object, ...]], migrations: Sequence[Migration] | None = None
) -> list[Migration]:
    """Apply the shipped migrations (or ``migrations``) the database lacks; returns those applied.

    ``conn`` must be in autocommit mode (each migration is its own transaction). Raises
    ``StoreError`` naming the migration that failed (it is rolled back entirely).
    """
    if not conn.autocommit:
        raise ValueError("migrate needs a connection in autocommit mode")
    applied: list[Migration] = []
    try:
        conn.execute("SELECT pg_advisory_lock(%s, hashtext(current_schema()))", (_MIGRATION_LOCK,))
    except psycopg.Error as err:
        raise StoreError(f"cannot lock the database for migrations: {err}") from err
    try:
        conn.execute(_CREATE_TABLE)
        done = applied_versions(conn)
        for migration in shipped_migrations() if migrations is None else migrations:
            if migration.version in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode("utf-8"))
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
            except psycopg.Error as err:
                raise StoreError(
                    f"migration {migration.version:04d}_{migration.name} failed: {err}"
                ) from err
            applied.append(migration)
    except psycopg.Error as err:
        raise StoreError(f"cannot migrate: {err}") from err
    finally:
        # If unlocking fails the lock ends with the session anyway.
        with contextlib.suppress(psycopg.Error):
            conn.execute(
                "SELECT pg_advisory_unlock(%s, hashtext(current_schema()))", (_MIGRATION_LOCK,)
            )
    return applied


def timescaledb_available(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Whether the server offers TimescaleDB (the schema uses native partitioning either way)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
    ).fetchone()
    return bool(row and row[0])
