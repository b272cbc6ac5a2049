"""The message stores, SQLite and PostgreSQL, through one suite: dedupe, ordering, dead
letters, device status, loss accounting, transactions, lifecycle (SQLite's own upgrades and
files at the end; PostgreSQL's own schema in ``test_postgres_store.py``)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.errors import BridgeError, StoreError
from cloud_bridge.store import (
    DeviceStatusRecord,
    LossRecord,
    LossTotals,
    MessageStore,
    SqliteStore,
)
from cloud_bridge.store.postgres_steps import boot_key
from cloud_bridge.store.postgres_store import PostgresStore
from cloud_bridge.store.sqlite_store import CHECKPOINT_EVERY_COMMITS, WRITER_CHECKPOINT_BYTES
from cloud_bridge.validation import MAX_SQL_INTEGER, Accepted, validate
from protocols.envelope import STATUS_SEQUENCE_BASE
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import REGION, accepted, envelope, status, topic
from tests.cloud_bridge.postgres_db import empty_tables, fresh_schema, schema_dsn
from tests.support.waiting import wait_until

RECEIVED_NS = 1_767_225_700_000_000_000
KINDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class Location:
    """Where one test's store lives; ``open(**caps)`` opens it (again)."""

    kind: str
    open: Callable[..., MessageStore]


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with fresh_schema() as name:
        yield name


@pytest.fixture(params=KINDS)
def location(request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str) -> Location:
    if request.param == "sqlite":
        return Location("sqlite", partial(SqliteStore, tmp_path / "bridge.sqlite3"))
    empty_tables(pg_schema)
    return Location("postgres", partial(PostgresStore, schema_dsn(pg_schema)))


@pytest.fixture
def store(location: Location) -> Iterator[MessageStore]:
    with location.open() as opened:
        yield opened


def open_fresh(
    kind: str, tmp_path_factory: pytest.TempPathFactory, pg_schema: str, **caps: Any
) -> MessageStore:
    """An empty store of ``kind``, for hypothesis examples (no function-scoped fixtures)."""
    if kind == "sqlite":
        return SqliteStore(tmp_path_factory.mktemp("store") / "s.sqlite3", **caps)
    empty_tables(pg_schema)
    return PostgresStore(schema_dsn(pg_schema), **caps)


def test_stores_once_per_device_boot_and_sequence(store: MessageStore) -> None:
    first = accepted(envelope("rsu-001", 1))

    assert store.store(first, RECEIVED_NS) is True
    assert store.store(first, RECEIVED_NS + 1) is False
    assert store.store(accepted(envelope("rsu-001", 2)), RECEIVED_NS) is True
    assert store.store(accepted(envelope("rsu-001", 1, boot_id="boot-2")), RECEIVED_NS) is True
    assert store.store(accepted(envelope("rsu-002", 1)), RECEIVED_NS) is True

    assert store.count_messages() == 4
    (kept,) = [m for m in store.messages("rsu-001") if (m.boot_id, m.sequence) == ("boot-1", 1)]
    assert kept.received_time_ns == RECEIVED_NS


def test_keeps_every_column_and_the_exact_payload(store: MessageStore) -> None:
    env = envelope("obu-7", 5)
    env.historical = True
    item = accepted(env)

    store.store(item, RECEIVED_NS)

    (row,) = store.messages()
    assert row.payload == env.SerializeToString()
    assert (row.device_id, row.boot_id, row.sequence) == ("obu-7", "boot-1", 5)
    assert (row.stream, row.region, row.topic) == ("state", REGION, topic("obu-7"))
    assert (row.capture_time_ns, row.publish_time_ns) == (env.capture_time_ns, env.publish_time_ns)
    assert row.received_time_ns == RECEIVED_NS
    assert row.historical is True
    body = json.loads(row.body_json)
    assert body["device_id"] == "obu-7"
    assert body["vehicle_state"]["speed_mps"] == env.vehicle_state.speed_mps


def test_lists_messages_by_device_boot_and_sequence(store: MessageStore) -> None:
    keys = [("rsu-002", "b", 1), ("rsu-001", "b", 10), ("rsu-001", "a", 3), ("rsu-001", "b", 2)]
    store.store_many(
        (accepted(envelope(dev, seq, boot_id=boot)), RECEIVED_NS) for dev, boot, seq in keys
    )

    listed = [(m.device_id, m.boot_id, m.sequence) for m in store.messages()]

    assert listed == sorted(keys)
    assert [m.sequence for m in store.messages("rsu-001")] == [3, 2, 10]


