"""A SQLite database's WAL checkpoints on a thread of their own, on a connection of their own.

A leaf every package may use: the uplink's outbox (edge) and the bridge's SQLite store
(cloud_bridge) both write from an event loop. SQLite runs its own checkpoint (copying the WAL
back into the database file, with two fsyncs under ``synchronous=NORMAL``) inside whichever
commit crosses ``wal_autocheckpoint`` pages, and the caller's event loop stands still for it:
2-4 ms on an idle disk for the outbox's small commits, over 100 ms on a busy one, and about half
a second for the 16 MB the bridge lets its WAL grow to where every system call is dear (the
user-mode-linux guest of ``bench e2e``). Here they run every ``every_commits`` commits or
``every_s`` seconds instead; the writer keeps ``wal_autocheckpoint`` at a larger bound, so its
own checkpoint is the backstop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("hal.sqlite_wal")


class WalCheckpointer:
    """Checkpoints the WAL of the database at ``path`` from a thread of its own.

    The sqlite3 module releases the GIL while SQLite works, so a checkpoint's copy and fsyncs no
    longer stall the event loop that commits. PASSIVE: it never waits for the writer, which
    keeps appending to the WAL meanwhile; what it cannot copy yet, it copies next time. When a
    checkpoint has copied the whole WAL, the writer's next transaction starts it over; with
    ``catch_up``, a checkpoint that did not is followed at once by up to that many more, each
    copying only what was appended during the one before, so that one of them ends between two
    commits (a writer that commits while each checkpoint runs would otherwise grow the WAL until
    its own checkpoint, inside a commit, copies what is left).
    """

    def __init__(
        self,
        path: str,
        synchronous: str,
        every_commits: int,
        every_s: float,
        name: str = "wal-checkpoint",
        catch_up: int = 0,
    ) -> None:
        if every_commits < 1 or not every_s > 0:
            raise ValueError("every_commits must be >= 1 and every_s > 0")
        self._path = path
        # The checkpointing connection's own setting decides whether the checkpoint fsyncs.
        self._synchronous = synchronous
        self._every_commits = every_commits
        self._every_s = every_s
        self._catch_up = catch_up
        self._commits = 0  # written by the committing thread only
        # Written by the checkpoint thread: the WAL's length (frames) after its last checkpoint,
        # and the commits counted when that checkpoint started.
        self.measured = (0, 0)
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def commits(self) -> int:
        """Commits counted so far."""
        return self._commits

    def committed(self) -> None:
        """Count a commit (called by the committing thread)."""
        self._commits += 1
        if self._commits % self._every_commits == 0:
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
            self._wake.wait(self._every_s)
            self._wake.clear()
            commits = self._commits
            if commits == done or self._stopping:
                continue
            try:
                if db is None:
                    db = sqlite3.connect(self._path, isolation_level=None)
                    db.execute(f"PRAGMA synchronous={self._synchronous}")
                for _ in range(1 + self._catch_up):
                    _busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if copied >= frames or self._stopping:
                        break
                self.measured = (int(frames), commits)
                done, failing = commits, False
            except sqlite3.Error as err:
                # Not fatal: the writer checkpoints by itself past its wal_autocheckpoint.
                if not failing:
                    log.warning("WAL checkpoint of %s failed: %s", self._path, err)
                failing = True
        if db is not None:
            db.close()
