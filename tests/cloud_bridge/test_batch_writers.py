"""The bridge's batch writers: PostgreSQL's (an asyncio connection of its own) keeps what
SQLite's (the store's blocking calls) keeps, one transaction a batch, and says when the server is
busy with a batch so that the service reads on meanwhile."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo

from cloud_bridge.errors import StoreError
from cloud_bridge.store import MessageStore, SqliteStore
from cloud_bridge.store.postgres_store import PostgresStore
from cloud_bridge.store.protocol import BatchOutcome, Reject
from cloud_bridge.validation import Accepted
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import accepted, envelope, status, topic
from tests.cloud_bridge.postgres_db import BASE_DSN, connect, empty_tables, fresh_schema, schema_dsn

LIVENESS = (pb.LIVENESS_ONLINE, pb.LIVENESS_OFFLINE, pb.LIVENESS_LOST)


@dataclass(frozen=True)
class _Message:
    device: str
    boot: str
    sequence: int
    liveness: int | None  # None: a vehicle state


@dataclass(frozen=True)
class _Garbage:
    payload: bytes
    reason: str


_arrival = st.one_of(
    st.builds(
        _Message,
        st.sampled_from(["obu-1", "rsu-2"]),
        st.sampled_from(["boot-a", "boot-b"]),
        st.integers(1, 20),
        st.sampled_from((*LIVENESS, None)),
    ),
    st.builds(_Garbage, st.binary(max_size=40), st.sampled_from(["bad_topic", "bad_payload"])),
)


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with fresh_schema() as name:
        yield name


def _item(arrival: _Message | _Garbage, received: int) -> tuple[Accepted, int] | Reject:
    if isinstance(arrival, _Garbage):
        reason = arrival.reason
        return Reject(topic("obu-9"), arrival.payload, reason, f"detail {reason}", received)
    if arrival.liveness is None:
        return accepted(envelope(arrival.device, arrival.sequence, boot_id=arrival.boot)), received
    liveness = pb.Liveness.ValueType(arrival.liveness)
    env = status(arrival.device, arrival.sequence, liveness, boot_id=arrival.boot)
    return accepted(env, "status"), received


async def _write_all(
    store: MessageStore, batches: Sequence[Sequence[tuple[Accepted, int] | Reject]]
) -> tuple[list[BatchOutcome], int]:
    """Each batch through the store's writer; returns the outcomes and the busy signals."""
    busy = 0

    def on_busy() -> None:
        nonlocal busy
        busy += 1

    outcomes = []
    async with store.batch_writer() as writer:
        for batch in batches:
            good = [item for item in batch if not isinstance(item, Reject)]
            rejects = [item for item in batch if isinstance(item, Reject)]
            outcomes.append(await writer.write(good, rejects, on_server_busy=on_busy))
    return outcomes, busy


def _contents(store: MessageStore) -> tuple[object, ...]:
    keys = [(m.device_id, m.boot_id, m.sequence, m.stream, m.payload) for m in store.messages()]
    letters = [(d.topic, d.reason, d.detail, d.payload) for d in store.dead_letters()]
    return keys, store.device_statuses(), store.loss_accounting(), letters


@settings(max_examples=30, deadline=None)
@given(arrivals=st.lists(_arrival, max_size=30), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_postgres_writer_keeps_what_the_sqlite_writer_keeps(
    tmp_path_factory: pytest.TempPathFactory,
    pg_schema: str,
    arrivals: list[_Message | _Garbage],
    cuts: list[int],
) -> None:
    items = [_item(arrival, 1_000 + i) for i, arrival in enumerate(arrivals)]
    bounds = sorted({0, len(items), *(min(c, len(items)) for c in cuts)})
    batches = [items[a:b] for a, b in itertools.pairwise(bounds)]
    path: Path = tmp_path_factory.mktemp("writers") / "s.sqlite3"
    empty_tables(pg_schema)

    with SqliteStore(path) as lite, PostgresStore(schema_dsn(pg_schema)) as pg:
        lite_outcomes, lite_busy = asyncio.run(_write_all(lite, batches))
        pg_outcomes, pg_busy = asyncio.run(_write_all(pg, batches))
        assert pg_outcomes == lite_outcomes
        assert _contents(pg) == _contents(lite)
    # The server is busy once per batch with messages to store; SQLite has no server.
    assert pg_busy == sum(1 for b in batches if any(not isinstance(i, Reject) for i in b))
    assert lite_busy == 0


def test_a_failed_batch_keeps_nothing_of_it_and_the_writer_goes_on(pg_schema: str) -> None:
    empty_tables(pg_schema)
    # The writer's statements wait at most 300 ms for a lock another session holds.
    dsn = make_conninfo(BASE_DSN, options=f"-csearch_path={pg_schema} -clock_timeout=300")
    state = accepted(envelope("obu-1", 1, boot_id="boot-a"))
    reject = Reject(topic("obu-9"), b"\x01", "bad_payload", "not an Envelope", 5)

    async def scenario(store: PostgresStore) -> BatchOutcome:
        async with store.batch_writer() as writer:
            with connect(schema_dsn(pg_schema)) as blocker, blocker.transaction():
                blocker.execute("LOCK TABLE latest_state IN EXCLUSIVE MODE")
                with pytest.raises(StoreError, match="lock timeout"):
                    await writer.write([(state, 10)], [reject])
            return await writer.write([(state, 11)], [reject])

    with PostgresStore(dsn) as store:
        assert store.messages() == [] or pytest.fail("the schema is not empty")
        outcome = asyncio.run(scenario(store))
        assert outcome == BatchOutcome([True], 0)
        # The failed batch's dead letter and message are gone with it: one of each is kept.
        assert [(m.device_id, m.sequence, m.received_time_ns) for m in store.messages()] == [
            ("obu-1", 1, 11)
        ]
        assert len(store.dead_letters()) == 1
        assert store.dead_letter_usage()[0] == 1


def test_a_closed_writer_refuses_to_write(pg_schema: str) -> None:
    async def scenario(store: PostgresStore) -> None:
        writer = store.batch_writer()
        async with writer:
            pass
        with pytest.raises(StoreError, match="not open"):
            await writer.write([], [])

    with PostgresStore(schema_dsn(pg_schema)) as store:
        asyncio.run(scenario(store))