def test_store_many_reports_duplicates_per_item(store: MessageStore) -> None:
    one, two = accepted(envelope(sequence=1)), accepted(envelope(sequence=2))

    assert store.store_many([(one, 1), (two, 2), (one, 3)]) == [True, True, False]
    assert store.store_many([(two, 4)]) == [False]


def test_long_and_odd_boot_ids_are_stored_once(store: MessageStore) -> None:
    # A boot id is a UUID, but a device may send 64 kB of anything: a database key, a
    # notification and an index entry have limits of their own.
    for boot in ("b" * 3000, "ß" * 9000, "nul\x00boot"):
        item = accepted(envelope("obu-1", 1, boot_id=boot))
        assert store.store(item, RECEIVED_NS) is True
        assert store.store(item, RECEIVED_NS) is False

    assert store.count_messages() == 3
    assert sorted(r.duplicates for r in store.loss_accounting()) == [1, 1, 1]


def test_counts_messages_by_stream_and_device(store: MessageStore) -> None:
    store.store(accepted(envelope("rsu-001", 1)), RECEIVED_NS)
    store.store(accepted(envelope("rsu-002", 1)), RECEIVED_NS)
    store.store(accepted(status("rsu-001", 2, pb.LIVENESS_ONLINE), "status"), RECEIVED_NS)

    assert store.count_messages() == 3
    assert store.count_messages(stream="state") == 2
    assert store.count_messages(stream="status", device_id="rsu-001") == 1
    assert store.count_messages(device_id="rsu-001") == 2
    assert store.count_messages(stream="events") == 0


def test_a_failed_transaction_stores_nothing(store: MessageStore) -> None:
    def write_then_fail() -> None:
        with store.transaction():
            store.store(accepted(envelope(sequence=1)), RECEIVED_NS)
            store.dead_letter(topic(), b"x", "malformed", "bad", RECEIVED_NS)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()

    assert store.count_messages() == 0
    assert store.dead_letter_reasons() == {}
    assert store.store(accepted(envelope(sequence=1)), RECEIVED_NS) is True


def test_dead_letters_keep_topic_reason_detail_and_payload(store: MessageStore) -> None:
    store.dead_letter(topic(), b"\xff\x00", "malformed", "not an Envelope", 1)
    store.dead_letter("rg/v1/x/y/bogus", b"", "bad_topic", "unknown stream", 2)
    store.dead_letter(topic("b"), b"abc", "malformed", "truncated", 3)

    assert store.dead_letter_reasons() == {"malformed": 2, "bad_topic": 1}
    first, second, third = store.dead_letters()
    assert (first.topic, first.reason, first.detail, first.payload) == (
        topic(),
        "malformed",
        "not an Envelope",
        b"\xff\x00",
    )
    assert (second.received_time_ns, second.payload) == (2, b"")
    assert third.id > second.id > first.id


def test_dead_letter_survives_an_unencodable_topic(store: MessageStore) -> None:
    store.dead_letter("rg/v1/\ud800/x/state", b"", "bad_topic", "lone \udcff", 1)

    (letter,) = store.dead_letters()
    assert letter.topic == "rg/v1/\\ud800/x/state"


def test_status_messages_update_device_status_and_are_stored(store: MessageStore) -> None:
    store.store(
        accepted(status("rsu-001", 1, pb.LIVENESS_ONLINE, capture_time_ns=1000), "status"), 5
    )
    store.store(accepted(status("rsu-002", 1, pb.LIVENESS_LOST, capture_time_ns=2000), "status"), 5)
    store.store(accepted(envelope("rsu-003", 1)), 5)

    role, version = "DEVICE_ROLE_ROADSIDE_UNIT", "1.2.3"
    assert store.device_statuses() == [
        DeviceStatusRecord("rsu-001", REGION, "LIVENESS_ONLINE", role, version, 1000, "boot-1", 1),
        DeviceStatusRecord("rsu-002", REGION, "LIVENESS_LOST", role, version, 2000, "boot-1", 1),
    ]
    assert store.count_messages(stream="status") == 2


def _status_of(store: MessageStore) -> tuple[str, str, int]:
    (latest,) = store.device_statuses()
    return latest.liveness, latest.boot_id, latest.sequence


def _put_status(store: MessageStore, env: pb.Envelope) -> None:
    assert store.store(accepted(env, "status"), RECEIVED_NS)


