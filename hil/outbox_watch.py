"""Reads the daemon's outbox from outside, so the bench knows what entered it and must arrive."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class OutboxWatch:
    """Polls the outbox (read-only) and remembers every (boot id, sequence) it ever held."""

    def __init__(self, path: Path, period_s: float = 0.25) -> None:
        self._path = path
        self._period = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.seen: set[tuple[str, int]] = set()
        self.last: set[tuple[str, int]] = set()  # what the latest read found
        self.read_errors = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="outbox-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def read_now(self) -> int:
        """Read the outbox once; returns how many messages it holds (0 if it does not exist)."""
        if not self._path.exists():
            return 0
        try:
            db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=2.0)
            try:
                rows = db.execute("SELECT boot_id, sequence FROM outbox").fetchall()
            finally:
                db.close()
        except sqlite3.Error:
            # The daemon may be creating the file or checkpointing: the next poll will see it.
            self.read_errors += 1
            return 0
        keys = {(str(boot), int(seq)) for boot, seq in rows}
        with self._lock:
            self.seen.update(keys)
            self.last = keys
        return len(rows)

    def _poll(self) -> None:
        while not self._stop.wait(self._period):
            self.read_now()
