"""Supervision: a box's services (readers, publishers, the uplink) run side by side, and one that
fails is restarted with backoff instead of ending the box.

A failing service is logged once when it goes down and once when it has recovered (stayed up
``stable_after_s``); in between its failures go to the debug log. An expected failure (a
``HalError``, ``EdgeError``, ``ProtocolError`` or ``OSError``: a port that died, a feed that
spoke nonsense) is one line; anything else is a bug and carries its traceback. Health shows
each service's ``<name>.restarts``, ``<name>.up`` (0/1) and ``<name>.crash_looping`` (gone
down ``crash_loop_after`` times without staying up in between).

Cancelling ``Supervisor.run`` is the shutdown: the other services stop first, then ``flush``
runs for up to ``flush_s`` (the uplink sends what it can), then the services added with
``stops_last`` (the uplink, which says goodbye when cancelled) are stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVarTuple, runtime_checkable

from edge.errors import EdgeError
from hal.errors import HalError
from protocols.errors import ProtocolError
from protocols.mqtt_connection import Backoff, Jitter

EXPECTED_FAILURES: tuple[type[Exception], ...] = (HalError, EdgeError, ProtocolError, OSError)
"""Failures of the outside world, logged in one line; any other exception is a bug."""

RESTART_MIN_S = 1.0
RESTART_MAX_S = 60.0
STABLE_AFTER_S = 30.0
"""A restarted service that stays up this long has recovered: logged, its backoff reset."""
CRASH_LOOP_AFTER = 5
"""Failures in a row (none stable) after which a service is reported crash-looping."""
SHUTDOWN_FLUSH_S = 5.0
"""How long a shutdown lets the uplink send what waits, once the readers have stopped."""

log = logging.getLogger("edge.supervision")

Args = TypeVarTuple("Args")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timing(Protocol):
    """How the supervisor waits: the event loop's clock, or a test's fake one."""

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Cancellable: ...


class LoopTiming:
    """The running event loop's clock."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(seconds, callback)


def restart_backoff() -> Backoff:
    """Restart delays doubling from 1 s to 60 s. Equal jitter: a crash-looping service never
    restarts in a tight loop, and delays grow with each failure."""
    return Backoff(RESTART_MIN_S, RESTART_MAX_S, jitter=Jitter.EQUAL)


@dataclass(frozen=True)
class Service:
    """``run(*args)`` is started anew on every restart; ``long_running``: returning is a
    failure."""

    name: str
    run: Callable[..., Awaitable[object]]
    args: tuple[object, ...]
    long_running: bool
    stops_last: bool


@dataclass
class _State:
    up: bool = False
    restarts: int = 0
    failures_in_row: int = 0  # since the service last stayed up stable_after_s


