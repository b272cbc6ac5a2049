"""The one sync/async bridge: blocking port reads run on a thread of their own per port.

Ports block (python-can's ``recv``, pyserial's ``read``); the pipeline is asyncio. Each port
gets a dedicated single-thread executor rather than the loop's shared default pool, so that six
busy readers on a 2-core board never starve each other or anything else that uses the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from hal.can.frames import FrameBatch
from hal.can.port import CanPort
from hal.net.port import Datagram, DatagramPort
from hal.serial.port import SerialLinePort


async def can_batches(
    port: CanPort, *, max_frames: int = 4096, poll_s: float = 0.05
) -> AsyncIterator[FrameBatch]:
    """Yield non-empty frame batches from an open ``port`` until cancelled."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"can-{port.name}") as pool:
        while True:
            batch = await loop.run_in_executor(pool, port.receive, max_frames, poll_s)
            if len(batch):
                yield batch


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
