"""Message stores of the bridge. SQLite for now; PostgreSQL later behind the same methods."""

from cloud_bridge.store.sqlite_store import (
    DeadLetter,
    DeviceStatusRecord,
    SqliteStore,
    StoredMessage,
)

__all__ = ["DeadLetter", "DeviceStatusRecord", "SqliteStore", "StoredMessage"]
