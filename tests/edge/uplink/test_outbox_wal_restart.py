"""The WAL starts over when the writer checkpoints it when told (``wal_restart_due``), instead
of growing until the commit that crosses its bound checkpoints it, fsyncs and all."""

from __future__ import annotations

from pathlib import Path

import pytest

import edge.uplink.outbox as outbox_module
from edge.uplink.outbox import CHECKPOINT_EVERY_COMMITS, SqliteOutbox
from protocols.topics import Stream
from tests.support.waiting import wait_until

ROUNDS = 8


def commit_rounds(outbox: SqliteOutbox, *, restart: bool) -> int:
    """Commit one message at a time, acknowledging the one before, as the uplink does at a
    steady rate; ``restart``: checkpoint the WAL when told. Returns the restarts done."""
    restarts = 0
    previous = None
    checkpointer = outbox._checkpointer
    assert checkpointer is not None
    for _ in range(ROUNDS):
        for _ in range(CHECKPOINT_EVERY_COMMITS):
            row = outbox.put(Stream.STATE, 3, "boot", outbox.next_sequence(), 0, b"s" * 200)
            if previous is not None:
                outbox.ack(previous)
            outbox.commit()
            outbox.peek(10)
            previous = row
            if restart and outbox.wal_restart_due():
                outbox.checkpoint_wal()
                restarts += 1
        # The background checkpoint of these commits: what tells the writer the WAL's length.
        wait_until(
            lambda done=checkpointer.commits: checkpointer.measured[1] == done,  # type: ignore[misc]
            what="a background checkpoint",
        )
    return restarts


@pytest.mark.parametrize("restart", [True, False])
def test_the_wal_starts_over_only_when_the_writer_checkpoints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restart: bool
) -> None:
    # A bound far under what the rounds write (the writer's own bound stays 8192 pages).
    monkeypatch.setattr(outbox_module, "RESTART_AT", 0.05)
    path = tmp_path / "outbox.sqlite3"
    with SqliteOutbox(path) as outbox:
        restarts = commit_rounds(outbox, restart=restart)
        wal_bytes = Path(f"{path}-wal").stat().st_size
        frames = outbox._checkpointer.measured[0] if outbox._checkpointer else 0
        assert (outbox.size_bytes, len(outbox)) == (200, 1)
    pages = ROUNDS * CHECKPOINT_EVERY_COMMITS * 2  # at least 2 pages per commit
    if restart:
        assert restarts >= ROUNDS // 2
        # Started over: the file holds about one round of commits, not all of them.
        assert wal_bytes < pages * 4096 // 3
        assert frames < pages // 3
    else:
        assert restarts == 0
        assert wal_bytes > pages * 4096 * 3 // 4
        assert frames > pages * 3 // 4
    with SqliteOutbox(path) as reopened:  # nothing lost by the checkpoints
        assert [len(e.body) for e in reopened.peek(10)] == [200]


def test_a_memory_outbox_never_asks_for_it() -> None:
    with SqliteOutbox(":memory:") as outbox:
        for _ in range(10):
            outbox.put(Stream.STATE, 3, "boot", outbox.next_sequence(), 0, b"x")
            outbox.commit()
        assert not outbox.wal_restart_due()
        outbox.checkpoint_wal()  # harmless
        assert len(outbox) == 10