class Supervisor:
    """Runs named services until cancelled, each in a task of its name, restarting failures."""

    def __init__(
        self,
        *,
        timing: Timing | None = None,
        backoff: Callable[[], Backoff] = restart_backoff,
        stable_after_s: float = STABLE_AFTER_S,
        crash_loop_after: int = CRASH_LOOP_AFTER,
        flush_s: float = SHUTDOWN_FLUSH_S,
    ) -> None:
        if stable_after_s <= 0 or crash_loop_after < 1 or flush_s < 0:
            raise ValueError("need stable_after_s > 0, crash_loop_after >= 1 and flush_s >= 0")
        self._timing = timing or LoopTiming()
        self._backoff = backoff
        self._stable_after_s = stable_after_s
        self._crash_loop_after = crash_loop_after
        self._flush_s = flush_s
        self._services: dict[str, Service] = {}
        self._states: dict[str, _State] = {}
        self._running: dict[str, asyncio.Task[object]] = {}  # each service's current run
        self._restart_asked: set[str] = set()

    def add(
        self,
        name: str,
        run: Callable[[*Args], Awaitable[object]],
        *args: *Args,
        long_running: bool = False,
        stops_last: bool = False,
    ) -> None:
        """Supervise ``run(*args)`` as ``name`` (its task's name). A ``long_running`` service
        that returns is restarted like a failed one; any other is done when it returns. A
        ``stops_last`` one is stopped after the others and the flush (see ``run``)."""
        if name in self._services:
            raise ValueError(f"service {name!r} added twice")
        self._services[name] = Service(name, run, args, long_running, stops_last)
        self._states[name] = _State()

    @property
    def names(self) -> list[str]:
        return list(self._services)

    def restart(self, name: str) -> None:
        """Stop service ``name``'s current run and start it again at once (an operator's
        ``restart_service``). Raises ``KeyError`` for an unknown name, ``RuntimeError`` when
        it is not running (not started yet, or waiting to restart)."""
        if name not in self._services:
            raise KeyError(f"no service {name!r}; services: {sorted(self._services)}")
        running = self._running.get(name)
        if running is None or running.done():
            raise RuntimeError(f"service {name!r} is not running")
        self._restart_asked.add(name)
        running.cancel()

    @property
    def counters(self) -> Mapping[str, int]:
        """``<name>.restarts``, ``<name>.up`` and ``<name>.crash_looping`` of each service."""
        counters: dict[str, int] = {}
        for name, state in self._states.items():
            counters[f"{name}.restarts"] = state.restarts
            counters[f"{name}.up"] = int(state.up)
            counters[f"{name}.crash_looping"] = int(self._crash_looping(state))
        return counters

    async def run(self, flush: Callable[[], Awaitable[object]] | None = None) -> None:
        """Run every service until cancelled (or all are done); see the module docstring for
        the order of a shutdown. A bug of the supervisor itself propagates."""
        first = [self._start(s) for s in self._services.values() if not s.stops_last]
        last = [self._start(s) for s in self._services.values() if s.stops_last]
        if not first + last:
            return
        try:
            done, _ = await asyncio.wait(first + last, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            try:
                await _stop(first)
                if flush is not None:
                    await self._flush(flush)
            finally:
                await _stop(last)
            raise
        await _stop(first + last)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                task.result()

    def _start(self, service: Service) -> asyncio.Task[None]:
        return asyncio.create_task(self._supervise(service), name=service.name)

    async def _flush(self, flush: Callable[[], Awaitable[object]]) -> None:
        try:
            async with asyncio.timeout(self._flush_s):
                await flush()
        except TimeoutError:
            log.warning("shutdown: gave up flushing after %.1f s", self._flush_s)

    async def _supervise(self, service: Service) -> None:
        state = self._states[service.name]
        backoff = self._backoff()
        while True:
            state.up = True
            stable = self._timing.call_later(
                self._stable_after_s, lambda: self._stayed_up(service, state, backoff)
            )
            failure: Exception | None = None
            # Its own task (named as the service), so that ``restart`` can stop this run only.
            run = asyncio.create_task(_awaited(service.run(*service.args)), name=service.name)
            self._running[service.name] = run
            try:
                await run
            except asyncio.CancelledError:
                if _being_cancelled() or service.name not in self._restart_asked:
                    run.cancel()
                    raise
            except Exception as err:
                failure = err
            finally:
                stable.cancel()
                state.up = False
                self._running.pop(service.name, None)
            if _being_cancelled():
                raise asyncio.CancelledError  # the service swallowed our cancellation
            if service.name in self._restart_asked:
                self._restart_asked.discard(service.name)
                log.info("%s restarted on request", service.name)
                state.restarts += 1
                continue
            if failure is None and not service.long_running:
                log.debug("%s finished", service.name)
                return
            self._went_down(service, state, failure)
            await self._timing.sleep(backoff.next_delay())
            state.restarts += 1

    def _went_down(self, service: Service, state: _State, failure: Exception | None) -> None:
        state.failures_in_row += 1
        first = state.failures_in_row == 1
        level = logging.WARNING if first else logging.DEBUG
        if failure is None:
            log.log(level, "%s stopped by itself; restarting with backoff", service.name)
        elif isinstance(failure, EXPECTED_FAILURES):
            log.log(level, "%s down: %s; restarting with backoff", service.name, _one_line(failure))
        else:  # a bug: its traceback is what someone needs to fix it
            log.log(
                logging.ERROR if first else logging.DEBUG,
                "%s down (unexpected %s); restarting with backoff",
                service.name,
                type(failure).__name__,
                exc_info=failure,
            )

    def _stayed_up(self, service: Service, state: _State, backoff: Backoff) -> None:
        backoff.reset()
        if state.failures_in_row:
            log.info("%s recovered (restarted %d times)", service.name, state.failures_in_row)
            state.failures_in_row = 0

    def _crash_looping(self, state: _State) -> bool:
        return state.failures_in_row >= self._crash_loop_after


async def _stop(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them; a failure other than the cancellation propagates."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    for result in await asyncio.gather(*pending, return_exceptions=True):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


@runtime_checkable
class FlushingUplink(Protocol):
    """An uplink whose backlog can be waited for (``edge.uplink.publisher.UplinkPublisher``)."""

    connected: asyncio.Event

    @property
    def queued(self) -> int: ...


async def until_flushed(uplink: object, poll_s: float = 0.05) -> None:
    """Return once ``uplink`` has sent what waits, or at once when it cannot: it is not
    connected, or it is no ``FlushingUplink``. (What stays waits in the outbox for the next
    start.)"""
    if not isinstance(uplink, FlushingUplink):
        return
    # Polling: the outbox offers no event for "empty"; a shutdown waits at most seconds.
    while uplink.connected.is_set() and uplink.queued:  # noqa: ASYNC110
        await asyncio.sleep(poll_s)


async def _awaited(awaitable: Awaitable[object]) -> object:
    return await awaitable
