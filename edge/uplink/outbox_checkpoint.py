"""How often the outbox's WAL is checkpointed in the background (``hal.sqlite_wal``).

Checkpoints run on a thread of their own every ``CHECKPOINT_EVERY_COMMITS`` commits or
``CHECKPOINT_EVERY_S`` seconds: SQLite would otherwise run them inside whichever commit crosses
1,000 WAL pages, stalling the caller's event loop for the copy and two fsyncs every few hundred
commits (2-4 ms each time on an idle disk, over 100 ms on a busy one). At the outbox's rates
they cannot start the WAL over (the writer appends while they copy), so each reports the WAL's
length (``measured``) and, once it nears its bound, the writer checkpoints it itself when its
caller chooses (``SqliteOutbox.wal_restart_due``: the uplink does it after its sends went out).
SQLite's own checkpoint inside the commit that crosses ``WRITER_CHECKPOINT_PAGES``
(``edge.uplink.outbox_disk_space``) still bounds the WAL should that not happen.
"""

from __future__ import annotations

from hal.sqlite_wal import WalCheckpointer

CHECKPOINT_EVERY_COMMITS = 256
"""Commits between two background checkpoints: about as often as SQLite's own default (1,000
WAL pages, ~330 of our 3-page commits); how many recent commits a power cut may lose under
``normal``."""

CHECKPOINT_EVERY_S = 1.0
"""At low rates, a checkpoint at least this often (when anything was committed)."""


def outbox_checkpointer(path: str, synchronous: str) -> WalCheckpointer:
    """The outbox's background checkpoints at the cadence above."""
    return WalCheckpointer(
        path, synchronous, CHECKPOINT_EVERY_COMMITS, CHECKPOINT_EVERY_S, name="outbox-checkpoint"
    )
