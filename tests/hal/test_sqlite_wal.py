"""``WalCheckpointer``: the thread copies a real SQLite WAL into its database file once the
commits it was told of reach its cadence, and refuses a cadence that would never run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hal.sqlite_wal import WalCheckpointer
from tests.support.waiting import wait_until


def test_every_nth_commit_wakes_a_checkpoint_that_empties_the_wal_into_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # only the thread checkpoints
    db.execute("CREATE TABLE t (b BLOB)")
    empty = path.stat().st_size
    # A timer far beyond the test: only the commit count can wake it.
    checkpointer = WalCheckpointer(str(path), "NORMAL", every_commits=4, every_s=3600)
    try:
        for _ in range(3):
            db.execute("INSERT INTO t VALUES (zeroblob(100000))")
            checkpointer.committed()
        assert checkpointer.measured == (0, 0)
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
        checkpointer.committed()
        wait_until(lambda: checkpointer.measured[1] == 4, what="the 4th commit's checkpoint")
        assert path.stat().st_size > empty + 4 * 100_000
        assert checkpointer.commits == 4
    finally:
        checkpointer.close()
        db.close()


@pytest.mark.parametrize(("commits", "seconds"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_a_cadence_that_never_runs_is_refused(commits: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="every_commits"):
        WalCheckpointer("x.sqlite3", "NORMAL", commits, seconds)
