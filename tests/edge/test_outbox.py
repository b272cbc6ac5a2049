"""The durable outbox: what enters survives a restart; bounds evict telemetry, never events."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import UplinkError
from edge.uplink.outbox import (
    CHECKPOINT_EVERY_COMMITS,
    EXPIRY_CHECK_S,
    MEMORY_MAX_BYTES,
    WRITER_CHECKPOINT_PAGES,
    Durability,
    OutboxLimits,
    SqliteOutbox,
)
from protocols.topics import Stream
from tests.support.waiting import wait_until

PROJECT = Path(__file__).resolve().parents[2]


def put(outbox: SqliteOutbox, stream: Stream, size: int = 100, priority: int = 3) -> int:
    sequence = outbox.next_sequence()
    return outbox.put(stream, priority, "boot-a", sequence, 0, bytes([sequence % 256]) * size)


@pytest.mark.parametrize("durability", list(Durability))
def test_messages_and_sequence_numbers_survive_a_restart(
    tmp_path: Path, durability: Durability
) -> None:
    path = tmp_path / "outbox.sqlite3"
    with SqliteOutbox(path, durability=durability) as outbox:
        ids = [put(outbox, Stream.STATE) for _ in range(5)]
        outbox.commit()
        outbox.ack(ids[0])
        outbox.commit()
    with SqliteOutbox(path) as outbox:
        waiting = outbox.peek(10)
        assert [e.sequence for e in waiting] == [2, 3, 4, 5]
        assert outbox.next_sequence() == 6  # numbering continues across restarts
        assert outbox.size_bytes == 400


def test_a_killed_process_keeps_what_it_committed(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    script = (
        "import os, sys\n"
        "from edge.uplink.outbox import SqliteOutbox\n"
        "from protocols.topics import Stream\n"
        f"o = SqliteOutbox({str(path)!r})\n"
        "o.put(Stream.EVENTS, 0, 'b', o.next_sequence(), 0, b'committed')\n"
        "o.commit()\n"
        "o.put(Stream.EVENTS, 0, 'b', o.next_sequence(), 0, b'not yet')\n"
        "os.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, check=False)
    assert result.returncode == -9
    with SqliteOutbox(path) as reopened:
        assert [e.body for e in reopened.peek(10)] == [b"committed"]
        assert reopened.next_sequence() == 2


def test_checkpoints_run_in_a_thread_that_stops_with_the_outbox(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with SqliteOutbox(path) as outbox:
        empty = path.stat().st_size
        for _ in range(CHECKPOINT_EVERY_COMMITS):
            put(outbox, Stream.STATE, size=1000)
            outbox.commit()
        assert CHECKPOINT_EVERY_COMMITS * 3 < WRITER_CHECKPOINT_PAGES  # the writer never did
        # Only a checkpoint moves committed pages from the WAL into the database file.
        wait_until(lambda: path.stat().st_size > empty, what="a checkpoint grew the file")
        assert path.stat().st_size > empty + 100 * 1000
        assert any(t.name == "outbox-checkpoint" for t in threading.enumerate())
    assert not any(t.name == "outbox-checkpoint" for t in threading.enumerate())


def test_size_and_uncommitted_changes_are_tracked() -> None:
    with SqliteOutbox(":memory:") as outbox:
        assert (len(outbox), outbox.uncommitted) == (0, False)
        first = put(outbox, Stream.STATE)
        put(outbox, Stream.STATE)
        assert (len(outbox), outbox.uncommitted) == (2, True)
        outbox.commit()
        assert not outbox.uncommitted
        outbox.ack(first)
        outbox.ack(first)  # a second acknowledgement of the same row changes nothing
        assert (len(outbox), outbox.size_bytes, outbox.uncommitted) == (1, 100, True)


def test_peek_orders_by_priority_then_age() -> None:
    with SqliteOutbox(":memory:") as outbox:
        a = put(outbox, Stream.STATE, priority=3)
        b = put(outbox, Stream.EVENTS, priority=0)
        c = put(outbox, Stream.STATE, priority=3)
        d = put(outbox, Stream.EVENTS, priority=0)
        assert [e.row_id for e in outbox.peek(10)] == [b, d, a, c]
        assert [e.row_id for e in outbox.peek(3)] == [b, d, a]
        assert outbox.max_id() == d


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=30),
    st.integers(0, 40),
    st.data(),
)
def test_peek_leaves_out_what_is_in_flight_and_reads_the_rest_as_before(
    puts: list[tuple[int, bool]], limit: int, data: st.DataObject
) -> None:
    """``peek(limit, exclude)`` is the first ``limit`` of everything waiting once ``exclude``
    is taken out: committed rows, rows still in memory and acknowledged ones alike."""
    with SqliteOutbox(":memory:") as outbox:
        ids = []
        for priority, commit in puts:
            ids.append(put(outbox, Stream.STATE, size=50 + priority, priority=priority))
            if commit:
                outbox.commit()
        acked = data.draw(st.sets(st.sampled_from(ids)))
        for row_id in acked:
            outbox.ack(row_id)
        everything = outbox.peek(len(ids))
        exclude = data.draw(st.sets(st.sampled_from(ids)))
        expected = [e for e in everything if e.row_id not in exclude][:limit]
        assert outbox.peek(limit, exclude=exclude) == expected
        assert all(e.row_id not in acked for e in everything)
        assert [e.row_id for e in everything] == [
            i
            for _, i in sorted((p, i) for (p, _), i in zip(puts, ids, strict=True))
            if i not in acked
        ]


def test_size_bound_evicts_oldest_telemetry_first_and_logs_once_per_burst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = OutboxLimits(max_bytes=1000, hard_max_bytes=10_000)
    with caplog.at_level(logging.WARNING), SqliteOutbox(":memory:", limits=limits) as outbox:
        events = [put(outbox, Stream.EVENTS) for _ in range(3)]
        for _ in range(30):
            put(outbox, Stream.STATE)
            put(outbox, Stream.OBJECTS)
        assert outbox.size_bytes <= 1000
        kept = outbox.peek(100)
        assert [e.row_id for e in kept if e.stream is Stream.EVENTS] == events
        assert sum(outbox.evicted.values()) == 60 - (len(kept) - 3)
        assert outbox.size_bytes == sum(len(e.body) for e in kept)
    warnings = [r for r in caplog.records if "evicted" in r.getMessage()]
    assert len(warnings) == 1


def test_events_go_only_past_the_hard_bound_and_loudly(caplog: pytest.LogCaptureFixture) -> None:
    limits = OutboxLimits(max_bytes=300, hard_max_bytes=500)
    with caplog.at_level(logging.ERROR), SqliteOutbox(":memory:", limits=limits) as outbox:
        for _ in range(4):
            put(outbox, Stream.EVENTS)  # 400 bytes: over max_bytes, events stay
        assert outbox.evicted == {}
        assert len(outbox) == 4
        put(outbox, Stream.EVENTS)
        put(outbox, Stream.EVENTS)  # 600 bytes: over the hard bound
        assert outbox.evicted["events"] == 1
        assert outbox.size_bytes == 500
    assert any("hard_max_bytes" in r.getMessage() for r in caplog.records)


def test_age_bound_evicts_old_telemetry_only() -> None:
    now = [0]
    limits = OutboxLimits(max_age_s=10.0)
    with SqliteOutbox(":memory:", limits=limits, clock_ns=lambda: now[0]) as outbox:
        put(outbox, Stream.STATE)
        put(outbox, Stream.EVENTS)
        now[0] = int(5e9)
        fresh = put(outbox, Stream.STATE)
        now[0] = int(12e9)
        outbox.evict_expired()
        assert {e.stream for e in outbox.peek(10)} == {Stream.STATE, Stream.EVENTS}
        assert [e.row_id for e in outbox.peek(10) if e.stream is Stream.STATE] == [fresh]
        assert outbox.evicted == {"state": 1}


def test_commit_applies_the_age_bound_once_a_minute() -> None:
    now = [0]
    limits = OutboxLimits(max_age_s=10.0)
    with SqliteOutbox(":memory:", limits=limits, clock_ns=lambda: now[0]) as outbox:
        put(outbox, Stream.STATE)
        outbox.commit()
        now[0] = int(30e9)  # older than max_age_s, but the last check was under a minute ago
        outbox.commit()
        assert outbox.evicted == {}
        now[0] = int(EXPIRY_CHECK_S * 1e9)
        fresh = put(outbox, Stream.STATE)
        outbox.commit()
        assert [e.row_id for e in outbox.peek(10)] == [fresh]
        assert outbox.evicted == {"state": 1}


def test_closed_outbox_raises_and_close_is_idempotent(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "o.sqlite3")
    outbox.close()
    outbox.close()
    with pytest.raises(UplinkError, match="closed"):
        outbox.next_sequence()


def test_an_unwritable_place_is_an_uplink_error(tmp_path: Path) -> None:
    with pytest.raises(UplinkError, match="cannot open the outbox"):
        SqliteOutbox(tmp_path / "missing" / "o.sqlite3")


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        OutboxLimits(max_bytes=10, hard_max_bytes=5)
    with pytest.raises(ValueError, match="min_free_bytes"):
        OutboxLimits(min_free_bytes=-1)


def test_uncommitted_messages_are_peeked_with_stored_ones_and_acked_ones_never_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    with SqliteOutbox(path) as outbox:
        stored_state = put(outbox, Stream.STATE, priority=3)
        stored_event = put(outbox, Stream.EVENTS, priority=0)
        assert outbox.commit()
        held_state = put(outbox, Stream.STATE, priority=3)
        held_event = put(outbox, Stream.EVENTS, priority=0)
        sent = put(outbox, Stream.STATE, priority=3)
        outbox.ack(stored_state)
        order = [e.row_id for e in outbox.peek(10)]
        assert order == [stored_event, held_event, held_state, sent]
        assert [e.row_id for e in outbox.peek(2)] == [stored_event, held_event]
        assert outbox.max_id() == sent
        outbox.ack(sent)  # acknowledged before it was committed: never written
        assert (len(outbox), outbox.size_bytes) == (3, 300)
        assert outbox.commit()
        newer = put(outbox, Stream.STATE)
        assert newer > sent  # a running outbox never reuses a row id
        outbox.ack(newer)
    with SqliteOutbox(path) as reopened:
        assert [e.row_id for e in reopened.peek(10)] == [stored_event, held_event, held_state]


def test_uncommitted_bodies_are_bounded_telemetry_first(caplog: pytest.LogCaptureFixture) -> None:
    size = 64 * 1024
    with caplog.at_level(logging.WARNING), SqliteOutbox(":memory:") as outbox:
        events = [put(outbox, Stream.EVENTS, size=size, priority=0) for _ in range(4)]
        for _ in range(2 * MEMORY_MAX_BYTES // size):
            put(outbox, Stream.STATE, size=size)
        assert outbox.size_bytes <= MEMORY_MAX_BYTES
        assert outbox.evicted_for["memory"] > MEMORY_MAX_BYTES // size
        assert outbox.evicted["events"] == 0
        assert [e.row_id for e in outbox.peek(1000) if e.stream is Stream.EVENTS] == events
        assert outbox.counters()["uncommitted"] == len(outbox)
    assert len([r for r in caplog.records if "MEMORY_MAX_BYTES" in r.getMessage()]) == 1