def test_an_older_status_does_not_replace_a_newer_one(store: MessageStore) -> None:
    _put_status(store, status("rsu-001", 2, pb.LIVENESS_OFFLINE, capture_time_ns=2000))
    _put_status(store, status("rsu-001", 1, pb.LIVENESS_ONLINE, capture_time_ns=1000))
    assert _status_of(store) == ("LIVENESS_OFFLINE", "boot-1", 2)

    _put_status(store, status("rsu-001", 3, pb.LIVENESS_ONLINE, boot_id="boot-2"))
    assert _status_of(store) == ("LIVENESS_ONLINE", "boot-2", 3)
    assert store.count_messages(stream="status") == 3


def test_a_far_future_timestamp_does_not_freeze_the_status(store: MessageStore) -> None:
    year_2100 = 4_102_444_800 * 10**9
    _put_status(store, status("rsu-001", 10, pb.LIVENESS_ONLINE, capture_time_ns=year_2100))
    _put_status(store, status("rsu-001", 11, pb.LIVENESS_OFFLINE, capture_time_ns=1000))

    (latest,) = store.device_statuses()
    assert (latest.liveness, latest.sequence, latest.updated_time_ns) == (
        "LIVENESS_OFFLINE",
        11,
        1000,
    )


def test_a_new_boot_wins_even_when_its_sequence_starts_over(store: MessageStore) -> None:
    # A device whose outbox was replaced (new SD card, volatile outbox) counts from 1 again.
    _put_status(store, status("rsu-001", 500, pb.LIVENESS_ONLINE, boot_id="boot-1"))
    _put_status(store, status("rsu-001", 1, pb.LIVENESS_ONLINE, boot_id="boot-2"))
    assert _status_of(store) == ("LIVENESS_ONLINE", "boot-2", 1)

    # A late status of the earlier boot (its retained will) does not take over again.
    _put_status(store, status("rsu-001", 501, pb.LIVENESS_LOST, boot_id="boot-1"))
    assert _status_of(store) == ("LIVENESS_ONLINE", "boot-2", 1)

    _put_status(store, status("rsu-001", 2, pb.LIVENESS_OFFLINE, boot_id="boot-2"))
    assert _status_of(store) == ("LIVENESS_OFFLINE", "boot-2", 2)


def test_the_last_will_replaces_the_birth_it_was_sealed_before(store: MessageStore) -> None:
    # The publisher seals its will (sequence 7) when it connects, then publishes its birth (8).
    _put_status(store, status("rsu-001", 8, pb.LIVENESS_ONLINE))
    _put_status(store, status("rsu-001", 7, pb.LIVENESS_LOST))
    assert _status_of(store) == ("LIVENESS_LOST", "boot-1", 7)

    # The next connection's birth wins again, and a clean goodbye is not overwritten by the will.
    _put_status(store, status("rsu-001", 10, pb.LIVENESS_ONLINE))
    assert _status_of(store) == ("LIVENESS_ONLINE", "boot-1", 10)
    _put_status(store, status("rsu-001", 11, pb.LIVENESS_OFFLINE))
    _put_status(store, status("rsu-001", 9, pb.LIVENESS_LOST))
    assert _status_of(store) == ("LIVENESS_OFFLINE", "boot-1", 11)


def test_statuses_of_devices_are_ordered_independently(store: MessageStore) -> None:
    _put_status(store, status("rsu-001", 5, pb.LIVENESS_ONLINE, boot_id="a"))
    _put_status(store, status("rsu-002", 1, pb.LIVENESS_ONLINE, boot_id="b"))
    _put_status(store, status("rsu-002", 2, pb.LIVENESS_OFFLINE, boot_id="a"))

    assert [(s.device_id, s.liveness, s.boot_id) for s in store.device_statuses()] == [
        ("rsu-001", "LIVENESS_ONLINE", "a"),
        ("rsu-002", "LIVENESS_OFFLINE", "a"),
    ]


def test_keeps_the_clock_suspect_flag(store: MessageStore) -> None:
    good = accepted(envelope(sequence=1))
    store.store(good, RECEIVED_NS)
    store.store(dataclasses.replace(accepted(envelope(sequence=2)), clock_suspect=True), 1)

    assert [(m.sequence, m.clock_suspect) for m in store.messages()] == [(1, False), (2, True)]


# --- loss accounting ------------------------------------------------------------------------


