"""Tell systemd how the box is doing: READY, STATUS, WATCHDOG and STOPPING over ``$NOTIFY_SOCKET``.

The sd_notify protocol is one datagram of ``KEY=value`` lines to the AF_UNIX socket systemd
names in ``$NOTIFY_SOCKET`` (``@`` for Linux's abstract namespace), so it is written here rather
than taken from a library. Without the variable (not started by systemd, or ``Type=simple``)
nothing is sent and nothing fails; a failed send is counted and logged once, never raised.

The watchdog is fed from a task on the box's event loop, so a stalled loop stops the pings by
itself. Each pipeline must also show progress: its supervised ``health`` service beats a
``Heartbeat`` each time it takes the health report (a metrics scrape taking it does not); a
pipeline whose beats stop for ``silence_s`` withholds the pings, and systemd restarts the
service ``WatchdogSec`` later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # firmware_py.box runs the box through this module
    from firmware_py.box.built_box import Box

log = logging.getLogger("firmware_py.systemd")

MIN_SILENCE_S = 10.0
"""The least time a pipeline may go without a beat before the watchdog is withheld."""

SILENT_HEALTH_PERIODS = 3
"""How many health periods a pipeline may miss before it counts as stuck."""

HEALTH_SERVICE = "health"
"""The name of the pipelines' supervised service (its task) that publishes health."""

DEFAULT_STATUS_PERIOD_S = 10.0
"""How often STATUS is refreshed when systemd asks for no watchdog."""


def notify_address(env: Mapping[str, str]) -> str | None:
    """The socket address in ``env["NOTIFY_SOCKET"]``, or None when there is none to use.

    ``@name`` is Linux's abstract namespace (a leading NUL byte); other values must be absolute
    paths (systemd's ``vsock:`` addresses are not supported, and ignored).
    """
    value = env.get("NOTIFY_SOCKET", "")
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_interval_s(env: Mapping[str, str], pid: int) -> float | None:
    """How often to ping: half of ``$WATCHDOG_USEC``, if it is meant for process ``pid``.

    None when systemd asks for no watchdog, ``$WATCHDOG_PID`` names another process, or a
    value is not a positive integer.
    """
    usec = _decimal(env.get("WATCHDOG_USEC", ""))
    owner = env.get("WATCHDOG_PID", "")
    if owner and _decimal(owner) != pid:
        return None
    if not usec:
        return None
    return usec / 2e6


def _decimal(text: str) -> int | None:
    """``text`` as a plain decimal number (ASCII digits only: no sign, space or '¹')."""
    return int(text) if text.isascii() and text.isdigit() else None


class Notifier:
    """Sends sd_notify datagrams to ``address`` (None: a notifier that sends nothing)."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.counters: Counter[str] = Counter()
        self._sock: socket.socket | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """The notifier ``$NOTIFY_SOCKET`` asks for (of ``os.environ`` unless ``env``)."""
        return cls(notify_address(os.environ if env is None else env))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``fields`` (``KEY=value`` each) as one datagram; True when it was sent."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                # Non-blocking: a listener that stops reading must not block the event loop
                # (a full queue is a send error, counted).
                self._sock = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                )
            self._sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as err:
            if not self.counters["send_errors"]:
                log.warning("systemd: cannot notify %r: %s", self.address.lstrip("\0"), err)
            self.counters["send_errors"] += 1
            return False
        self.counters["sent"] += 1
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Heartbeat:
    """A pipeline's proof of progress: ``beat`` is called by the pipeline's own periodic work.

    Registered as a counter source of the pipeline's health report (``health.add``), it beats
    each time the pipeline's health service (the task named ``HEALTH_SERVICE``) takes that
    report; the report taken by anyone else (a metrics scrape) is no proof. It reports the
    watchdog's pings and withheld pings.
    """

    def __init__(self, name: str, silence_s: float, monotonic: Callable[[], float]) -> None:
        self.name = name
        self.silence_s = silence_s
        self._monotonic = monotonic
        self.last_beat: float | None = None
        self.first_beat = asyncio.Event()
        self.counters: Counter[str] = Counter()

    def beat(self) -> None:
        self.last_beat = self._monotonic()
        self.first_beat.set()

    def stalled(self, now: float) -> bool:
        """True when the last beat is more than ``silence_s`` old, or there was none."""
        return self.last_beat is None or now - self.last_beat > self.silence_s

    def counter_source(self) -> Mapping[str, int]:
        """A health counter source that beats when the pipeline's health service calls it."""
        with contextlib.suppress(RuntimeError):  # no running loop: not the pipeline
            task = asyncio.current_task()
            if task is not None and task.get_name() == HEALTH_SERVICE:
                self.beat()
        return dict(self.counters)


class StatusLine(Protocol):
    def __call__(self) -> str: ...


