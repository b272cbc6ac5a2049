"""The outbox's background WAL checkpoints: a thread of their own, on a connection of their own.

Checkpoints (copying the WAL back into the database file, with its fsyncs under ``normal`` and
``full``) run here every ``CHECKPOINT_EVERY_COMMITS`` commits or ``CHECKPOINT_EVERY_S``
seconds: SQLite would otherwise run them inside whichever commit crosses 1,000 WAL pages,
stalling the caller's event loop for the copy and two fsyncs every few hundred commits (2-4 ms
each time on an idle disk, over 100 ms on a busy one). They cannot start the WAL over (the
writer appends while they copy), so each reports the WAL's length (``measured``) and, once it
nears its bound, the writer checkpoints it itself when its caller chooses
(``SqliteOutbox.wal_restart_due``: the uplink does it after its sends went out). SQLite's own
checkpoint inside the commit that crosses ``WRITER_CHECKPOINT_PAGES``
(``edge.uplink.outbox_disk_space``) still bounds the WAL should that not happen.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("edge.outbox")

CHECKPOINT_EVERY_COMMITS = 256
"""Commits between two background checkpoints: about as often as SQLite's own default (1,000
WAL pages, ~330 of our 3-page commits); how many recent commits a power cut may lose under
``normal``."""

CHECKPOINT_EVERY_S = 1.0
"""At low rates, a checkpoint at least this often (when anything was committed)."""


class WalCheckpointer:
    """Checkpoints the outbox's WAL from a thread of its own, on a connection of its own.

    The sqlite3 module releases the GIL while SQLite works, so the fsyncs of a checkpoint no
    longer stall the event loop that commits. PASSIVE: it never waits for the writer, which
    keeps appending to the WAL meanwhile; what it cannot copy yet, it copies next time.
    """

    def __init__(self, path: str, synchronous: str) -> None:
        self._path = path
        # The checkpointing connection's own setting decides whether the checkpoint fsyncs.
        self._synchronous = synchronous
        self._commits = 0  # written by the committing thread only
        # Written by the checkpoint thread: the WAL's length (frames) after its last checkpoint,
        # and the commits counted when that checkpoint started.
        self.measured = (0, 0)
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="outbox-checkpoint", daemon=True)
        self._thread.start()

    @property
    def commits(self) -> int:
        """Commits counted so far."""
        return self._commits

    def committed(self) -> None:
        """Count a commit (called by the committing thread)."""
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY_COMMITS == 0:
            self._wake.set()

    def close(self) -> None:
        """Stop the thread (the writer's close checkpoints what is left)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        done = 0
        failing = False
        db: sqlite3.Connection | None = None
        while not self._stopping:
            self._wake.wait(CHECKPOINT_EVERY_S)
            self._wake.clear()
            commits = self._commits
            if commits == done or self._stopping:
                continue
            try:
                if db is None:
                    db = sqlite3.connect(self._path, isolation_level=None)
                    db.execute(f"PRAGMA synchronous={self._synchronous}")
                _busy, frames, _copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.measured = (int(frames), commits)
                done, failing = commits, False
            except sqlite3.Error as err:
                # Not fatal: the writer checkpoints by itself past WRITER_CHECKPOINT_PAGES.
                if not failing:
                    log.warning("outbox checkpoint of %s failed: %s", self._path, err)
                failing = True
        if db is not None:
            db.close()