def _put(store: MessageStore, device: str, boot: str, *sequences: int) -> list[bool]:
    return store.store_many(
        (accepted(envelope(device, seq, boot_id=boot)), RECEIVED_NS) for seq in sequences
    )


def test_loss_accounting_counts_delivered_duplicates_and_gaps(store: MessageStore) -> None:
    assert _put(store, "obu-1", "b1", 1, 2, 2, 5, 6) == [True, True, False, True, True]
    _put(store, "obu-1", "b1", 6, 10)

    assert store.loss_accounting() == [LossRecord("obu-1", "b1", 1, 10, 5, 2, 5, 0)]
    assert store.loss_accounting()[0].missing_total == 5
    assert store.loss_totals() == LossTotals(delivered=5, duplicates=2, missing=5)


def test_loss_accounting_follows_numbering_across_boots(store: MessageStore) -> None:
    # The outbox numbers across restarts: 4..6 never arrived between the two boots.
    _put(store, "obu-1", "first", 1, 2, 3)
    _put(store, "obu-1", "second", 7, 8)
    # A replaced outbox starts over at 1: no loss is invented between these boots.
    _put(store, "obu-1", "third", 20)
    _put(store, "obu-1", "fresh", 1, 3)
    _put(store, "rsu-9", "x", 100)

    records = {(r.device_id, r.boot_id): r for r in store.loss_accounting()}

    assert (records["obu-1", "first"].missing, records["obu-1", "first"].missing_before) == (0, 0)
    assert (records["obu-1", "second"].missing, records["obu-1", "second"].missing_before) == (
        0,
        3,
    )
    assert records["obu-1", "third"].missing_before == 11
    assert (records["obu-1", "fresh"].missing, records["obu-1", "fresh"].missing_before) == (1, 0)
    assert records["rsu-9", "x"] == LossRecord("rsu-9", "x", 100, 100, 1, 0, 0, 0)
    assert [r.boot_id for r in store.loss_accounting("rsu-9")] == ["x"]
    # 3 between the first two boots, 11 before "third", 1 within "fresh".
    assert store.loss_totals() == LossTotals(delivered=9, duplicates=0, missing=15)


def test_loss_accounting_is_undone_with_its_transaction(store: MessageStore) -> None:
    _put(store, "obu-1", "b", 1)

    def store_then_fail() -> None:
        with store.transaction():
            _put(store, "obu-1", "b", 1, 2, 9)
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError, match="undo"):
        store_then_fail()
    assert store.loss_accounting() == [LossRecord("obu-1", "b", 1, 1, 1, 0, 0, 0)]


def test_a_batch_with_the_same_key_twice_stores_the_first(store: MessageStore) -> None:
    first = accepted(envelope("obu-1", 4))
    again = dataclasses.replace(accepted(envelope("obu-1", 4)), clock_suspect=True)

    assert store.store_many([(first, 1), (again, 2)]) == [True, False]
    (kept,) = store.messages()
    assert (kept.received_time_ns, kept.clock_suspect) == (1, False)


# --- dead-letter caps ------------------------------------------------------------------------


def test_dead_letters_are_capped_in_number_oldest_first(location: Location) -> None:
    with location.open(max_dead_letters=3) as store:
        dropped = [store.dead_letter(topic(), bytes([i]), "malformed", "x", i) for i in range(5)]

        assert dropped == [0, 0, 0, 1, 1]
        assert store.dead_letters_dropped == 2
        assert [d.payload for d in store.dead_letters()] == [b"\x02", b"\x03", b"\x04"]
        assert store.dead_letter_usage()[0] == 3


def test_dead_letters_are_capped_in_bytes_topic_and_detail_included(location: Location) -> None:
    one = len(topic()) + len("detail") + 1000
    with location.open(max_dead_letter_bytes=3 * one) as store:
        for i in range(3):
            store.dead_letter(topic(), bytes([i]) * 1000, "malformed", "detail", i)
        assert store.dead_letter_usage() == (3, 3 * one)

        # Twice the room of one: the two oldest go.
        assert store.dead_letter(topic(), b"x" * (1000 + one), "oversized", "detail", 9) == 2
        assert [d.received_time_ns for d in store.dead_letters()] == [2, 9]
        assert store.dead_letter_usage() == (2, 3 * one)


