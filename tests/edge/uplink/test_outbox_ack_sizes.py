"""``ack`` takes the size of a row it was shown by ``peek`` from memory rather than the database:
the outbox's byte and row counts stay those of the database, whatever the order of puts,
commits, peeks, acknowledgements and evictions."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import edge.uplink.outbox as outbox_module
from edge.uplink.outbox import OutboxLimits, SqliteOutbox
from protocols.topics import Stream

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"), st.sampled_from([Stream.STATE, Stream.EVENTS]), st.integers(1, 300)
        ),
        st.tuples(st.just("commit")),
        st.tuples(st.just("peek"), st.integers(1, 8)),
        st.tuples(st.just("ack"), st.integers(0, 40)),
    ),
    max_size=60,
)


def stored(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as db:
        size, rows = db.execute(
            "SELECT COALESCE(SUM(LENGTH(body)), 0), COUNT(*) FROM outbox"
        ).fetchone()
    return int(size), int(rows)


@settings(max_examples=60, deadline=None)
@given(OPERATIONS, st.sampled_from([2, 100_000]))
def test_counts_match_the_database_after_any_operations(
    operations: list[tuple[object, ...]], sizes_kept: int
) -> None:
    original = outbox_module.SIZES_KEPT
    outbox_module.SIZES_KEPT = sizes_kept  # a small one forgets, and falls back to reading
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "outbox.sqlite3"
            # A small bound: puts evict committed telemetry, some of it peeked and in flight.
            limits = OutboxLimits(max_bytes=1500, hard_max_bytes=4000)
            with SqliteOutbox(path, limits=limits) as outbox:
                ids: list[int] = []
                for operation in operations:
                    match operation:
                        case ("put", Stream() as stream, int(size)):
                            sequence = outbox.next_sequence()
                            ids.append(outbox.put(stream, 3, "boot", sequence, 0, b"x" * size))
                        case ("commit",):
                            outbox.commit()
                        case ("peek", int(limit)):
                            outbox.peek(limit)
                        case ("ack", int(index)) if ids:
                            outbox.ack(ids[index % len(ids)])
                outbox.commit()
                counted = outbox.size_bytes, len(outbox)
            assert counted == stored(path)
    finally:
        outbox_module.SIZES_KEPT = original


def test_an_acknowledged_peeked_row_is_not_read_again(tmp_path: Path) -> None:
    with SqliteOutbox(tmp_path / "outbox.sqlite3") as outbox:
        row = outbox.put(Stream.STATE, 3, "boot", outbox.next_sequence(), 0, b"abc")
        outbox.commit()
        (entry,) = outbox.peek(1)
        assert entry.row_id == row
        reads: list[str] = []
        assert outbox._db is not None
        outbox._db.set_trace_callback(reads.append)
        outbox.ack(row)
        assert not any("LENGTH(body)" in sql for sql in reads)
        assert outbox.size_bytes == 0
        assert len(outbox) == 0


def test_a_peeked_row_evicted_then_acknowledged_is_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    limits = OutboxLimits(max_bytes=1000, hard_max_bytes=4000)
    with SqliteOutbox(path, limits=limits) as outbox:
        sent = outbox.put(Stream.STATE, 3, "boot", outbox.next_sequence(), 0, b"s" * 400)
        outbox.commit()
        assert [e.row_id for e in outbox.peek(10)] == [sent]  # in flight now
        outbox.put(Stream.STATE, 3, "boot", outbox.next_sequence(), 0, b"n" * 700)  # evicts it
        outbox.commit()  # its deletion is written
        outbox.ack(sent)  # then its acknowledgement comes
        counted = outbox.size_bytes, len(outbox)
        outbox.commit()
        assert counted == stored(path) == (700, 1)
