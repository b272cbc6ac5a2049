"""The supervisor: failing services restart with growing delays, crash loops show in counters,
cancellation stops everything in order. Time is a fake clock the tests move by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import Callable

import pytest

from edge.supervision import Supervisor, until_flushed
from hal.errors import PortClosedError
from protocols.mqtt_connection import Backoff, Jitter
from tests.edge.pipeline_stubs import task_names
from tests.support.tasks import running
from tests.support.waiting import eventually

STABLE_S = 30.0


class _Timer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTiming:
    """Sleeps and timers that fire only when the test advances the clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self._order = itertools.count()
        self._due: list[tuple[float, int, Callable[[], None]]] = []

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not woken.done():  # a cancelled sleep stays cancelled
                woken.set_result(None)

        self._at(seconds, wake)
        await woken

    def call_later(self, seconds: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer()

        def fire() -> None:
            if not timer.cancelled:
                callback()

        self._at(seconds, fire)
        return timer

    def _at(self, seconds: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._due, (self.now + seconds, next(self._order), action))

    async def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``, firing what falls due in order; let tasks react."""
        until = self.now + seconds
        await settle()
        while self._due and self._due[0][0] <= until:
            self.now, _, action = heapq.heappop(self._due)
            action()
            await settle()
        self.now = until


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def supervisor(
    timing: FakeTiming, *, crash_loop_after: int = 5, flush_s: float = 5.0
) -> Supervisor:
    return Supervisor(
        timing=timing,
        backoff=lambda: Backoff(1.0, 60.0, jitter=Jitter.EQUAL, rng=random.Random(14)),
        stable_after_s=STABLE_S,
        crash_loop_after=crash_loop_after,
        flush_s=flush_s,
    )


class Flaky:
    """Fails with ``error`` on its first ``failures`` starts, then runs until cancelled."""

    def __init__(self, timing: FakeTiming, failures: int, error: Exception) -> None:
        self.timing = timing
        self.failures = failures
        self.error = error
        self.started_at: list[float] = []

    async def run(self) -> None:
        self.started_at.append(self.timing.now)
        if len(self.started_at) <= self.failures:
            raise self.error
        await asyncio.Event().wait()


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


@pytest.mark.asyncio
async def test_a_service_failing_twice_restarts_with_growing_delays_and_logs_down_and_up_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge.supervision")
    timing = FakeTiming()
    services = supervisor(timing)
    reader = Flaky(timing, failures=2, error=PortClosedError("can0 went away"))
    services.add("can-powertrain", reader.run, long_running=True)
    async with running(services.run(), "supervisor"):
        for _ in range(3):
            await timing.advance(60.0)  # past the longest delay: a restart happens each time
        assert len(reader.started_at) == 3
        first_delay = reader.started_at[1] - reader.started_at[0]
        second_delay = reader.started_at[2] - reader.started_at[1]
        assert 0.5 <= first_delay <= 1.0 < second_delay <= 2.0
        assert services.counters == {
            "can-powertrain.restarts": 2,
            "can-powertrain.up": 1,
            "can-powertrain.crash_looping": 0,
        }
    assert messages(caplog, logging.WARNING) == [
        "can-powertrain down: PortClosedError: can0 went away; restarting with backoff"
    ]
    assert messages(caplog, logging.INFO) == ["can-powertrain recovered (restarted 2 times)"]
    assert not any(r.exc_info for r in caplog.records)  # an expected failure: no traceback


@pytest.mark.asyncio
async def test_after_recovering_the_backoff_starts_again_from_its_minimum() -> None:
    timing = FakeTiming()
    services = supervisor(timing)
    starts: list[float] = []

    async def fails_after_a_minute() -> None:
        starts.append(timing.now)
        await timing.sleep(STABLE_S * 2)
        raise OSError("link lost")

    services.add("feed", fails_after_a_minute, long_running=True)
    async with running(services.run(), "supervisor"):
        await timing.advance(150.0)
        assert len(starts) == 3
        # Each delay is drawn below the minimum's ceiling again (1 s), not doubled to 2 s.
        for before, after in itertools.pairwise(starts):
            assert 0.5 <= after - before - STABLE_S * 2 <= 1.0


@pytest.mark.asyncio
async def test_a_crash_looping_service_shows_in_counters_while_another_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge.supervision")
    timing = FakeTiming()
    services = supervisor(timing, crash_loop_after=3)
    broken = Flaky(timing, failures=1000, error=ValueError("a bug"))
    ticks: list[float] = []

    async def healthy() -> None:
        while True:
            ticks.append(timing.now)
            await timing.sleep(1.0)

    services.add("gnss", broken.run, long_running=True)
    services.add("health", healthy, long_running=True)
    async with running(services.run(), "supervisor"):
        await timing.advance(200.0)
        counters = services.counters
        assert counters["gnss.up"] == 0
        assert counters["gnss.crash_looping"] == 1
        assert counters["gnss.restarts"] == len(broken.started_at) - 1 >= 3
        assert counters["health.up"] == 1
        assert counters["health.restarts"] == 0
        assert len(ticks) == 201  # every second of it
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in errors] == [
        "gnss down (unexpected ValueError); restarting with backoff"
    ]
    assert errors[0].exc_info is not None  # a bug: its traceback, once


@pytest.mark.asyncio
async def test_a_service_that_returns_is_done_unless_long_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    timing = FakeTiming()
    services = supervisor(timing)
    calls = {"once": 0, "forever": 0}

    async def once() -> None:
        calls["once"] += 1

    async def forever() -> None:
        calls["forever"] += 1

    services.add("once", once)
    services.add("forever", forever, long_running=True)
    async with running(services.run(), "supervisor"):
        await timing.advance(120.0)
        assert calls["once"] == 1
        assert calls["forever"] > 2
        assert services.counters["once.restarts"] == 0
        assert services.counters["forever.restarts"] == calls["forever"] - 1
    assert "forever stopped by itself; restarting with backoff" in messages(caplog, logging.WARNING)


@pytest.mark.asyncio
async def test_run_returns_when_every_service_is_done() -> None:
    services = supervisor(FakeTiming())
    done: list[str] = []

    async def finish(name: str) -> None:
        done.append(name)

    services.add("a", finish, "a")
    services.add("b", finish, "b")
    await asyncio.wait_for(services.run(), timeout=10)
    assert sorted(done) == ["a", "b"]


@pytest.mark.asyncio
async def test_each_service_runs_in_a_task_of_its_name() -> None:
    services = supervisor(FakeTiming())
    services.add("uplink", asyncio.Event().wait, long_running=True, stops_last=True)
    services.add("can-radar", asyncio.Event().wait, long_running=True)
    before = asyncio.all_tasks()
    async with running(services.run(), "supervisor"):
        await settle()
        assert task_names(before) == {"supervisor", "uplink", "can-radar"}


@pytest.mark.asyncio
async def test_cancellation_stops_readers_then_flushes_then_stops_the_last() -> None:
    services = supervisor(FakeTiming())
    order: list[str] = []

    async def service(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            order.append(f"stopped {name}")

    async def flush() -> None:
        order.append("flushed")

    services.add("uplink", service, "uplink", long_running=True, stops_last=True)
    services.add("can-a", service, "can-a", long_running=True)
    services.add("gnss", service, "gnss", long_running=True)
    task = asyncio.create_task(services.run(flush), name="supervisor")
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(order[:2]) == ["stopped can-a", "stopped gnss"]
    assert order[2:] == ["flushed", "stopped uplink"]


@pytest.mark.asyncio
async def test_a_flush_that_hangs_is_cut_short_and_the_last_still_stop() -> None:
    services = supervisor(FakeTiming(), flush_s=0.01)
    stopped = asyncio.Event()

    async def uplink() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    services.add("uplink", uplink, long_running=True, stops_last=True)
    task = asyncio.create_task(services.run(asyncio.Event().wait), name="supervisor")
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set()


class StubFlushingUplink:
    def __init__(self, queued: int, connected: bool) -> None:
        self.queued = queued
        self.connected = asyncio.Event()
        if connected:
            self.connected.set()


@pytest.mark.asyncio
async def test_until_flushed_waits_for_a_connected_uplink_to_empty_its_outbox() -> None:
    uplink = StubFlushingUplink(queued=3, connected=True)
    waiting = asyncio.create_task(until_flushed(uplink, poll_s=0.001), name="flush")
    await asyncio.sleep(0.01)
    assert not waiting.done()
    uplink.queued = 0
    await asyncio.wait_for(waiting, timeout=10)


@pytest.mark.asyncio
async def test_until_flushed_does_not_wait_for_an_absent_broker_or_an_unknown_uplink() -> None:
    await asyncio.wait_for(until_flushed(StubFlushingUplink(3, connected=False)), timeout=10)
    await asyncio.wait_for(until_flushed(object()), timeout=10)


def test_a_service_name_is_taken_once_and_settings_are_checked() -> None:
    services = Supervisor()
    services.add("gnss", asyncio.sleep, 0)
    with pytest.raises(ValueError, match="twice"):
        services.add("gnss", asyncio.sleep, 0)
    with pytest.raises(ValueError, match="stable_after_s"):
        Supervisor(stable_after_s=0)


def test_a_service_is_restarted_by_name_at_once() -> None:
    starts: list[str] = []

    async def serve(tag: str) -> None:
        starts.append(tag)
        await asyncio.Event().wait()

    async def scenario() -> None:
        supervisor = Supervisor(timing=FakeTiming())
        supervisor.add("reader", serve, "r", long_running=True)
        supervisor.add("other", serve, "o", long_running=True)
        with pytest.raises(RuntimeError, match="not running"):
            supervisor.restart("reader")
        task = asyncio.create_task(supervisor.run(), name="supervisor")
        await eventually(lambda: len(starts) == 2, what="both services started")
        supervisor.restart("reader")
        await eventually(lambda: starts.count("r") == 2, what="the reader started again")
        assert starts.count("o") == 1  # the other one ran on
        assert supervisor.counters["reader.restarts"] == 1
        with pytest.raises(KeyError, match="no service 'nope'"):
            supervisor.restart("nope")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
