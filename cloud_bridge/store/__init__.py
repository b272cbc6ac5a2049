"""Message stores of the bridge: SQLite (embedded, the default) and PostgreSQL, one protocol.

``open_store(settings)`` picks one from the settings; PostgreSQL's module (and psycopg) is
imported only when a PostgreSQL store is opened.
"""

from cloud_bridge.store.factory import open_store
from cloud_bridge.store.protocol import MessageStore
from cloud_bridge.store.records import (
    DeadLetter,
    DeviceStatusRecord,
    LossRecord,
    LossTotals,
    StoredMessage,
)
from cloud_bridge.store.sqlite_store import SqliteStore

__all__ = [
    "DeadLetter",
    "DeviceStatusRecord",
    "LossRecord",
    "LossTotals",
    "MessageStore",
    "SqliteStore",
    "StoredMessage",
    "open_store",
]
