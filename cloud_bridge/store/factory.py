"""Open the store the settings name: a PostgreSQL URL/DSN, or else a SQLite file."""

from __future__ import annotations

from cloud_bridge.settings import BridgeSettings
from cloud_bridge.store.protocol import MessageStore
from cloud_bridge.store.sqlite_store import SqliteStore


def open_store(settings: BridgeSettings) -> MessageStore:
    """The bridge's store: PostgreSQL when ``settings.store_dsn`` is set, else SQLite.

    Raises ``StoreError`` (a PostgreSQL schema that is not migrated yet included).
    """
    if settings.store_dsn is not None:
        # Imported here: psycopg is needed only by bridges that use PostgreSQL.
        from cloud_bridge.store.postgres_store import PostgresStore

        return PostgresStore(
            settings.store_dsn,
            max_dead_letters=settings.max_dead_letters,
            max_dead_letter_bytes=settings.max_dead_letter_bytes,
            retention_days=settings.retention_days,
        )
    return SqliteStore(
        settings.store_path,
        max_dead_letters=settings.max_dead_letters,
        max_dead_letter_bytes=settings.max_dead_letter_bytes,
    )
