"""The live WebSocket: keys, the snapshot a client starts with, messages as they are stored,
and a slow client dropped while a fast one keeps up."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cloud_bridge.web.api import DROPPED_CODE, POLICY_CODE
from cloud_bridge.web.live_hub import LiveHub
from protocols.schema.v1 import roadgate_pb2 as pb
from tests.cloud_bridge.web.support import (
    KEY_A,
    KEY_B,
    REGION_A,
    REGION_B,
    T0_NS,
    Sequencer,
    ServedApi,
    fused,
    rsu_status,
    seeded_store,
    served_api,
    spat,
)

CLIENT_QUEUE = 16


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ServedApi]:
    hub = LiveHub(client_queue=CLIENT_QUEUE, max_clients=3)
    with served_api(seeded_store(tmp_path / "store.sqlite3"), hub) as served:
        yield served


def live_url(api: ServedApi, region: str) -> str:
    return api.url.replace("http://", "ws://") + f"/api/v1/regions/{region}/live"


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert isinstance(message, dict)
    return message


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the server closes; its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 30)
    except ConnectionClosed:
        return ws.close_code


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "first", [json.dumps({"key": KEY_B}), json.dumps({"key": "guess"}), "not json", "[]"]
)
async def test_a_client_without_a_key_for_the_region_is_refused(api: ServedApi, first: str) -> None:
    async with connect(live_url(api, REGION_A)) as ws:
        await ws.send(first)
        assert await closed_code(ws) == POLICY_CODE


@pytest.mark.asyncio
async def test_a_client_gets_the_newest_picture_then_what_is_stored(api: ServedApi) -> None:
    rsu = Sequencer(REGION_A, "rsu-live")
    other = Sequencer(REGION_B, "rsu-other")
    before = [rsu.next(rsu_status()), rsu.next(pb.IntersectionGeometry(intersection_id=101))]
    before += [rsu.next(spat(pb.SIGNAL_STATE_RED)), rsu.next(spat(pb.SIGNAL_STATE_GREEN))]
    api.publish([(m, T0_NS) for m in before])
    async with connect(live_url(api, REGION_A)) as ws:
        await ws.send(json.dumps({"key": KEY_A}))
        assert (await receive(ws))["stream"] == "hello"
        snapshot = [await receive(ws) for _ in range(3)]
        assert snapshot[0]["stream"] == "intersection"  # drawn first
        streams = {m["stream"]: m for m in snapshot}
        assert set(streams) == {"intersection", "status", "spat"}
        assert streams["spat"]["body"]["phases"][0]["state"] == "SIGNAL_STATE_GREEN"  # newest
        api.publish([(other.next(rsu_status()), T0_NS), (rsu.next(fused(12.5)), T0_NS + 5)])
        live = await receive(ws)
        assert live["stream"] == "objects"  # region B's status never came
        assert live["region"] == REGION_A
        assert live["received_time_ns"] == T0_NS + 5
        assert live["body"]["objects"][0]["x_m"] == 12.5


def small_socket(api: ServedApi) -> socket.socket:
    """A connected socket with a small fixed receive buffer: the kernel's autotuning would
    otherwise buffer tens of megabytes for a client that reads nothing."""
    host, port = api.url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect((host, int(port)))
    return sock


def big_list(size: int) -> pb.ObjectList:
    objects = fused(1.0)
    for i in range(size):
        objects.objects.add(object_id=i, x_m=float(i), y_m=2.0, speed_mps=3.0)
    return objects


@pytest.mark.asyncio
async def test_a_slow_client_is_dropped_and_a_fast_one_keeps_up(api: ServedApi) -> None:
    rsu = Sequencer(REGION_A, "rsu-load")
    api.publish([(rsu.next(rsu_status()), T0_NS)])
    async with (
        connect(live_url(api, REGION_A)) as fast,
        connect(
            live_url(api, REGION_A), sock=small_socket(api), max_queue=1, compression=None
        ) as slow,
    ):
        for ws in (fast, slow):
            await ws.send(json.dumps({"key": KEY_A}))
        assert (await receive(fast))["stream"] == "hello"
        assert (await receive(fast))["stream"] == "status"
        received: list[int] = []

        async def read_fast() -> None:
            while True:
                message = await receive(fast)
                received.append(message["sequence"])

        reader = asyncio.create_task(read_fast(), name="fast-client")
        sent: list[int] = []
        try:
            for _ in range(300):
                batch = [rsu.next(big_list(400)) for _ in range(2)]
                sent += [m.envelope.sequence for m in batch]
                await asyncio.to_thread(api.publish, [(m, T0_NS) for m in batch])
                await asyncio.sleep(0.01)
                if api.hub.clients_dropped:
                    break
            assert api.hub.clients_dropped == 1, "the slow client was never dropped"
            await asyncio.wait_for(_until(lambda: len(received) == len(sent)), 20)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        assert received == sent  # the fast client missed nothing
        assert api.hub.client_count == 1  # only the fast one is left
        assert await closed_code(slow) == DROPPED_CODE  # once it reads what was sent


async def _until(condition: Any) -> None:
    while not condition():  # noqa: ASYNC110 - the condition is another task's list
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_clients_beyond_the_limit_are_refused(api: ServedApi) -> None:
    clients = [connect(live_url(api, REGION_A)) for _ in range(4)]
    opened = [await c.__aenter__() for c in clients]
    try:
        for ws in opened:
            await ws.send(json.dumps({"key": KEY_A}))
        for ws in opened[:3]:
            assert (await receive(ws))["stream"] == "hello"
        assert await closed_code(opened[3]) == DROPPED_CODE
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)


@pytest.mark.asyncio
async def test_any_first_message_but_a_valid_key_is_refused(api: ServedApi) -> None:
    """Hypothesis-drawn first messages (text and bytes), each on a connection of its own."""
    firsts: list[str | bytes] = []

    @given(
        st.one_of(
            st.text(max_size=200),
            st.binary(max_size=200),
            st.builds(
                lambda v: json.dumps({"key": v}),
                st.one_of(st.text(max_size=60), st.integers(), st.none()),
            ),
        )
    )
    @settings(max_examples=60, deadline=None, database=None)
    def collect(first: str | bytes) -> None:
        firsts.append(first)

    collect()
    for first in firsts:
        async with connect(live_url(api, REGION_A)) as ws:
            await ws.send(first)
            assert await closed_code(ws) == POLICY_CODE, first
    async with connect(live_url(api, REGION_A)) as ws:
        await ws.send(json.dumps({"key": KEY_A, "extra": [1, 2]}))
        assert (await receive(ws))["stream"] == "hello"