def test_a_dead_letter_larger_than_the_cap_replaces_everything(location: Location) -> None:
    with location.open(max_dead_letter_bytes=100) as store:
        store.dead_letter(topic(), b"a", "malformed", "", 1)
        store.dead_letter(topic(), b"b" * 500, "oversized", "", 2)

        assert store.dead_letters() == []
        assert store.dead_letter_usage() == (0, 0)
        assert store.dead_letters_dropped == 2


def test_dead_letter_usage_is_counted_again_on_reopen_and_after_a_rollback(
    location: Location,
) -> None:
    with location.open() as store:
        store.dead_letter(topic(), b"abc", "malformed", "d", 1)
    with location.open(max_dead_letters=1) as store:
        size = len(topic()) + 4
        assert store.dead_letter_usage() == (1, size)

        def dead_letter_then_fail() -> None:
            with store.transaction():
                store.dead_letter(topic(), b"wxyz", "malformed", "d", 2)  # drops the first
                raise RuntimeError("undo")

        with pytest.raises(RuntimeError, match="undo"):
            dead_letter_then_fail()
        assert store.dead_letter_usage() == (1, size)
        assert [d.received_time_ns for d in store.dead_letters()] == [1]


@pytest.mark.parametrize(("rows", "size"), [(0, 10), (10, 0)])
def test_rejects_a_dead_letter_cap_below_one(location: Location, rows: int, size: int) -> None:
    with pytest.raises(ValueError, match="dead-letter caps"):
        location.open(max_dead_letters=rows, max_dead_letter_bytes=size)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=200), st.binary(max_size=3000), st.text(max_size=200)),
        max_size=30,
    ),
    st.integers(1, 10),
    st.integers(1, 8000),
)
def test_dead_letters_never_exceed_their_caps(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    pg_schema: str,
    letters: list[tuple[str, bytes, str]],
    max_rows: int,
    max_bytes: int,
) -> None:
    caps = {"max_dead_letters": max_rows, "max_dead_letter_bytes": max_bytes}
    with open_fresh(kind, tmp_path_factory, pg_schema, **caps) as store:
        for i, (topic_, payload, detail) in enumerate(letters):
            store.dead_letter(topic_, payload, "malformed", detail, i)
        rows, used = store.dead_letter_usage()
        kept = store.dead_letters()
        assert rows == len(kept) <= max_rows
        assert used <= max_bytes
        assert rows + store.dead_letters_dropped == len(letters)
        assert used == sum(
            len(d.payload) + len(d.topic.encode()) + len(d.detail.encode()) for d in kept
        )
        # Whatever is kept is the newest.
        assert [d.received_time_ns for d in kept] == list(range(len(letters) - rows, len(letters)))


# --- stores written by an earlier bridge ------------------------------------------------------

_OLD_SCHEMA = """
CREATE TABLE messages (device_id TEXT NOT NULL, boot_id TEXT NOT NULL, sequence INTEGER NOT NULL,
    stream TEXT NOT NULL, region TEXT NOT NULL, topic TEXT NOT NULL,
    capture_time_ns INTEGER NOT NULL, publish_time_ns INTEGER NOT NULL,
    received_time_ns INTEGER NOT NULL, historical INTEGER NOT NULL, payload BLOB NOT NULL,
    body_json TEXT NOT NULL, PRIMARY KEY (device_id, boot_id, sequence));
CREATE TABLE device_status (device_id TEXT PRIMARY KEY, region TEXT NOT NULL,
    liveness TEXT NOT NULL, role TEXT NOT NULL, software_version TEXT NOT NULL,
    updated_time_ns INTEGER NOT NULL, boot_id TEXT NOT NULL);
INSERT INTO messages VALUES ('rsu-001', 'old', 1, 'state', 'xian', 't', 1, 1, 1, 0, x'', '{}');
INSERT INTO device_status VALUES ('rsu-001', 'xian', 'LIVENESS_ONLINE', 'r', 'v',
    4102444800000000000, 'old');
"""


