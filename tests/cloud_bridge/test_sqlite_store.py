"""SqliteStore: dedupe, ordering, dead letters, device status, transactions, lifecycle."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
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
        DeviceStatusRecord("rsu-001", REGION, "LIVENESS_ONLINE", role, version, 1000, "boot-1"),
        DeviceStatusRecord("rsu-002", REGION, "LIVENESS_LOST", role, version, 2000, "boot-1"),
    ]
    assert store.count_messages(stream="status") == 2


def test_an_older_status_does_not_replace_a_newer_one(store: SqliteStore) -> None:
    newer = status("rsu-001", 2, pb.LIVENESS_OFFLINE, capture_time_ns=2000)
    older = status("rsu-001", 1, pb.LIVENESS_ONLINE, capture_time_ns=1000)
    newest = status("rsu-001", 1, pb.LIVENESS_ONLINE, boot_id="boot-2", capture_time_ns=3000)

    store.store(accepted(newer, "status"), RECEIVED_NS)
    store.store(accepted(older, "status"), RECEIVED_NS)
    assert [s.liveness for s in store.device_statuses()] == ["LIVENESS_OFFLINE"]

    store.store(accepted(newest, "status"), RECEIVED_NS)
    (latest,) = store.device_statuses()
    assert (latest.liveness, latest.boot_id, latest.updated_time_ns) == (
        "LIVENESS_ONLINE",
        "boot-2",
        3000,
    )
    assert store.count_messages(stream="status") == 3


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
    speed=st.floats(allow_nan=True, allow_infinity=True),
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
