"""The replay guard: every nonce a key signed, remembered on disk until its command expired.

A command is carried out only if ``remember`` is the first to see its (key, nonce); the row
is committed before the command runs, so a replay is refused after a restart too. Rows are
pruned ``grace_s`` after their command's expiry: by then the command is refused as expired,
and the grace covers a clock stepped back by less than that.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.commands.errors import CommandRejectedError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    expires_ns INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_ns);
"""


class NonceStore:
    """Nonces seen, in SQLite at ``path`` (``":memory:"`` for tests). Close it when done."""

    def __init__(self, path: Path | str, *, grace_s: float = 3600.0) -> None:
        self._grace_ns = int(grace_s * 1e9)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise CommandRejectedError("nonce_store", f"cannot open {path}: {err}") from err

    def remember(self, key_id: str, nonce: bytes, expires_ns: int, now_ns: int) -> bool:
        """Record ``nonce``; False when ``key_id`` already signed it (a replay).

        Raises ``CommandRejectedError`` (reason ``nonce_store``) when the disk refuses: a command
        whose nonce cannot be kept is not carried out.
        """
        try:
            self._db.execute("DELETE FROM nonces WHERE expires_ns < ?", (now_ns - self._grace_ns,))
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO nonces (key_id, nonce, expires_ns) VALUES (?, ?, ?)",
                (key_id, nonce, expires_ns),
            )
        except sqlite3.Error as err:
            raise CommandRejectedError("nonce_store", f"cannot record the nonce: {err}") from err
        return cursor.rowcount == 1

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM nonces").fetchone()
        return int(count)

    def close(self) -> None:
        self._db.close()
