"""Start and stop: signals, durations, and cancelling work in the right order."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any


def stop_event() -> asyncio.Event:
    """An event set by SIGINT (Ctrl-C) or SIGTERM (systemd stop), for an orderly shutdown."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, event.set)
    return event


async def wait_for_stop(stop: asyncio.Event, duration_s: float | None) -> None:
    """Return when ``stop`` is set or after ``duration_s`` seconds (never, if None or 0)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=duration_s or None)


async def cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancel ``tasks`` and wait until each has finished; re-raise the first real failure."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


async def run_until_stopped(
    work: Coroutine[Any, Any, None], duration_s: float | None, name: str = "work"
) -> None:
    """Run ``work`` (its task named ``name``) until a stop signal or ``duration_s``; a failure
    of ``work`` propagates."""
    stop = stop_event()
    task = asyncio.create_task(work, name=name)
    stopper = asyncio.create_task(wait_for_stop(stop, duration_s), name=f"{name}-stopper")
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopper.cancel()
        task.result()  # the work ended by itself: raise its error if it failed
        return
    await cancel_and_wait(task)
