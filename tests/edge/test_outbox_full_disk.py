"""The outbox on a disk that fills up: a state, not a crash.

A real, tiny tmpfs (mounted for each test; needs root): the outbox stops growing at its free
space reserve by evicting old telemetry, keeps safety events, and when another process takes
the last byte, keeps what it cannot commit in memory and commits it once space returns.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from edge.errors import UplinkError
from edge.uplink.outbox import RETRY_EVERY_S, OutboxLimits, SqliteOutbox
from protocols.topics import Stream
from tests.support.tmpfs import fill, free_bytes, tiny_tmpfs

MiB = 1024 * 1024


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB filesystem."""
    with tiny_tmpfs(tmp_path / "disk", 2048) as mount:
        yield mount


def produce(outbox: SqliteOutbox, batch: int, events: list[int]) -> bool:
    """One pipeline second at a roadside unit's rate, broker down: ten object lists, an event
    every 20th batch; then commit. Returns what the commit returned."""
    for _ in range(10):
        outbox.put(Stream.OBJECTS, 2, "boot", outbox.next_sequence(), 0, os.urandom(300))
    if batch % 20 == 0:
        events.append(outbox.put(Stream.EVENTS, 0, "boot", outbox.next_sequence(), 0, b"E" * 200))
    return outbox.commit()


def on_disk(path: Path) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT id, stream FROM outbox ORDER BY id").fetchall()


def test_the_outbox_stops_growing_at_its_reserve_and_keeps_every_event(
    disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reserve = MiB // 2
    events: list[int] = []
    lowest = free_bytes(disk)
    path = disk / "outbox.sqlite3"
    with (
        caplog.at_level(logging.WARNING),
        SqliteOutbox(path, limits=OutboxLimits(min_free_bytes=reserve)) as outbox,
    ):
        # ~1.2 MB of bodies into ~1.5 MiB above the reserve, twice over: the second half runs
        # with the disk at its reserve.
        for batch in range(800):
            assert produce(outbox, batch, events), f"commit {batch} failed"
            lowest = min(lowest, free_bytes(disk))
        rows_then = len(outbox)
        for batch in range(800, 1600):
            assert produce(outbox, batch, events), f"commit {batch} failed"
            lowest = min(lowest, free_bytes(disk))
        assert outbox.evicted_for["disk_space"] > 5000
        assert outbox.evicted["events"] == 0
        assert abs(len(outbox) - rows_then) < 100  # at the reserve, it no longer grows
        kept = [e.row_id for e in outbox.peek(100_000) if e.stream is Stream.EVENTS]
        assert kept == events
        assert outbox.counters()["commit_failures"] == 0
    assert lowest >= reserve - 16 * 1024, f"the reserve was not kept: {lowest} bytes free"
    assert [i for i, s in on_disk(path) if s == "events"] == events
    warnings = [r for r in caplog.records if "filesystem nearly full" in r.getMessage()]
    assert len(warnings) == 1, "evictions are logged once per burst"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_disk_filled_by_someone_else_keeps_messages_in_memory_until_space_returns(
    disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[int] = []
    path = disk / "outbox.sqlite3"
    filler = disk / "filler"
    with (
        caplog.at_level(logging.WARNING),
        SqliteOutbox(path, limits=OutboxLimits(min_free_bytes=0)) as outbox,
    ):
        for batch in range(50):
            assert produce(outbox, batch, events)
        fill(filler)
        assert free_bytes(disk) == 0
        failed = 0
        for batch in range(50, 350):
            failed += not produce(outbox, batch, events)  # never raises
        assert failed > 250
        assert outbox.commit_failures >= 1
        assert outbox.counters()["uncommitted"] > 2000  # held in memory, not lost
        kept = [e.row_id for e in outbox.peek(100_000) if e.stream is Stream.EVENTS]
        assert kept == events  # what waits in memory is sent like the rest
        errors = [r for r in caplog.records if "commit failed" in r.getMessage()]
        assert len(errors) == 1, "a failing disk is logged once"
        assert "full" in errors[0].getMessage()

        filler.unlink()
        deadline = time.monotonic() + 10 * RETRY_EVERY_S
        batch = 350
        while not produce(outbox, batch, events):
            assert time.monotonic() < deadline, "no commit after the space returned"
            batch += 1
            time.sleep(0.01)  # the producer's rate (100 commits a second), not a wait
        assert outbox.counters()["uncommitted"] == 0
        assert any("commits again" in r.getMessage() for r in caplog.records)
        for later in range(batch + 1, batch + 200):
            assert produce(outbox, later, events)
        assert [i for i, s in on_disk(path) if s == "events"] == events
        assert free_bytes(disk) > 0


def test_closing_on_a_full_disk_says_what_was_lost_instead_of_raising(
    disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = disk / "outbox.sqlite3"
    outbox = SqliteOutbox(path, limits=OutboxLimits(min_free_bytes=0))
    events: list[int] = []
    assert produce(outbox, 0, events)
    fill(disk / "filler")
    # Until the WAL's last free frames are used up.
    assert any(not produce(outbox, batch, events) for batch in range(1, 1000))
    with caplog.at_level(logging.ERROR):
        outbox.close()
        outbox.close()
    assert any("not saved" in r.getMessage() for r in caplog.records)
    with pytest.raises(UplinkError, match="closed"):
        outbox.commit()


def test_an_outbox_on_a_read_only_filesystem_fails_when_opened(tmp_path: Path) -> None:
    with (
        tiny_tmpfs(tmp_path / "ro", 512, options="ro") as mount,
        pytest.raises(UplinkError, match="cannot open the outbox"),
    ):
        SqliteOutbox(mount / "outbox.sqlite3")


def test_a_corrupt_outbox_fails_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"not a database at all " * 200)
    with pytest.raises(UplinkError, match="cannot open the outbox"):
        SqliteOutbox(path)
