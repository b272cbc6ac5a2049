"""SqliteStore: dedupe, ordering, dead letters, device status, transactions, lifecycle."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.errors import BridgeError, StoreError
from cloud_bridge.store import DeviceStatusRecord, SqliteStore
from cloud_bridge.validation import MAX_SQL_INTEGER, Accepted, validate
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import REGION, accepted, envelope, status, topic

RECEIVED_NS = 1_767_225_700_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "bridge.sqlite3") as opened:
        yield opened


def test_stores_once_per_device_boot_and_sequence(store: SqliteStore) -> None:
    first = accepted(envelope("rsu-001", 1))

    assert store.store(first, RECEIVED_NS) is True
    assert store.store(first, RECEIVED_NS + 1) is False
    assert store.store(accepted(envelope("rsu-001", 2)), RECEIVED_NS) is True
    assert store.store(accepted(envelope("rsu-001", 1, boot_id="boot-2")), RECEIVED_NS) is True
    assert store.store(accepted(envelope("rsu-002", 1)), RECEIVED_NS) is True

    assert store.count_messages() == 4
    (kept,) = [m for m in store.messages("rsu-001") if (m.boot_id, m.sequence) == ("boot-1", 1)]
    assert kept.received_time_ns == RECEIVED_NS


def test_keeps_every_column_and_the_exact_payload(store: SqliteStore) -> None:
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


def test_lists_messages_by_device_boot_and_sequence(store: SqliteStore) -> None:
    keys = [("rsu-002", "b", 1), ("rsu-001", "b", 10), ("rsu-001", "a", 3), ("rsu-001", "b", 2)]
    store.store_many(
        (accepted(envelope(dev, seq, boot_id=boot)), RECEIVED_NS) for dev, boot, seq in keys
    )

    listed = [(m.device_id, m.boot_id, m.sequence) for m in store.messages()]

    assert listed == sorted(keys)
    assert [m.sequence for m in store.messages("rsu-001")] == [3, 2, 10]


def test_store_many_reports_duplicates_per_item(store: SqliteStore) -> None:
    one, two = accepted(envelope(sequence=1)), accepted(envelope(sequence=2))

    assert store.store_many([(one, 1), (two, 2), (one, 3)]) == [True, True, False]
    assert store.store_many([(two, 4)]) == [False]


def test_counts_messages_by_stream_and_device(store: SqliteStore) -> None:
    store.store(accepted(envelope("rsu-001", 1)), RECEIVED_NS)
    store.store(accepted(envelope("rsu-002", 1)), RECEIVED_NS)
    store.store(accepted(status("rsu-001", 2, pb.LIVENESS_ONLINE), "status"), RECEIVED_NS)

    assert store.count_messages() == 3
    assert store.count_messages(stream="state") == 2
    assert store.count_messages(stream="status", device_id="rsu-001") == 1
    assert store.count_messages(device_id="rsu-001") == 2
    assert store.count_messages(stream="events") == 0


def test_a_failed_transaction_stores_nothing(store: SqliteStore) -> None:
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


def test_dead_letters_keep_topic_reason_detail_and_payload(store: SqliteStore) -> None:
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


def test_dead_letter_survives_an_unencodable_topic(store: SqliteStore) -> None:
    store.dead_letter("rg/v1/\ud800/x/state", b"", "bad_topic", "lone \udcff", 1)

    (letter,) = store.dead_letters()
    assert letter.topic == "rg/v1/\\ud800/x/state"


def test_status_messages_update_device_status_and_are_stored(store: SqliteStore) -> None:
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


def _status_of(store: SqliteStore) -> tuple[str, str, int]:
    (latest,) = store.device_statuses()
    return latest.liveness, latest.boot_id, latest.sequence


def _put_status(store: SqliteStore, env: pb.Envelope) -> None:
    assert store.store(accepted(env, "status"), RECEIVED_NS)


def test_an_older_status_does_not_replace_a_newer_one(store: SqliteStore) -> None:
    _put_status(store, status("rsu-001", 2, pb.LIVENESS_OFFLINE, capture_time_ns=2000))
    _put_status(store, status("rsu-001", 1, pb.LIVENESS_ONLINE, capture_time_ns=1000))
    assert _status_of(store) == ("LIVENESS_OFFLINE", "boot-1", 2)

    _put_status(store, status("rsu-001", 3, pb.LIVENESS_ONLINE, boot_id="boot-2"))
    assert _status_of(store) == ("LIVENESS_ONLINE", "boot-2", 3)
    assert store.count_messages(stream="status") == 3


def test_a_far_future_timestamp_does_not_freeze_the_status(store: SqliteStore) -> None:
    year_2100 = 4_102_444_800 * 10**9
    _put_status(store, status("rsu-001", 10, pb.LIVENESS_ONLINE, capture_time_ns=year_2100))
    _put_status(store, status("rsu-001", 11, pb.LIVENESS_OFFLINE, capture_time_ns=1000))

    (latest,) = store.device_statuses()
    assert (latest.liveness, latest.sequence, latest.updated_time_ns) == (
        "LIVENESS_OFFLINE",
        11,
        1000,
    )


def test_a_new_boot_wins_even_when_its_sequence_starts_over(store: SqliteStore) -> None:
    # A device whose outbox was replaced (new SD card, volatile outbox) counts from 1 again.
    _put_status(store, status("rsu-001", 500, pb.LIVENESS_ONLINE, boot_id="boot-1"))
    _put_status(store, status("rsu-001", 1, pb.LIVENESS_ONLINE, boot_id="boot-2"))
    assert _status_of(store) == ("LIVENESS_ONLINE", "boot-2", 1)

    # A late status of the earlier boot (its retained will) does not take over again.
    _put_status(store, status("rsu-001", 501, pb.LIVENESS_LOST, boot_id="boot-1"))
    assert _status_of(store) == ("LIVENESS_ONLINE", "boot-2", 1)

    _put_status(store, status("rsu-001", 2, pb.LIVENESS_OFFLINE, boot_id="boot-2"))
    assert _status_of(store) == ("LIVENESS_OFFLINE", "boot-2", 2)


def test_the_last_will_replaces_the_birth_it_was_sealed_before(store: SqliteStore) -> None:
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


def test_statuses_of_devices_are_ordered_independently(store: SqliteStore) -> None:
    _put_status(store, status("rsu-001", 5, pb.LIVENESS_ONLINE, boot_id="a"))
    _put_status(store, status("rsu-002", 1, pb.LIVENESS_ONLINE, boot_id="b"))
    _put_status(store, status("rsu-002", 2, pb.LIVENESS_OFFLINE, boot_id="a"))

    assert [(s.device_id, s.liveness, s.boot_id) for s in store.device_statuses()] == [
        ("rsu-001", "LIVENESS_ONLINE", "a"),
        ("rsu-002", "LIVENESS_OFFLINE", "a"),
    ]


def test_keeps_the_clock_suspect_flag(store: SqliteStore) -> None:
    good = accepted(envelope(sequence=1))
    store.store(good, RECEIVED_NS)
    store.store(dataclasses.replace(accepted(envelope(sequence=2)), clock_suspect=True), 1)

    assert [(m.sequence, m.clock_suspect) for m in store.messages()] == [(1, False), (2, True)]


# --- dead-letter caps ------------------------------------------------------------------------


def test_dead_letters_are_capped_in_number_oldest_first(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "b.sqlite3", max_dead_letters=3) as store:
        dropped = [store.dead_letter(topic(), bytes([i]), "malformed", "x", i) for i in range(5)]

        assert dropped == [0, 0, 0, 1, 1]
        assert store.dead_letters_dropped == 2
        assert [d.payload for d in store.dead_letters()] == [b"\x02", b"\x03", b"\x04"]
        assert store.dead_letter_usage()[0] == 3


def test_dead_letters_are_capped_in_bytes_topic_and_detail_included(tmp_path: Path) -> None:
    one = len(topic()) + len("detail") + 1000
    with SqliteStore(tmp_path / "b.sqlite3", max_dead_letter_bytes=3 * one) as store:
        for i in range(3):
            store.dead_letter(topic(), bytes([i]) * 1000, "malformed", "detail", i)
        assert store.dead_letter_usage() == (3, 3 * one)

        # Twice the room of one: the two oldest go.
        assert store.dead_letter(topic(), b"x" * (1000 + one), "oversized", "detail", 9) == 2
        assert [d.received_time_ns for d in store.dead_letters()] == [2, 9]
        assert store.dead_letter_usage() == (2, 3 * one)


def test_a_dead_letter_larger_than_the_cap_replaces_everything(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "b.sqlite3", max_dead_letter_bytes=100) as store:
        store.dead_letter(topic(), b"a", "malformed", "", 1)
        store.dead_letter(topic(), b"b" * 500, "oversized", "", 2)

        assert store.dead_letters() == []
        assert store.dead_letter_usage() == (0, 0)
        assert store.dead_letters_dropped == 2


def test_dead_letter_usage_is_counted_again_on_reopen_and_after_a_rollback(
    tmp_path: Path,
) -> None:
    path = tmp_path / "b.sqlite3"
    with SqliteStore(path) as store:
        store.dead_letter(topic(), b"abc", "malformed", "d", 1)
    with SqliteStore(path, max_dead_letters=1) as store:
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
def test_rejects_a_dead_letter_cap_below_one(tmp_path: Path, rows: int, size: int) -> None:
    with pytest.raises(ValueError, match="dead-letter caps"):
        SqliteStore(tmp_path / "b.sqlite3", max_dead_letters=rows, max_dead_letter_bytes=size)


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
    tmp_path_factory: pytest.TempPathFactory,
    letters: list[tuple[str, bytes, str]],
    max_rows: int,
    max_bytes: int,
) -> None:
    path = tmp_path_factory.mktemp("caps") / "b.sqlite3"
    with SqliteStore(path, max_dead_letters=max_rows, max_dead_letter_bytes=max_bytes) as store:
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
        # The old row's status was dated 2100; a status of a new boot replaces it.
        _put_status(store, status("rsu-001", 1, pb.LIVENESS_OFFLINE, boot_id="new"))
        assert _status_of(store) == ("LIVENESS_OFFLINE", "new", 1)


def test_unknown_enum_values_are_kept_as_numbers(store: SqliteStore) -> None:
    env = status("rsu-001", 1, pb.LIVENESS_ONLINE)
    env.status.liveness = 99  # type: ignore[assignment]

    store.store(accepted(env, "status"), RECEIVED_NS)

    assert store.device_statuses()[0].liveness == "99"


def test_persists_across_reopen_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite3"
    with SqliteStore(path) as first:
        first.store(accepted(envelope()), RECEIVED_NS)
        first.dead_letter(topic(), b"", "malformed", "x", 1)

    with SqliteStore(path) as again:
        assert again.count_messages() == 1
        assert again.store(accepted(envelope()), RECEIVED_NS) is False
        assert again.dead_letter_reasons() == {"malformed": 1}
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_close_is_idempotent_and_use_after_close_fails(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bridge.sqlite3")
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


@given(
    device_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z"),
    boot_id=st.text(min_size=1, max_size=40),
    sequence=st.integers(0, MAX_SQL_INTEGER),
    capture=_INT64,
    publish=_INT64,
    speed=st.floats(0.0, 150.0),
)
def test_every_accepted_message_can_be_stored(
    tmp_path_factory: pytest.TempPathFactory,
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

    with SqliteStore(tmp_path_factory.mktemp("fuzz") / "s.sqlite3") as store:
        assert store.store(verdict, RECEIVED_NS) is True
        (row,) = store.messages()
    assert (row.boot_id, row.sequence, row.capture_time_ns) == (boot_id, sequence, capture)
    assert row.payload == verdict.payload
