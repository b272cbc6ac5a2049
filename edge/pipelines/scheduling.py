"""Periodic work on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def every(period_s: float, action: Callable[[], Awaitable[None] | None]) -> None:
    """Run ``action`` every ``period_s`` seconds on a fixed schedule (no drift) until cancelled."""
    loop = asyncio.get_running_loop()
    next_time = loop.time()
    while True:
        result = action()
        if result is not None:
            await result
        next_time += period_s
        delay = next_time - loop.time()
        if delay < 0:  # fell behind (a stalled loop): skip missed ticks rather than burst
            next_time = loop.time()
            delay = 0
        await asyncio.sleep(delay)
