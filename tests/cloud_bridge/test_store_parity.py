"""SQLite and PostgreSQL agree: the same arrivals, in batches cut anywhere, leave the same
messages, device statuses and loss accounting in both stores."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.store import MessageStore, SqliteStore
from cloud_bridge.store.postgres_store import PostgresStore
from cloud_bridge.validation import Accepted, validate
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import accepted, envelope, status, topic
from tests.cloud_bridge.postgres_db import connect, empty_tables, fresh_schema, schema_dsn

LIVENESS = (pb.LIVENESS_ONLINE, pb.LIVENESS_OFFLINE, pb.LIVENESS_LOST)

_arrival = st.tuples(
    st.sampled_from(["obu-1", "rsu-2"]),
    st.sampled_from(["boot-a", "boot-b", "boot-c"]),
    st.integers(1, 25),
    st.sampled_from((*LIVENESS, None)),  # None: a vehicle state
)


def _accepted(device: str, boot: str, sequence: int, liveness: int | None) -> Accepted:
    if liveness is None:
        return accepted(envelope(device, sequence, boot_id=boot))
    env = status(device, sequence, pb.Liveness.ValueType(liveness), boot_id=boot)
    return accepted(env, "status")


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with fresh_schema() as name:
        yield name


def _contents(store: MessageStore) -> tuple[object, ...]:
    keys = [(m.device_id, m.boot_id, m.sequence, m.stream, m.payload) for m in store.messages()]
    return keys, store.device_statuses(), store.loss_accounting()


@settings(max_examples=40, deadline=None)
@given(arrivals=st.lists(_arrival, max_size=40), cuts=st.lists(st.integers(0, 40), max_size=5))
def test_both_stores_end_up_the_same(
    tmp_path_factory: pytest.TempPathFactory,
    pg_schema: str,
    arrivals: list[tuple[str, str, int, int | None]],
    cuts: list[int],
) -> None:
    items = [(_accepted(*arrival), 1_000 + i) for i, arrival in enumerate(arrivals)]
    bounds = sorted({0, len(items), *(min(c, len(items)) for c in cuts)})
    batches = [items[a:b] for a, b in itertools.pairwise(bounds)]
    path: Path = tmp_path_factory.mktemp("parity") / "s.sqlite3"
    empty_tables(pg_schema)

    with SqliteStore(path) as lite, PostgresStore(schema_dsn(pg_schema)) as pg:
        outcomes = [(lite.store_many(b), pg.store_many(b)) for b in batches]
        assert all(a == b for a, b in outcomes)
        assert _contents(lite) == _contents(pg)


def test_parity_is_checked_against_a_real_server(pg_schema: str) -> None:
    with connect(schema_dsn(pg_schema)) as conn:
        (version,) = conn.execute("SHOW server_version_num").fetchone() or (0,)
    assert int(str(version)) >= 120000  # declarative partitioning with partitioned indexes


def test_messages_of_one_region(tmp_path: Path, pg_schema: str) -> None:
    def in_region(region: str, device: str) -> Accepted:
        env = envelope(device, 1)
        verdict = validate(topic(device, "state", region), env.SerializeToString(), 65536)
        assert isinstance(verdict, Accepted)
        return verdict

    items = [(in_region("xa-a", "obu-1"), 1), (in_region("xa-b", "obu-2"), 2)]
    empty_tables(pg_schema)
    with SqliteStore(tmp_path / "s.sqlite3") as lite, PostgresStore(schema_dsn(pg_schema)) as pg:
        for store in (lite, pg):
            store.store_many(items)
            assert [m.device_id for m in store.messages(region="xa-b")] == ["obu-2"]
            assert [m.device_id for m in store.messages(region="xa-a")] == ["obu-1"]
            assert store.messages(device_id="obu-1", region="xa-b") == []
            assert len(store.messages()) == 2