@dataclass
class Watchdog:
    """Pings systemd's watchdog every ``interval_s`` while every heartbeat is recent, and
    refreshes STATUS; ``status`` gives the one-line status."""

    notifier: Notifier
    heartbeats: Sequence[Heartbeat]
    status: StatusLine
    interval_s: float | None
    monotonic: Callable[[], float] = time.monotonic
    _stalled: frozenset[str] = field(default_factory=frozenset)
    _started: float | None = None
    _last_tick: float | None = None

    def tick(self) -> bool:
        """One round: STATUS, then WATCHDOG=1 if every pipeline progressed. True if pinged."""
        now = self.monotonic()
        if self._started is None:
            self._started = now
        period = self.interval_s or DEFAULT_STATUS_PERIOD_S
        # A late round follows a blocked loop, in which no pipeline had a turn either: the loop
        # runs again, so ping, and judge the pipelines from the next round on.
        late = self._last_tick is not None and now - self._last_tick > 2 * period
        self._last_tick = now
        # Before its first beat a pipeline has the same allowance as after one.
        stalled = frozenset(
            h.name
            for h in self.heartbeats
            if not late
            and h.stalled(now)
            and (h.last_beat is not None or now - self._started > h.silence_s)
        )
        if stalled != self._stalled:
            if stalled:
                log.error(
                    "systemd: pipeline %s made no progress: the watchdog is no longer fed",
                    ", ".join(sorted(stalled)),
                )
            else:
                log.warning("systemd: every pipeline progresses again; feeding the watchdog")
            self._stalled = stalled
        status = self.status()
        if stalled:
            status = f"STALLED: {', '.join(sorted(stalled))}; {status}"
        self.notifier.send(f"STATUS={status}")
        if self.interval_s is None:
            return False
        if stalled:
            for h in self.heartbeats:
                h.counters["watchdog_withheld"] += 1
            return False
        if self.notifier.send("WATCHDOG=1"):
            for h in self.heartbeats:
                h.counters["watchdog_pings"] += 1
        return True

    async def run(self) -> None:
        """Tick every ``interval_s`` (STATUS only: every ``DEFAULT_STATUS_PERIOD_S``) until
        cancelled. Runs on the event loop it watches: a blocked loop sends nothing."""
        period = self.interval_s or DEFAULT_STATUS_PERIOD_S
        while True:
            self.tick()
            await asyncio.sleep(period)


def box_status(box: Box) -> str:
    """One line: the device, its role, the broker and what it published so far, per stream."""
    device = box.config.device
    mqtt = box.config.uplink.mqtt
    sent = ", ".join(f"{n} {stream}" for stream, n in sorted(box.uplink.published.items()) if n)
    return (
        f"{device.device_id} ({device.role}) publishing to {mqtt.host}:{mqtt.port}: "
        f"sent {sent or 'nothing yet'}; {box.uplink.queued} queued"
    )


def box_heartbeat(
    box: Box, min_silence_s: float = MIN_SILENCE_S, monotonic: Callable[[], float] = time.monotonic
) -> Heartbeat:
    """A heartbeat beaten by ``box``'s pipeline each time it takes its health report; it may
    be silent for ``SILENT_HEALTH_PERIODS`` health periods, at least ``min_silence_s``."""
    silence_s = max(min_silence_s, SILENT_HEALTH_PERIODS * box.config.health_period_s)
    heartbeat = Heartbeat(f"box-{box.config.device.device_id}", silence_s, monotonic)
    box.pipeline.health.add("systemd", heartbeat.counter_source)
    return heartbeat


async def run_notifying_systemd(
    box: Box, env: Mapping[str, str] | None = None, min_silence_s: float = MIN_SILENCE_S
) -> None:
    """Run ``box`` until cancelled, telling systemd (when ``env``, default ``os.environ``,
    names a socket) READY=1 once the pipeline's first health report shows it running (its
    uplink task started before), STATUS and WATCHDOG while it progresses (``box_heartbeat``),
    and STOPPING=1 as soon as shutdown begins."""
    env = os.environ if env is None else env
    notifier = Notifier.from_environment(env)
    if not notifier.enabled:
        await box.run()
        return
    heartbeat = box_heartbeat(box, min_silence_s)
    watchdog = Watchdog(
        notifier, [heartbeat], lambda: box_status(box), watchdog_interval_s(env, os.getpid())
    )
    name = box.config.device.device_id
    running = asyncio.create_task(box.run(), name=f"box-run-{name}")
    feeding = asyncio.create_task(_feed(watchdog, heartbeat), name=f"systemd-{name}")
    try:
        # asyncio.wait, not await: a cancellation reaches this frame at once, not after the
        # box's own shutdown, so systemd hears STOPPING=1 when stopping begins.
        await asyncio.wait({running})
    finally:
        notifier.send("STOPPING=1", "STATUS=stopping: publishing OFFLINE, committing the outbox")
        feeding.cancel()
        running.cancel()  # a no-op when it ended by itself
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
        try:
            await running  # the box's shutdown; its failure propagates
        except asyncio.CancelledError:
            pass
        finally:
            notifier.close()


async def _feed(watchdog: Watchdog, heartbeat: Heartbeat) -> None:
    await heartbeat.first_beat.wait()  # the pipeline's first health report comes at its start
    watchdog.notifier.send("READY=1", f"STATUS={watchdog.status()}")
    await watchdog.run()