def test_upgrades_a_store_of_an_earlier_bridge(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.executescript(_OLD_SCHEMA)
    raw.close()

    with SqliteStore(path) as store:
        (old,) = store.messages()
        assert old.clock_suspect is False
        # Loss accounting counts what the old store held (its duplicates went unrecorded).
        assert store.loss_accounting() == [LossRecord("rsu-001", "old", 1, 1, 1, 0, 0, 0)]
        # The old row's status was dated 2100; a status of a new boot replaces it.
        _put_status(store, status("rsu-001", 1, pb.LIVENESS_OFFLINE, boot_id="new"))
        assert _status_of(store) == ("LIVENESS_OFFLINE", "new", 1)


def test_unknown_enum_values_are_kept_as_numbers(store: MessageStore) -> None:
    env = status("rsu-001", 1, pb.LIVENESS_ONLINE)
    env.status.liveness = 99  # type: ignore[assignment]

    store.store(accepted(env, "status"), RECEIVED_NS)

    assert store.device_statuses()[0].liveness == "99"


def test_persists_across_reopen(location: Location) -> None:
    with location.open() as first:
        first.store(accepted(envelope()), RECEIVED_NS)
        first.dead_letter(topic(), b"", "malformed", "x", 1)

    with location.open() as again:
        assert again.count_messages() == 1
        assert again.store(accepted(envelope()), RECEIVED_NS) is False
        assert again.dead_letter_reasons() == {"malformed": 1}
        (loss,) = again.loss_accounting()
        assert (loss.delivered, loss.duplicates) == (1, 1)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite3"
    SqliteStore(path).close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_checkpoints_run_in_a_thread_that_stops_with_the_store(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite3"
    with SqliteStore(path) as store:
        empty = path.stat().st_size
        for batch in range(CHECKPOINT_EVERY_COMMITS):
            store.store_many(
                [(accepted(envelope(sequence=batch * 20 + n + 1)), RECEIVED_NS) for n in range(20)]
            )
        # Far below the writer's own bound: only the background thread copies the WAL.
        assert path.with_name(path.name + "-wal").stat().st_size < WRITER_CHECKPOINT_BYTES // 4
        wait_until(lambda: path.stat().st_size > empty, what="a checkpoint grew the file")
        assert any(t.name == "bridge-store-checkpoint" for t in threading.enumerate())
    assert not any(t.name == "bridge-store-checkpoint" for t in threading.enumerate())
    with SqliteStore(path) as reopened:
        assert reopened.count_messages() == CHECKPOINT_EVERY_COMMITS * 20


def test_close_is_idempotent_and_use_after_close_fails(location: Location) -> None:
    store = location.open()
    store.close()
    store.close()

    assert store.closed
    with pytest.raises(StoreError, match="closed"):
        store.count_messages()
    with pytest.raises(StoreError, match="closed"):
        store.store(accepted(envelope()), RECEIVED_NS)


def test_an_unopenable_path_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open") as caught:
        SqliteStore(tmp_path / "missing-dir" / "bridge.sqlite3")
    assert isinstance(caught.value, BridgeError)


_INT64 = st.integers(-(2**63), 2**63 - 1)


@pytest.mark.parametrize("kind", KINDS)
@settings(deadline=None)
@given(
    device_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z"),
    boot_id=st.text(min_size=1, max_size=40) | st.text(min_size=250, max_size=3000),
    sequence=st.integers(0, MAX_SQL_INTEGER),
    capture=_INT64,
    publish=_INT64,
    speed=st.floats(0.0, 150.0),
)
def test_every_accepted_message_can_be_stored(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    pg_schema: str,
    device_id: str,
    boot_id: str,
    sequence: int,
    capture: int,
    publish: int,
    speed: float,
) -> None:
    env = envelope(device_id, 1, boot_id=boot_id, body=pb.VehicleState(speed_mps=speed))
    env.sequence, env.capture_time_ns, env.publish_time_ns = sequence, capture, publish
    verdict = validate(topic(device_id), env.SerializeToString(), 65536)
    assert isinstance(verdict, Accepted)

    with open_fresh(kind, tmp_path_factory, pg_schema) as store:
        assert store.store(verdict, RECEIVED_NS) is True
        assert store.store(verdict, RECEIVED_NS) is False
        (row,) = store.messages()
        losses = store.loss_accounting()
    # PostgreSQL text cannot hold NUL: such a boot id is kept with U+FFFD (the payload is exact).
    kept_boot = boot_id if kind == "sqlite" else boot_key(boot_id)
    assert (row.boot_id, row.sequence, row.capture_time_ns) == (kept_boot, sequence, capture)
    assert row.payload == verdict.payload
    # Numbers from STATUS_SEQUENCE_BASE up are statuses' (protocols.envelope): not counted.
    expected = [(1, 1, 0)] if sequence < STATUS_SEQUENCE_BASE else []
    assert [(loss.delivered, loss.duplicates, loss.missing) for loss in losses] == expected
