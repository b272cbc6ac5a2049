"""``can_batches`` on a port the loop can wait on: read when the socket is readable, at least
every ``poll_s`` when it is not, the new socket watched after a reopen, no thread.

The port here stands in for SocketCAN over a real socket pair (each byte one frame), so that
the loop's side is tested on any kernel; the same path on real vcan is in
``tests/hal/vcan/test_socketcan_batches.py``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from edge.port_io import can_batches, next_tick
from hal.can.frames import FrameBatch, empty_batch
from hal.can.port import BusState, PollableCanPort
from hal.can.python_can_port import PythonCanPort
from hal.port_base import AdapterBase
from tests.support.waiting import eventually


class SocketPairPort(AdapterBase):
    """Each byte written to ``feed`` is one frame (its value the frame's id). After
    ``lose_socket()`` the next ``receive`` drops the socket and the one after opens a new
    pair, as SocketCAN's port does when its interface goes and comes back."""

    def __init__(self) -> None:
        self._name = "pair"
        self._is_open = False
        self.feed: socket.socket | None = None
        self._sock: socket.socket | None = None
        self.receives = 0
        self.reopens = 0
        self._losing = False

    @property
    def state(self) -> BusState:
        return BusState.ACTIVE if self._sock is not None else BusState.DOWN

    @property
    def counters(self) -> Mapping[str, int]:
        return {"receives": self.receives}

    def open(self) -> None:
        self._is_open = True
        self._pair()

    def _pair(self) -> None:
        self._sock, self.feed = socket.socketpair()
        self._sock.setblocking(False)

    def close(self) -> None:
        self._is_open = False
        self.drop()

    def lose_socket(self) -> None:
        self._losing = True

    def drop(self) -> None:
        for s in (self._sock, self.feed):
            if s is not None:
                s.close()
        self._sock = self.feed = None

    def fileno(self) -> int | None:
        return None if self._sock is None else self._sock.fileno()

    def receive(self, max_frames: int = 1024, timeout: float = 0.1) -> FrameBatch:
        assert timeout == 0.0, "the loop's path never blocks in receive"
        self.receives += 1
        if self._sock is None:
            self._pair()
            self.reopens += 1
            return empty_batch()
        if self._losing:
            self._losing = False
            self.drop()
            return empty_batch()
        try:
            data = self._sock.recv(max_frames)
        except BlockingIOError:
            return empty_batch()
        batch = empty_batch(len(data))
        batch["arbitration_id"] = list(data)
        return batch

    def send(self, arbitration_id: int, data: bytes, **_: bool) -> None:
        raise NotImplementedError

    def send_remote(self, arbitration_id: int, length: int, *, extended: bool = False) -> None:
        raise NotImplementedError


class TimerLog(asyncio.SelectorEventLoop):
    """An event loop that keeps every timer the reader arms, by the name of its callback
    (``wake``: a paced read's tick; ``tick``: the poll period), so that tests check when
    reads were scheduled, not how late the machine ran them."""

    def __init__(self) -> None:
        super().__init__()
        self.timers: dict[str, list[tuple[Callable[..., object], asyncio.TimerHandle]]] = {}

    def call_at(
        self, when: float, callback: Callable[..., object], *args: object, context: Any = None
    ) -> asyncio.TimerHandle:
        handle = super().call_at(when, callback, *args, context=context)
        if callback.__qualname__.startswith("_polled_batches."):
            self.timers.setdefault(callback.__name__, []).append((callback, handle))
        return handle

    def armed(self, name: str) -> list[asyncio.TimerHandle]:
        return [handle for _, handle in self.timers.get(name, [])]

    def by_reader(self, name: str) -> list[list[float]]:
        """The times each reader's ``name`` timers were set for, reader by reader."""
        times: dict[int, list[float]] = {}
        for callback, handle in self.timers.get(name, []):
            times.setdefault(id(callback), []).append(handle.when())
        return list(times.values())


def run_logged(scenario: Callable[[TimerLog], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=TimerLog) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, TimerLog)
        runner.run(scenario(loop))


def on_grid(when: float, window_s: float) -> bool:
    return abs(when / window_s - round(when / window_s)) < 1e-6


def test_the_stand_in_is_what_the_loop_path_takes() -> None:
    assert isinstance(SocketPairPort(), PollableCanPort)
    assert not isinstance(
        PythonCanPort("virtual", channel="x", interface="virtual"), PollableCanPort
    )


async def _collect(port: SocketPairPort, out: list[int], **kwargs: float) -> None:
    async for batch in can_batches(port, **kwargs):  # type: ignore[arg-type]
        out.extend(batch["arbitration_id"].tolist())


def test_frames_are_read_as_they_come_and_on_the_loop_thread() -> None:
    async def scenario() -> None:
        port = SocketPairPort()
        port.open()
        got: list[int] = []
        threads = threading.active_count()
        # A poll period far beyond the test: only readability can wake the reader.
        reader = asyncio.create_task(_collect(port, got, poll_s=60.0))
        for i in range(1, 6):
            assert port.feed is not None
            port.feed.send(bytes([i]))
            await eventually(lambda n=i: len(got) >= n, 5, "frame read")  # type: ignore[misc]
        assert got == [1, 2, 3, 4, 5]
        assert threading.active_count() == threads  # no reader thread
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        port.close()

    asyncio.run(scenario())


def test_a_backlog_beyond_max_frames_is_read_in_full() -> None:
    async def scenario() -> None:
        port = SocketPairPort()
        port.open()
        assert port.feed is not None
        port.feed.send(bytes(range(1, 11)))
        got: list[int] = []
        reader = asyncio.create_task(_collect(port, got, max_frames=4, poll_s=60.0))
        await eventually(lambda: len(got) >= 10, 5, "ten frames read")
        assert got == list(range(1, 11))
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        port.close()

    asyncio.run(scenario())


def test_an_idle_port_is_still_asked_every_poll_period_and_not_between() -> None:
    async def scenario() -> None:
        ticking, quiet = SocketPairPort(), SocketPairPort()
        ticking.open()
        quiet.open()
        readers = [
            asyncio.create_task(_collect(ticking, [], poll_s=0.01)),
            asyncio.create_task(_collect(quiet, [], poll_s=60.0)),
        ]
        await eventually(lambda: ticking.receives >= 5, 5, "five poll periods' receives")
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        # Nothing came and no period ended: the first read, then a wait, never a spin.
        assert quiet.receives == 1
        ticking.close()
        quiet.close()

    asyncio.run(scenario())


def test_after_a_reopen_the_new_socket_is_watched_and_at_the_end_none() -> None:
    poll_s = 2.0

    async def scenario(loop: TimerLog) -> None:
        port = SocketPairPort()
        port.open()
        got: list[int] = []
        polls_at_read: list[int] = []

        async def collect() -> None:
            async for batch in can_batches(port, poll_s=poll_s):
                polls_at_read.append(len(loop.armed("tick")))
                got.extend(batch["arbitration_id"].tolist())

        reader = asyncio.create_task(collect())
        await eventually(lambda: port.receives > 0, 5, "first read")  # the first socket watched
        port.lose_socket()
        assert port.feed is not None
        port.feed.send(b"\x01")  # wakes the reader, whose receive then loses the socket
        # The next poll period's receive reopens (its tick has armed the next one by then).
        await eventually(lambda: port.reopens > 0, 5 * poll_s, "reopened")
        polls_at_reopen = len(loop.armed("tick"))
        assert port.feed is not None
        port.feed.send(b"\x07")
        await eventually(lambda: bool(got), 5, "frame read")
        # No poll period ended before the read: the new socket (often the old one's number)
        # woke it.
        assert polls_at_read == [polls_at_reopen]
        assert got == [7]
        fd = port.fileno()
        assert fd is not None
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        assert not loop.remove_reader(fd)  # the reader let go of it
        port.close()

    run_logged(scenario)


async def _feed_every(port: SocketPairPort, period_s: float, count: int) -> None:
    for i in range(count):
        assert port.feed is not None
        port.feed.send(bytes([i % 256]))
        await asyncio.sleep(period_s)


def test_a_window_paces_a_busy_port_and_loses_nothing() -> None:
    """Frames every 2 ms for about half a second: read at every frame or two without a window,
    about once a window with one, every frame read once and in order either way."""
    count, window_s = 250, 0.05

    async def reads(loop: TimerLog, window: float) -> tuple[int, list[int]]:
        port = SocketPairPort()
        port.open()
        got: list[int] = []
        reader = asyncio.create_task(_collect(port, got, poll_s=60.0, window_s=window))
        await _feed_every(port, 0.002, count)
        await eventually(lambda: len(got) >= count, 5, "every frame read")
        receives = port.receives
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        port.close()
        return receives, got

    async def scenario(loop: TimerLog) -> None:
        eager, eager_got = await reads(loop, 0.0)
        assert not loop.armed("wake")  # unpaced: never a timer between reads
        paced, paced_got = await reads(loop, window_s)
        assert eager_got == paced_got == [i % 256 for i in range(count)]
        assert eager >= count // 3, eager  # the socket woke it for each frame or few
        # Paced: after the first read (the socket woke it) each read is a window's tick,
        # armed on the grid; the last finds nothing and waits for the socket.
        ticks = [handle.when() for handle in loop.armed("wake")]
        assert all(on_grid(when, window_s) for when in ticks), ticks
        assert paced <= len(ticks) + 2, (paced, len(ticks))
        assert ticks == sorted(set(ticks))  # a read a window at most, however busy

    run_logged(scenario)


def test_a_paced_port_that_goes_quiet_waits_for_its_socket_again() -> None:
    """After a read that finds nothing, the next frame wakes the reader at once, not a window
    later, and an idle paced port is not read again and again."""
    window_s = 0.4

    async def scenario(loop: TimerLog) -> None:
        port = SocketPairPort()
        port.open()
        got: list[int] = []
        reader = asyncio.create_task(_collect(port, got, poll_s=60.0, window_s=window_s))
        assert port.feed is not None
        port.feed.send(b"\x01")
        await eventually(lambda: got == [1], 5, "the first frame")
        # The read a window later finds nothing: the socket is watched again.
        await asyncio.sleep(1.5 * window_s)
        quiet_receives = port.receives
        await asyncio.sleep(2 * window_s)
        assert port.receives == quiet_receives  # idle: no reads without frames
        # No window's tick is left to wake it, nor a poll within the test: only the socket.
        assert loop.armed("wake"), "the first frame's read was paced"
        assert all(h.cancelled() or h.when() <= loop.time() for h in loop.armed("wake"))
        polls = len(loop.armed("tick"))
        port.feed.send(b"\x02")
        await eventually(lambda: got == [1, 2], 5, "the second frame")
        assert len(loop.armed("tick")) == polls
        fd = port.fileno()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        assert fd is not None
        assert not loop.remove_reader(fd)  # let go of at the end
        port.close()

    run_logged(scenario)


@given(st.floats(0, 1e6), st.floats(1e-4, 1.0))
def test_the_next_tick_is_the_first_multiple_of_the_window_after_now(
    now: float, window_s: float
) -> None:
    tick = next_tick(now, window_s)
    assert tick > now
    assert tick - now <= window_s * (1 + 1e-9) + 1e-9
    assert abs(tick / window_s - round(tick / window_s)) < 1e-6


def test_busy_ports_paced_alike_are_read_in_the_same_turn() -> None:
    """Two busy ports with the same window: their paced reads fall on the same ticks."""
    window_s = 0.05

    async def scenario(loop: TimerLog) -> None:
        ports = [SocketPairPort(), SocketPairPort()]
        reads = [0, 0]

        async def collect(k: int) -> None:
            async for _batch in can_batches(ports[k], poll_s=60.0, window_s=window_s):
                reads[k] += 1

        for port in ports:
            port.open()
        readers = [asyncio.create_task(collect(k)) for k in range(2)]
        for i in range(150):
            for port in ports:
                assert port.feed is not None
                port.feed.send(bytes([i % 256]))
            await asyncio.sleep(0.002)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        # Past each port's first read (when its socket woke it), each read is armed for a
        # tick of the grid, the same tick for both: asyncio runs the timers due together.
        first, second = loop.by_reader("wake")
        assert all(on_grid(when, window_s) for when in first + second), (first, second)
        assert len(set(first) ^ set(second)) <= 2, (first, second)  # but at the start or end
        assert len(set(first) & set(second)) >= 3
        for k, armed in enumerate((first, second)):
            assert armed == sorted(set(armed))
            assert reads[k] <= len(armed) + 1, (reads, armed)
        for port in ports:
            port.close()

    run_logged(scenario)
