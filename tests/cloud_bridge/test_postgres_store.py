"""PostgresStore's own parts: migrations, partitions and retention, the change stream, the
registry and latest state, the views, workers sharing a database, config and the CLI.

The behaviour it shares with SQLite is tested against both in ``test_sqlite_store.py``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cloud_bridge.body_json import body_json
from cloud_bridge.errors import StoreError
from cloud_bridge.recordings import json_view
from cloud_bridge.settings import BRIDGE_MQTT, BridgeSettings
from cloud_bridge.store import SqliteStore, open_store
from cloud_bridge.store.change_stream import (
    CHANGED_ROWS,
    ChangeNotice,
    follow_changes,
    parse_notice,
)
from cloud_bridge.store.partitions import NS_PER_DAY, DayPartitions, partition_name
from cloud_bridge.store.postgres_store import PostgresStore
from cloud_bridge.store.schema_migrations import (
    Migration,
    applied_versions,
    latest_version,
    migrate,
    shipped_migrations,
)
from cloud_bridge.validation import Accepted
from firmware_py.cli import main
from firmware_py.config.loader import load_bridge_config
from firmware_py.errors import ConfigError
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import accepted, envelope, status
from tests.cloud_bridge.postgres_db import (
    connect,
    fresh_schema,
    schema_dsn,
    schema_url,
    wait_for_listener,
)

DAY = 20_454  # 2026-01-01
NOON_NS = DAY * NS_PER_DAY + NS_PER_DAY // 2


@pytest.fixture
def schema() -> Iterator[str]:
    with fresh_schema() as name:
        yield name


@pytest.fixture
def store(schema: str) -> Iterator[PostgresStore]:
    # Channels are database-wide: one of its own, so other tests' notices never reach it.
    channel = f"rg_test_{uuid.uuid4().hex[:12]}"
    with PostgresStore(schema_dsn(schema), clock=lambda: NOON_NS, channel=channel) as opened:
        yield opened


def _state(device: str, sequence: int, lat: float, lon: float, boot: str = "b") -> pb.Envelope:
    position = pb.Position(latitude_deg=lat, longitude_deg=lon)
    body = pb.VehicleState(position=position, speed_mps=float(sequence))
    return envelope(device, sequence, boot_id=boot, body=body)


# --- migrations -------------------------------------------------------------------------------


def test_migrations_are_versioned_and_applied_once() -> None:
    with fresh_schema(migrated=False) as name, connect(schema_dsn(name)) as conn:
        first = migrate(conn)
        again = migrate(conn)

        assert [m.version for m in first] == [m.version for m in shipped_migrations()]
        assert again == []
        assert applied_versions(conn) == {m.version for m in shipped_migrations()}
        assert max(applied_versions(conn)) == latest_version()


def test_a_failing_migration_is_rolled_back_whole() -> None:
    broken = Migration(9001, "broken", "CREATE TABLE half_done (x int); SELECT no_such_column;")
    with fresh_schema() as name, connect(schema_dsn(name)) as conn:
        with pytest.raises(StoreError, match="9001_broken"):
            migrate(conn, [*shipped_migrations(), broken])

        assert 9001 not in applied_versions(conn)
        (exists,) = conn.execute("SELECT to_regclass('half_done') IS NOT NULL").fetchone() or ()
        assert exists is False


def test_workers_migrating_together_apply_each_migration_once() -> None:
    with fresh_schema(migrated=False) as name:
        results: list[int] = []

        def worker() -> None:
            with connect(schema_dsn(name)) as conn:
                results.append(len(migrate(conn)))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(results) == [0, 0, 0, len(shipped_migrations())]


def test_the_store_refuses_a_database_that_is_not_migrated() -> None:
    with (
        fresh_schema(migrated=False) as name,
        pytest.raises(StoreError, match="roadgate bridge migrate"),
    ):
        PostgresStore(schema_dsn(name))


def test_migration_0003_turns_the_bodies_of_a_database_at_0002_into_json() -> None:
    old = _state("obu-1", 1, 34.0, 108.0)
    with fresh_schema(migrated=False) as name, connect(schema_dsn(name)) as conn:
        migrate(conn, [m for m in shipped_migrations() if m.version <= 2])
        DayPartitions(conn).ensure({DAY})
        body = '{"vehicle_state": {"speed_mps": 1.5, "position": {"latitude_deg": 34.0}}}'
        conn.execute(
            "INSERT INTO messages VALUES ('obu-1', 'b', 1, 'state', 'xian', 't', %s, %s, %s, "
            "false, false, 34.0, 108.0, %s, %s::jsonb)",
            (NOON_NS, NOON_NS, NOON_NS, old.SerializeToString(), body),
        )
        conn.execute(
            "INSERT INTO latest_state VALUES ('obu-1', 'xian', 1, 'b', 1, %s, %s, 34.0, 108.0, "
            "%s::jsonb)",
            (NOON_NS, NOON_NS, body),
        )

        later = [m.version for m in shipped_migrations() if m.version > 2]
        assert [m.version for m in migrate(conn)] == later

        types = conn.execute(
            "SELECT c.relname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
            "JOIN pg_class AS c ON c.oid = a.attrelid WHERE a.attname = 'body' "
            "AND c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
            "ORDER BY 1"
        ).fetchall()
        speeds = conn.execute("SELECT sequence, speed_mps FROM vehicle_states").fetchall()
        latest = conn.execute("SELECT body ->> 'vehicle_state' FROM latest_state").fetchone()
    assert types == [
        ("latest_state", "json"),
        ("messages", "json"),
        (partition_name(DAY), "json"),
    ]
    assert speeds == [(1, 1.5)]
    assert latest is not None
    assert json.loads(str(latest[0])) == {"speed_mps": 1.5, "position": {"latitude_deg": 34.0}}


def test_a_store_on_a_migrated_database_keeps_the_body_as_sent(
    store: PostgresStore, schema: str
) -> None:
    state = _state("obu-1", 7, 34.5, 108.5)
    store.store(accepted(state), NOON_NS)
    with connect(schema_dsn(schema)) as conn:
        history = conn.execute("SELECT body::text FROM messages").fetchone()
        latest = conn.execute("SELECT body::text FROM latest_state").fetchone()
    # json keeps the text the bridge wrote (jsonb would have reordered it): the body's JSON.
    assert history == latest == (body_json(json_view(state)),)


def test_an_unreachable_server_raises_store_error_without_the_password() -> None:
    dsn = "postgresql://postgres:secret@127.0.0.1:9/test?connect_timeout=2"
    with pytest.raises(StoreError, match=r"cannot open store PostgreSQL 127\.0\.0\.1:9") as caught:
        PostgresStore(dsn)
    assert "secret" not in str(caught.value)


def test_the_tests_fail_with_how_to_start_postgresql_when_it_is_down() -> None:
    with pytest.raises(pytest.fail.Exception, match="pg_ctlcluster --skip-systemctl-redirect 15"):
        connect("host=127.0.0.1 port=9 dbname=test user=postgres connect_timeout=2")


# --- exactly once, by the database ---------------------------------------------------------


def test_workers_sharing_a_database_store_each_message_once(schema: str) -> None:
    # Two workers, overlapping redeliveries of the same 300 messages, in different orders.
    items = [(accepted(envelope(f"obu-{i % 7}", i // 7 + 1)), NOON_NS + i) for i in range(300)]
    outcomes: list[list[bool]] = []

    def worker(batch: list[tuple[Accepted, int]]) -> None:
        with PostgresStore(schema_dsn(schema), clock=lambda: NOON_NS) as store:
            for start in range(0, len(batch), 50):
                outcomes.append(store.store_many(batch[start : start + 50]))

    threads = [
        threading.Thread(target=worker, args=(items,)),
        threading.Thread(target=worker, args=(items[::-1],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = sum(flag for batch in outcomes for flag in batch)
    with PostgresStore(schema_dsn(schema)) as store:
        assert stored == store.count_messages() == 300
        loss = store.loss_accounting()
        assert sum(r.delivered for r in loss) == 300
        assert sum(r.duplicates for r in loss) == 300
        assert sum(r.missing for r in loss) == sum(r.missing_before for r in loss) == 0


def test_the_dedupe_key_is_a_primary_key_of_the_database(store: PostgresStore, schema: str) -> None:
    store.store(accepted(envelope("obu-1", 1)), NOON_NS)
    with (
        connect(schema_dsn(schema)) as conn,
        pytest.raises(psycopg.errors.UniqueViolation),
    ):
        conn.execute(
            "INSERT INTO message_keys VALUES ('obu-1', 'boot-1', 1, %s)", (NOON_NS + NS_PER_DAY,)
        )


def test_batches_in_one_transaction_and_after_a_rollback_see_only_their_own_rows(
    store: PostgresStore,
) -> None:
    # The batch table empties itself at commit and rollback, and between batches of one
    # transaction: no batch counts another's rows as its own.
    with store.transaction():
        first = store.store_many([(accepted(envelope("obu-1", s)), NOON_NS) for s in (1, 2)])
        second = store.store_many([(accepted(envelope("obu-1", s)), NOON_NS) for s in (2, 3)])

    def store_then_fail() -> None:
        with store.transaction():
            store.store_many([(accepted(envelope("obu-1", 4)), NOON_NS)])
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError, match="undo"):
        store_then_fail()
    after = store.store_many([(accepted(envelope("obu-1", s)), NOON_NS) for s in (4, 5)])

    assert (first, second, after) == ([True, True], [False, True], [True, True])
    assert [m.sequence for m in store.messages()] == [1, 2, 3, 4, 5]
    (record,) = store.loss_accounting()
    assert (record.delivered, record.duplicates, record.missing) == (5, 1, 0)


def test_the_per_device_tables_leave_room_for_updates_in_place(schema: str) -> None:
    # Migration 0002: each batch rewrites a row per device in these tables; with half of each
    # page free the new version stays on its page (HOT: no index entries), and latest_state has
    # no index on the position a moving vehicle changes each time.
    with connect(schema_dsn(schema)) as conn:
        roomy = conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND reloptions @> '{fillfactor=50}' ORDER BY relname"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'latest_state' "
            "AND schemaname = current_schema()"
        ).fetchall()
    assert [name for (name,) in roomy] == [
        "boot_sequences",
        "device_status",
        "devices",
        "latest_state",
    ]
    assert indexes == [("latest_state_pkey",)]


def test_a_state_numbered_like_a_status_still_ranks_by_its_boot(
    store: PostgresStore, schema: str
) -> None:
    # States numbered from 2^62 up are not counted per boot in this batch: their boot's rank
    # comes from the boot already counted.
    high = envelope(
        "obu-1",
        1 << 62,
        boot_id="b1",
        body=pb.VehicleState(position=pb.Position(latitude_deg=35.0, longitude_deg=109.0)),
        capture_time_ns=NOON_NS,
    )
    store.store(accepted(_state("obu-1", 1, 34.0, 108.0, boot="b1")), NOON_NS)
    store.store(accepted(high), NOON_NS + 1)
    with connect(schema_dsn(schema)) as conn:
        row = conn.execute("SELECT boot_id, sequence, latitude_deg FROM latest_state").fetchone()
    assert row == ("b1", 1 << 62, 35.0)


# --- partitions and retention ---------------------------------------------------------------


def test_day_partitions_are_created_ahead_and_on_demand(store: PostgresStore, schema: str) -> None:
    assert {DAY, DAY + 1} <= store.partition_days()

    store.store(accepted(envelope("obu-1", 1)), NOON_NS - 40 * NS_PER_DAY)

    assert DAY - 40 in store.partition_days()
    with connect(schema_dsn(schema)) as conn:
        rows = conn.execute(
            "SELECT tableoid::regclass::text FROM messages WHERE device_id = 'obu-1'"
        ).fetchall()
    assert rows == [(partition_name(DAY - 40),)]


def test_retention_drops_old_partitions_and_their_keys(schema: str) -> None:
    now = [NOON_NS - 10 * NS_PER_DAY]
    with PostgresStore(schema_dsn(schema), retention_days=3, clock=lambda: now[0]) as store:
        store.store(accepted(envelope("obu-1", 1)), now[0])
        store.store(accepted(envelope("obu-1", 2)), now[0] + 8 * NS_PER_DAY)
        assert partition_name(DAY - 10) in _partitions(schema)

        now[0] = NOON_NS
        assert store.apply_retention() == [partition_name(DAY - 10), partition_name(DAY - 9)]

        assert [m.sequence for m in store.messages()] == [2]
        assert partition_name(DAY - 10) not in _partitions(schema)
        # Its key went too; the loss accounting keeps what was counted.
        assert store.store(accepted(envelope("obu-1", 1)), now[0]) is True
        (loss,) = store.loss_accounting()
        assert (loss.delivered, loss.first_sequence, loss.last_sequence) == (3, 1, 2)


def test_a_new_day_brings_its_partitions_and_retention_without_a_restart(schema: str) -> None:
    now = [NOON_NS]
    with PostgresStore(schema_dsn(schema), retention_days=1, clock=lambda: now[0]) as store:
        store.store(accepted(envelope("obu-1", 1)), now[0])
        now[0] += 3 * NS_PER_DAY
        store.store(accepted(envelope("obu-1", 2)), now[0])

        assert {DAY + 3, DAY + 4} <= store.partition_days()
        assert DAY not in store.partition_days()
        assert [m.sequence for m in store.messages()] == [2]
        # The dropped day's keys went with that batch.
        assert store.store(accepted(envelope("obu-1", 1)), now[0]) is True


def _partitions(schema: str) -> set[str]:
    with connect(schema_dsn(schema)) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'messages'::regclass"
        ).fetchall()
    return {str(name) for (name,) in rows}


# --- registry, latest state, views -----------------------------------------------------------


def test_the_registry_and_latest_state_follow_message_order(
    store: PostgresStore, schema: str
) -> None:
    store.store_many(
        [
            (accepted(_state("obu-1", 5, 34.2, 108.9)), NOON_NS + 5),
            (accepted(_state("obu-1", 3, 34.0, 108.0)), NOON_NS + 3),
            (accepted(_state("obu-2", 1, 30.0, 100.0)), NOON_NS + 1),
        ]
    )
    store.store(accepted(_state("obu-1", 4, 1.0, 1.0)), NOON_NS + 9)  # late: not the latest
    store.store(accepted(status("obu-1", 6, pb.LIVENESS_ONLINE), "status"), NOON_NS + 10)

    with connect(schema_dsn(schema)) as conn:
        latest = conn.execute(
            "SELECT device_id, sequence, latitude_deg FROM latest_state ORDER BY device_id"
        ).fetchall()
        devices = conn.execute(
            "SELECT device_id, first_seen_ns, last_seen_ns, software_version FROM devices "
            "ORDER BY device_id"
        ).fetchall()
    assert latest == [("obu-1", 5, 34.2), ("obu-2", 1, 30.0)]
    assert devices == [
        ("obu-1", NOON_NS + 3, NOON_NS + 10, "1.2.3"),
        ("obu-2", NOON_NS + 1, NOON_NS + 1, None),
    ]

    # A new boot wins even with lower numbers.
    store.store(accepted(_state("obu-1", 1, 10.0, 10.0, boot="b2")), NOON_NS + 20)
    with connect(schema_dsn(schema)) as conn:
        row = conn.execute("SELECT boot_id, sequence FROM latest_state WHERE device_id = 'obu-1'")
        assert row.fetchone() == ("b2", 1)


def test_bounding_box_and_per_stream_views(store: PostgresStore, schema: str) -> None:
    objects = pb.ObjectList(
        sensor_id="radar0",
        sensor_position=pb.Position(latitude_deg=34.25, longitude_deg=108.95),
        objects=[pb.PerceivedObject(object_id=7, speed_mps=3.0)],
    )
    spat = pb.SignalPhaseTiming(
        intersection_id=12, phases=[pb.PhaseState(signal_group=2, likely_end_s=4.5)]
    )
    store.store_many(
        [
            (accepted(_state("obu-1", 1, 34.26, 108.94)), NOON_NS),
            (accepted(_state("obu-2", 1, 31.0, 121.0)), NOON_NS),
            (accepted(envelope("rsu-1", 1, body=objects), "objects"), NOON_NS),
            (accepted(envelope("rsu-1", 2, body=spat), "spat"), NOON_NS),
        ]
    )

    with connect(schema_dsn(schema)) as conn:
        in_box = conn.execute(
            "SELECT device_id FROM messages WHERE latitude_deg IS NOT NULL AND "
            "point(longitude_deg, latitude_deg) <@ box(point(108.9, 34.2), point(109.0, 34.3)) "
            "ORDER BY device_id"
        ).fetchall()
        states = conn.execute("SELECT device_id, speed_mps FROM vehicle_states ORDER BY 1")
        tracked = conn.execute("SELECT device_id, object_id, speed_mps FROM tracked_objects")
        phases = conn.execute(
            "SELECT intersection_id, signal_group, likely_end_s FROM signal_phases"
        )
        assert in_box == [("obu-1",), ("rsu-1",)]
        assert states.fetchall() == [("obu-1", 1.0), ("obu-2", 1.0)]
        assert tracked.fetchall() == [("rsu-1", 7, 3.0)]
        assert phases.fetchall() == [(12, 2, 4.5)]


def test_the_loss_view_agrees_with_the_method(store: PostgresStore, schema: str) -> None:
    for boot, sequences in (("first", (1, 2, 4)), ("second", (8, 9, 9))):
        store.store_many((accepted(envelope("obu-1", s, boot_id=boot)), NOON_NS) for s in sequences)

    with connect(schema_dsn(schema)) as conn:
        view = conn.execute(
            "SELECT boot_id, delivered, duplicates, missing, missing_before FROM loss_accounting "
            "ORDER BY first_sequence"
        ).fetchall()
    method = [
        (r.boot_id, r.delivered, r.duplicates, r.missing, r.missing_before)
        for r in store.loss_accounting()
    ]
    assert view == method == [("first", 3, 0, 1, 0), ("second", 2, 1, 0, 3)]


# --- the change stream -----------------------------------------------------------------------


def test_listeners_get_one_notice_per_committed_batch_and_stream(
    store: PostgresStore, schema: str
) -> None:
    dsn = schema_dsn(schema)
    notices: list[ChangeNotice] = []
    listening = threading.Event()

    def listen() -> None:
        listening.set()
        notices.extend(follow_changes(dsn, channel=store.channel, timeout_s=10, stop_after=2))

    listener = threading.Thread(target=listen)
    listener.start()
    listening.wait()
    wait_for_listener(dsn, store.channel)

    # Rolled back: nothing is announced.
    def store_then_fail() -> None:
        with store.transaction():
            store.store(accepted(envelope("obu-9", 1)), NOON_NS)
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError, match="undo"):
        store_then_fail()
    store.store_many(
        [
            (accepted(envelope("obu-1", 1)), NOON_NS),
            (accepted(envelope("obu-1", 3)), NOON_NS + 2),
            (accepted(envelope("obu-1", 1)), NOON_NS + 3),  # a duplicate: not announced
            (accepted(status("obu-1", 2, pb.LIVENESS_ONLINE), "status"), NOON_NS + 1),
        ]
    )
    listener.join(timeout=15)

    assert not listener.is_alive()
    by_stream = {n.stream: n for n in notices}
    assert set(by_stream) == {"state", "status"}
    state = by_stream["state"]
    assert (state.device_id, state.first_sequence, state.last_sequence, state.count) == (
        "obu-1",
        1,
        3,
        2,
    )
    with connect(dsn) as conn:
        rows = conn.execute(CHANGED_ROWS, state.query_args()).fetchall()
    assert [row[2] for row in rows] == [1, 3]


def test_a_foreign_payload_is_not_a_notice() -> None:
    with pytest.raises(ValueError, match="not a change notice"):
        parse_notice('{"device_id": 1}')
    with pytest.raises(ValueError, match="not a change notice"):
        parse_notice("hello")


# --- config, factory, CLI --------------------------------------------------------------------


def _config(tmp_path: Path, store_line: str, extra: str = "") -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(f'[mqtt]\nhost = "127.0.0.1"\n[bridge]\n{store_line}\n{extra}\n')
    return path


def test_a_postgresql_url_in_the_config_opens_a_postgres_store(tmp_path: Path, schema: str) -> None:
    settings = load_bridge_config(_config(tmp_path, f'store = "{schema_url(schema)}"'))

    assert settings.store_dsn == schema_url(schema)
    with open_store(settings) as store:
        assert isinstance(store, PostgresStore)
        assert store.store(accepted(envelope()), NOON_NS) is True


def test_a_path_in_the_config_stays_a_sqlite_file_next_to_it(tmp_path: Path) -> None:
    settings = load_bridge_config(_config(tmp_path, 'store = "data/b.sqlite3"'))

    assert (settings.store_path, settings.store_dsn) == (tmp_path / "data/b.sqlite3", None)
    (tmp_path / "data").mkdir()
    with open_store(settings) as store:
        assert isinstance(store, SqliteStore)


def test_retention_is_for_postgresql_and_urls_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="retention_days"):
        load_bridge_config(_config(tmp_path, 'store = "b.sqlite3"', "retention_days = 30"))
    with pytest.raises(ConfigError, match="libpq URL"):
        load_bridge_config(_config(tmp_path, 'store = "postgresql://h/db?nonsense=1"'))
    with pytest.raises(ConfigError, match="retention_days"):
        load_bridge_config(_config(tmp_path, 'store = "postgresql://h/db"', "retention_days = 0"))
    settings = load_bridge_config(
        _config(tmp_path, 'store = "postgresql://h/db"', "retention_days = 30")
    )
    assert settings.retention_days == 30
    with pytest.raises(ValueError, match="retention_days"):
        BridgeSettings(BRIDGE_MQTT, tmp_path / "b", retention_days=0)


def test_roadgate_bridge_migrate_applies_the_schema_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_schema(migrated=False) as name:
        config = _config(tmp_path, f'store = "{schema_url(name)}"')

        assert main(["bridge", "migrate", "--config", str(config)]) == 0
        first = capsys.readouterr().out
        assert main(["bridge", "--config", str(config), "migrate"]) == 0
        second = capsys.readouterr().out

        assert "applied 0001_initial" in first
        assert "applied" not in second
        assert f"schema at version {latest_version()}" in second
        with PostgresStore(schema_dsn(name)) as store:
            assert store.count_messages() == 0


def test_roadgate_bridge_without_an_action_still_needs_its_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bridge"])
    assert exited.value.code == 2
    assert "--config" in capsys.readouterr().err


def test_roadgate_bridge_migrate_fails_clearly_when_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, 'store = "postgresql://postgres@127.0.0.1:9/test"')

    assert main(["bridge", "migrate", "--config", str(config)]) == 2
    assert "cannot migrate PostgreSQL 127.0.0.1:9/test" in capsys.readouterr().err
