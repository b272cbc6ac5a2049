"""sd_notify: READY, STATUS, WATCHDOG while the loop and every pipeline progress, STOPPING."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.pipelines.health import HealthReport
from edge.pipelines.vehicle_gateway import VehicleGatewayPipeline
from firmware_py.box import Box, build_box
from firmware_py.config.loader import EXAMPLES_DIR, load_box_config
from firmware_py.systemd_notify import (
    HEALTH_SERVICE,
    Heartbeat,
    Notifier,
    Watchdog,
    notify_address,
    run_notifying_systemd,
    watchdog_interval_s,
)
from tests.support.waiting import eventually


def vehicle_box(tmp_path: Path, stack: ExitStack, health_period_s: float = 0.1) -> Box:
    """The shipped simulated vehicle, its outbox in ``tmp_path``, private CAN channels, its
    broker a port nobody listens on (the uplink keeps retrying: not our concern here)."""
    config = load_box_config(EXAMPLES_DIR / "vehicle-toyota.toml")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    suffix = uuid.uuid4().hex[:8]
    config = dataclasses.replace(
        config,
        health_period_s=health_period_s,
        can=tuple(dataclasses.replace(b, channel=f"{b.channel}-{suffix}") for b in config.can),
        outbox=dataclasses.replace(config.outbox, path=tmp_path / "outbox.sqlite3"),
        uplink=dataclasses.replace(
            config.uplink, mqtt=dataclasses.replace(config.uplink.mqtt, port=port)
        ),
    )
    return build_box(config, stack)


class NotifySocket:
    """The socket systemd would listen on, in the abstract namespace; datagrams as text."""

    def __init__(self) -> None:
        self.name = f"roadgate-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.sock.setblocking(False)
        self.received: list[str] = []

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": "@" + self.name}

    def drain(self) -> list[str]:
        """Every datagram waiting now, without giving the event loop a turn."""
        got = []
        with contextlib.suppress(BlockingIOError):
            while True:
                got.append(self.sock.recv(4096).decode())
        self.received.extend(got)
        return got

    def pings(self) -> int:
        """WATCHDOG=1 pings received so far (reading what waits)."""
        self.drain()
        return len(self.fields("WATCHDOG"))

    def fields(self, key: str) -> list[str]:
        return [
            line[len(key) + 1 :]
            for datagram in self.received
            for line in datagram.split("\n")
            if line.startswith(key + "=")
        ]


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    listener = NotifySocket()
    yield listener
    listener.sock.close()


@contextlib.asynccontextmanager
async def running(
    box: Box, env: dict[str, str], min_silence_s: float = 10.0
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(run_notifying_systemd(box, env, min_silence_s), name="test-box")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@given(st.text())
def test_any_notify_socket_value_gives_an_address_or_none(value: str) -> None:
    address = notify_address({"NOTIFY_SOCKET": value})
    if value.startswith("@") and len(value) > 1:
        assert address == "\0" + value[1:]
    elif value.startswith("/"):
        assert address == value
    else:
        assert address is None


@given(st.text(), st.text())
def test_any_watchdog_variables_give_half_the_period_or_none(usec: str, pid: str) -> None:
    interval = watchdog_interval_s({"WATCHDOG_USEC": usec, "WATCHDOG_PID": pid}, 4242)
    for_us = pid == "" or re.fullmatch("0*4242", pid) is not None
    if for_us and re.fullmatch("[0-9]+", usec) and int(usec) > 0:
        assert interval == int(usec) / 2e6
    else:
        assert interval is None


def test_watchdog_period_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}, 1) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 7) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 8) is None
    assert watchdog_interval_s({}, 1) is None


def test_without_notify_socket_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    assert notifier.counters == {}


def test_a_vanished_socket_is_counted_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone.sock"))
    assert notifier.send("READY=1") is False
    assert notifier.send("WATCHDOG=1") is False
    assert notifier.counters["send_errors"] == 2
    notifier.close()


def test_a_listener_that_stops_reading_never_blocks_the_sender(
    notify_socket: NotifySocket,
) -> None:
    notifier = Notifier("\0" + notify_socket.name)
    sent = [notifier.send(f"STATUS={i}") for i in range(10_000)]
    notifier.close()
    assert not all(sent)
    assert notifier.counters["send_errors"] == sent.count(False)


@pytest.mark.asyncio
async def test_a_box_without_notify_socket_runs_as_before(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    with ExitStack() as stack:
        box = vehicle_box(tmp_path, stack)
        async with running(box, {"WATCHDOG_USEC": "100000"}):
            await eventually(lambda: box.uplink.queued > 0, what="the box publishes")
        assert notify_socket.drain() == []
        assert not any(
            key.startswith("systemd.") for key in box.pipeline.health.snapshot().counters
        )


@pytest.mark.asyncio
async def test_ready_status_and_pings_while_healthy_none_while_the_loop_is_blocked(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    env = notify_socket.env | {"WATCHDOG_USEC": "100000"}  # a ping every 50 ms
    with ExitStack() as stack:
        box = vehicle_box(tmp_path, stack)
        async with running(box, env):
            await eventually(lambda: notify_socket.pings() >= 3, what="three pings")
            # The loop blocked (a stalled daemon): nothing may be sent in between two reads
            # that give the loop no turn.
            notify_socket.drain()
            time.sleep(0.5)  # noqa: ASYNC251 - blocking the loop is the point
            assert notify_socket.drain() == []
            pings = notify_socket.pings()
            await eventually(lambda: notify_socket.pings() > pings, what="pings after the block")
        notify_socket.drain()
        health = box.pipeline.health.snapshot().counters
    first = notify_socket.received[0].split("\n")
    assert first[0] == "READY=1"
    assert first[1].startswith("STATUS=veh-001 (vehicle_gateway) publishing to 127.0.0.1:")
    assert set(notify_socket.fields("WATCHDOG")) == {"1"}
    assert notify_socket.fields("STOPPING") == ["1"]
    assert notify_socket.received[-1].startswith("STOPPING=1")
    assert any(" queued" in status for status in notify_socket.fields("STATUS"))
    assert health["systemd.watchdog_pings"] >= 3


class StuckablePipeline:
    """A pipeline stand-in whose health service stops taking its report while ``stuck`` is
    set; a metrics scrape keeps taking it all the time."""

    def __init__(self, health: HealthReport) -> None:
        self.health = health
        self.stuck = asyncio.Event()
        self.counters: dict[str, int] = {}

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._health(), name=HEALTH_SERVICE)
            tasks.create_task(self._scrapes(), name="metrics-scrape")

    async def _health(self) -> None:
        while True:
            if not self.stuck.is_set():
                self.health.snapshot()
            await asyncio.sleep(0.05)

    async def _scrapes(self) -> None:
        while True:
            self.health.snapshot()
            await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_a_stuck_pipeline_stops_the_pings_until_it_progresses_again(
    tmp_path: Path, notify_socket: NotifySocket
) -> None:
    env = notify_socket.env | {"WATCHDOG_USEC": "100000"}
    with ExitStack() as stack:
        box = vehicle_box(tmp_path, stack, health_period_s=0.05)
        stub = StuckablePipeline(box.pipeline.health)
        box.pipeline = cast(VehicleGatewayPipeline, stub)
        async with running(box, env, min_silence_s=0.3):
            await eventually(lambda: notify_socket.pings() > 0, what="pings")
            stub.stuck.set()
            await eventually(lambda: stalled_rounds(notify_socket) >= 3, what="3 stalled rounds")
            stalled_from = next(
                i for i, d in enumerate(notify_socket.received) if "STATUS=STALLED" in d
            )
            while_stalled = notify_socket.received[stalled_from:]
            assert not any("WATCHDOG=1" in d for d in while_stalled)
            assert "box-veh-001" in while_stalled[0]
            stub.stuck.clear()
            pings = notify_socket.pings()
            await eventually(lambda: notify_socket.pings() > pings, what="pings again")
        assert box.pipeline.health.snapshot().counters["systemd.watchdog_withheld"] >= 3


def stalled_rounds(listener: NotifySocket) -> int:
    listener.drain()
    return sum(status.startswith("STALLED") for status in listener.fields("STATUS"))


def fake_clock() -> tuple[list[float], Heartbeat]:
    now = [100.0]
    return now, Heartbeat("box-x", silence_s=10.0, monotonic=lambda: now[0])


def ticks(watchdog: Watchdog, now: list[float], seconds: int, listener: NotifySocket) -> list[bool]:
    """Tick once a second (the watchdog's interval) for ``seconds``, reading what was sent."""
    results = []
    for _ in range(seconds):
        now[0] += 1.0
        results.append(watchdog.tick())
        listener.drain()
    return results


def test_the_watchdog_decides_on_the_heartbeats_age(notify_socket: NotifySocket) -> None:
    now, heartbeat = fake_clock()
    notifier = Notifier("\0" + notify_socket.name)
    watchdog = Watchdog(notifier, [heartbeat], lambda: "ok", 1.0, monotonic=lambda: now[0])
    assert watchdog.tick()  # no beat yet, but within the allowance from the start
    heartbeat.beat()
    assert ticks(watchdog, now, 10, notify_socket) == [True] * 10
    assert ticks(watchdog, now, 2, notify_socket) == [False, False]  # 11 and 12 s without a beat
    heartbeat.beat()
    assert watchdog.tick()
    notifier.close()
    notify_socket.drain()
    datagrams = notify_socket.received
    assert datagrams[:2] == ["STATUS=ok", "WATCHDOG=1"]
    assert datagrams[-4:] == [
        "STATUS=STALLED: box-x; ok",
        "STATUS=STALLED: box-x; ok",
        "STATUS=ok",
        "WATCHDOG=1",
    ]
    assert heartbeat.counters == {"watchdog_pings": 12, "watchdog_withheld": 2}


def test_a_round_after_a_blocked_loop_pings_and_judges_the_next(
    notify_socket: NotifySocket,
) -> None:
    now, heartbeat = fake_clock()
    notifier = Notifier("\0" + notify_socket.name)
    watchdog = Watchdog(notifier, [heartbeat], lambda: "ok", 1.0, monotonic=lambda: now[0])
    heartbeat.beat()
    assert watchdog.tick()
    now[0] += 20.0  # the loop was blocked: the pipeline had no turn to beat
    assert watchdog.tick()
    assert ticks(watchdog, now, 1, notify_socket) == [
        False
    ]  # the pipeline had its turn and did not beat
    notifier.close()


def test_a_pipeline_that_never_beats_is_stalled_after_its_allowance(
    notify_socket: NotifySocket,
) -> None:
    now, heartbeat = fake_clock()
    notifier = Notifier("\0" + notify_socket.name)
    watchdog = Watchdog(notifier, [heartbeat], lambda: "ok", 1.0, monotonic=lambda: now[0])
    assert watchdog.tick()
    assert ticks(watchdog, now, 11, notify_socket) == [True] * 10 + [False]
    notifier.close()


def test_the_module_sends_to_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch, notify_socket: NotifySocket
) -> None:
    monkeypatch.setitem(os.environ, "NOTIFY_SOCKET", "@" + notify_socket.name)
    notifier = Notifier.from_environment()
    assert notifier.send("STATUS=hello")
    notifier.close()
    assert notify_socket.drain() == ["STATUS=hello"]
