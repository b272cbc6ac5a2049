"""Bad and odd input, fuzzed through validation into both stores as the service files it.

Whatever arrives, storing never raises: a valid message is stored once (its redelivery is a
duplicate), anything else is dead-lettered with its reason and the bytes that came.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.store import MessageStore, SqliteStore
from cloud_bridge.store.postgres_store import PostgresStore
from cloud_bridge.validation import Accepted, validate
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.factories import envelope, topic
from tests.cloud_bridge.postgres_db import empty_tables, fresh_schema, schema_dsn

LIMIT = 65536
RECEIVED_NS = 1_767_225_700_000_000_000
STREAMS = ("state", "objects", "spat", "events", "health", "status", "ack", "bogus")

_odd_text = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Z", "C")), max_size=30
) | st.sampled_from(["\x00", "a\x00b", "\\u0000", "\ufffd", "😀" * 10, "'; DROP TABLE x; --"])
_device = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z") | st.sampled_from(["", "../x"])
# Mostly plausible values, so that many messages pass validation and reach the store.
_floats = st.floats(0, 80) | st.floats(0, 80) | st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[str, pb.Envelope]:
    """A stream and an Envelope whose body may or may not match it, with odd values."""
    kind = draw(st.sampled_from(STREAMS[:-1]))
    position = pb.Position(latitude_deg=draw(_floats), longitude_deg=draw(_floats))
    if kind == "state":
        body: Message = pb.VehicleState(position=position, speed_mps=draw(_floats))
    elif kind == "objects":
        body = pb.ObjectList(
            sensor_id=draw(_odd_text),
            sensor_position=position,
            objects=[pb.PerceivedObject(object_id=draw(st.integers(0, 2**32 - 1)))],
        )
    elif kind == "spat":
        body = pb.SignalPhaseTiming(phases=[pb.PhaseState(likely_end_s=draw(_floats))])
    elif kind == "events":
        body = pb.TrafficEvent(description=draw(_odd_text), position=position)
    elif kind == "health":
        body = pb.DeviceHealth(counters={draw(_odd_text): draw(st.integers(0, 2**64 - 1))})
    elif kind == "status":
        body = pb.DeviceStatus(
            liveness=pb.Liveness.ValueType(draw(st.integers(0, 99))),
            software_version=draw(_odd_text),
        )
    else:
        body = pb.CommandAck(command_id=draw(_odd_text), message=draw(_odd_text))
    env = envelope("dev", 1, body=body)
    env.device_id = draw(_device)
    env.boot_id = draw(st.sampled_from(["boot-1", "boot-2", "ß" * 9000, "b" * 3000]) | _odd_text)
    env.sequence = draw(st.integers(0, 50) | st.integers(0, 2**64 - 1))
    env.capture_time_ns = draw(st.integers(-(2**63), 2**63 - 1))
    env.schema_version = draw(st.sampled_from([1, 1, 1, 1, 1, 0, 2]))
    stream = draw(st.sampled_from([kind] * 8 + list(STREAMS)))
    return stream, env


@st.composite
def _arrivals(draw: st.DrawFn) -> tuple[str, bytes]:
    """A topic and a payload: sealed Envelopes (odd, cut, repeated) or plain bytes."""
    stream, env = draw(_bodies())
    payload = env.SerializeToString()
    shape = draw(st.sampled_from(["whole"] * 6 + ["cut", "bytes", "huge"]))
    if shape == "cut":
        payload = payload[: draw(st.integers(0, len(payload)))]
    elif shape == "bytes":
        payload = draw(st.binary(max_size=300))
    elif shape == "huge":
        payload += b"\x00" * LIMIT
    device = env.device_id if draw(st.integers(0, 4)) else draw(_device)
    where = draw(
        st.sampled_from(
            [topic(device or "x", stream)] * 6 + ["rg/v1/xian", "rg/v1/a/b/c/d", "\x00"]
        )
    )
    return where, payload


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with fresh_schema() as name:
        yield name


def _file(store: MessageStore, arrivals: list[tuple[str, bytes]]) -> tuple[int, int, int]:
    """Validate and file ``arrivals`` in one transaction as the service does: (stored,
    duplicates, dead-lettered)."""
    dead, good = 0, []
    with store.transaction():
        for where, payload in arrivals:
            verdict = validate(where, payload, LIMIT, received_time_ns=RECEIVED_NS)
            if isinstance(verdict, Accepted):
                good.append((verdict, RECEIVED_NS))
            else:
                assert verdict.reason
                store.dead_letter(where, payload[:LIMIT], verdict.reason, verdict.detail, 1)
                dead += 1
        flags = store.store_many(good)
    return sum(flags), len(flags) - sum(flags), dead


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@settings(max_examples=60, deadline=None)
@given(arrivals=st.lists(_arrivals(), max_size=12))
def test_odd_input_is_stored_or_dead_lettered_never_raised(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    pg_schema: str,
    arrivals: list[tuple[str, bytes]],
) -> None:
    if kind == "sqlite":
        store: MessageStore = SqliteStore(tmp_path_factory.mktemp("fuzz") / "s.sqlite3")
    else:
        empty_tables(pg_schema)
        store = PostgresStore(schema_dsn(pg_schema))
    with store:
        stored, duplicates, dead = _file(store, arrivals)
        # Everything again, as a broker redelivers: nothing new is stored.
        again = _file(store, arrivals)

        assert stored + duplicates + dead == len(arrivals)
        assert again == (0, stored + duplicates, dead)
        assert store.count_messages() == stored
        assert sum(store.dead_letter_reasons().values()) == 2 * dead
        loss = store.loss_accounting()
        assert sum(r.delivered for r in loss) == stored
        assert sum(r.duplicates for r in loss) == duplicates + stored + duplicates
        letters = store.dead_letters()
        assert all(letter.reason for letter in letters)
        assert sorted(letter.payload for letter in letters) == sorted(
            2 * [payload[:LIMIT] for where, payload in arrivals if not _valid(where, payload)]
        )


def _valid(where: str, payload: bytes) -> bool:
    return isinstance(validate(where, payload, LIMIT, received_time_ns=RECEIVED_NS), Accepted)
