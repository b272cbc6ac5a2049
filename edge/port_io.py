"""The one sync/async bridge: blocking port reads run on a thread of their own per port.

Ports block (python-can's ``recv``, pyserial's ``read``); the pipeline is asyncio. Each port
gets a dedicated single-thread executor rather than the loop's shared default pool, so that six
busy readers on a 2-core board never starve each other or anything else that uses the pool.
A CAN port the loop can wait on (``PollableCanPort``: SocketCAN) is read by the loop itself
when its socket is readable: a thread's hand-off (executor, futures, the loop's wake-up pipe)
cost more than the read it carried, about a third of the roadside unit's CPU at light load.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from hal.can.frames import FrameBatch
from hal.can.port import CanPort, PollableCanPort
from hal.net.port import Datagram, DatagramPort
from hal.serial.port import SerialLinePort


async def can_batches(
    port: CanPort, *, max_frames: int = 4096, poll_s: float = 0.05, window_s: float = 0.0
) -> AsyncIterator[FrameBatch]:
    """Yield non-empty frame batches from an open ``port`` until cancelled; ``port.receive``
    is called at least every ``poll_s`` (it keeps the port's state and reopening going).

    ``window_s`` > 0 paces a busy pollable port: after a read that found frames, the next
    read comes at the next tick of the loop's clock on a ``window_s`` grid rather than at the
    next frame, so that a bus at full load costs one wake-up a window instead of one every few
    frames, and busy ports paced alike are woken in the same turn of the loop; a read that
    finds none goes back to waiting for the socket. A frame waits at most ``window_s`` longer
    for it."""
    if isinstance(port, PollableCanPort):
        async for batch in _polled_batches(port, max_frames, poll_s, window_s):
            yield batch
        return
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"can-{port.name}") as pool:
        while True:
            batch = await loop.run_in_executor(pool, port.receive, max_frames, poll_s)
            if len(batch):
                yield batch


def next_tick(now: float, window_s: float) -> float:
    """The first multiple of ``window_s`` after ``now``."""
    return (math.floor(now / window_s) + 1) * window_s


async def _polled_batches(
    port: PollableCanPort, max_frames: int, poll_s: float, window_s: float
) -> AsyncIterator[FrameBatch]:
    loop = asyncio.get_running_loop()
    # A bare future per wait rather than an asyncio.Event: Event.wait looks the running loop
    # up, which on CPython 3.11 is a getpid() system call each time.
    waiter: asyncio.Future[None] | None = None
    woken = False  # since the last read: a wake while the batch was out is not lost
    watched: int | None = None
    ticker: asyncio.TimerHandle | None = None
    pacer: asyncio.TimerHandle | None = None

    def wake() -> None:
        nonlocal woken
        woken = True
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def tick() -> None:
        # A timer for the whole read rather than a timeout per wait: the reads come as often
        # as frames do, a timeout's handle and clock reads each time cost what the read did.
        nonlocal ticker
        wake()
        ticker = loop.call_later(poll_s, tick)

    ticker = loop.call_later(poll_s, tick)
    try:
        while True:
            woken = False
            batch = port.receive(max_frames, 0.0)
            paced = window_s > 0 and len(batch) > 0
            # Paced, the socket is not watched: its readiness is level-triggered and would wake
            # the loop at every turn of the window.
            fd = None if paced else port.fileno()
            if fd != watched:  # opened, gone, reopened or paced: watch the socket there is now
                if watched is not None:
                    loop.remove_reader(watched)
                if fd is not None:
                    loop.add_reader(fd, wake)
                watched = fd
            if len(batch):
                yield batch
                if len(batch) == max_frames:
                    continue  # more may be queued: read on before waiting
            if woken:
                continue
            waiter = loop.create_future()
            if paced:
                pacer = loop.call_at(next_tick(loop.time(), window_s), wake)
            await waiter
            if pacer is not None:  # woken by the ticker first
                pacer.cancel()
                pacer = None
    finally:
        for timer in (ticker, pacer):
            if timer is not None:
                timer.cancel()
        if watched is not None:
            loop.remove_reader(watched)


async def serial_lines(port: SerialLinePort, *, poll_s: float = 0.1) -> AsyncIterator[bytes]:
    """Yield the lines of an open serial ``port`` until cancelled."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"serial-{port.name}") as pool:
        while True:
            for line in await loop.run_in_executor(pool, port.read_lines, poll_s):
                yield line


async def datagram_batches(
    port: DatagramPort, *, poll_s: float = 0.05
) -> AsyncIterator[list[Datagram]]:
    """Yield non-empty batches of (datagram, receive time) from an open ``port`` until
    cancelled."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"udp-{port.name}") as pool:
        while True:
            batch = await loop.run_in_executor(pool, port.receive, poll_s)
            if batch:
                yield batch
