"""PostgreSQL for the store tests: a fresh, migrated schema per use, dropped afterwards.

PostgreSQL runs on 127.0.0.1:5432, database ``test``, user ``postgres``, trust auth (``.ci/run``
starts it); ``ROADGATE_TEST_PG`` overrides the connection string. Unreachable, the tests fail
with how to start it: they never skip.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cloud_bridge.store.schema_migrations import migrate

BASE_DSN = os.environ.get("ROADGATE_TEST_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")

START_HINT = (
    "PostgreSQL is not reachable at {dsn!r} ({err}). Start it with "
    "`pg_ctlcluster --skip-systemctl-redirect 15 main start` (database `test`, trust auth for "
    "user postgres on 127.0.0.1:5432), or point ROADGATE_TEST_PG at another server."
)

TABLES = (
    "message_keys",
    "messages",
    "boot_sequences",
    "devices",
    "device_status",
    "status_boots",
    "latest_state",
    "dead_letters",
)


def connect(dsn: str = BASE_DSN) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection; fails the test (never skips) when PostgreSQL is not up."""
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        pytest.fail(START_HINT.format(dsn=dsn, err=str(err).strip()), pytrace=False)


def schema_dsn(schema: str) -> str:
    """The base connection string with ``schema`` first on the search path."""
    return make_conninfo(BASE_DSN, options=f"-csearch_path={schema}")


def schema_url(schema: str) -> str:
    """The same as a ``postgresql://`` URL, as a config file gives it."""
    parts = conninfo_to_dict(BASE_DSN)
    host, port = parts.get("host", "127.0.0.1"), parts.get("port", "5432")
    user, dbname = parts.get("user", "postgres"), parts.get("dbname", "test")
    options = quote(f"-csearch_path={schema}")
    return f"postgresql://{user}@{host}:{port}/{dbname}?options={options}"


@contextmanager
def fresh_schema(*, migrated: bool = True) -> Iterator[str]:
    """A new schema (migrated unless told): yields its name; drops it afterwards."""
    name = f"rg_pgstore_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with connect() as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        if migrated:
            with connect(schema_dsn(name)) as conn:
                migrate(conn)
        yield name
    finally:
        with connect() as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def empty_tables(schema: str) -> None:
    """Delete every row the store wrote in ``schema`` (between hypothesis examples)."""
    # DELETE, not TRUNCATE: far faster on tables this small (TRUNCATE swaps files).
    with connect(schema_dsn(schema)) as conn, conn.transaction():
        for table in TABLES:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        conn.execute("UPDATE dead_letter_totals SET row_count = 0, byte_count = 0")


def wait_for_listener(dsn: str, channel: str, timeout_s: float = 10.0) -> None:
    """Return once a session LISTENs on ``channel``; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with connect(dsn) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query = %s", (f'LISTEN "{channel}"',)
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    pytest.fail(f"nobody listened on {channel} within {timeout_s} s")
