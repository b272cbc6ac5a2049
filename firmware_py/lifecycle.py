"""Start and stop: signals, durations, and cancelling work in the right order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from edge.supervision import SHUTDOWN_FLUSH_S

log = logging.getLogger("firmware_py.lifecycle")

SHUTDOWN_DEADLINE_S = SHUTDOWN_FLUSH_S + 10.0
"""How long a stop signal's orderly shutdown may take (readers stop, the uplink flushes for up
to ``SHUTDOWN_FLUSH_S``, then says goodbye) before the work is cancelled again, hard; well
within systemd's default stop timeout (90 s)."""


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


async def cancel_and_wait(*tasks: asyncio.Task[Any], deadline_s: float | None = None) -> None:
    """Cancel ``tasks`` and wait until each has finished; re-raise the first real failure.

    A task still running ``deadline_s`` after its cancellation (its orderly shutdown hangs) is
    cancelled once more, which interrupts whatever it was waiting for.
    """
    for task in tasks:
        task.cancel()
    if deadline_s is not None and tasks:
        _, late = await asyncio.wait(tasks, timeout=deadline_s)
        for task in late:
            log.warning(
                "%s did not stop within %.0f s: stopping it now", task.get_name(), deadline_s
            )
            task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


async def run_until_stopped(
    work: Coroutine[Any, Any, None], duration_s: float | None, name: str = "work"
) -> None:
    """Run ``work`` (its task named ``name``) until a stop signal or ``duration_s``; a failure
    of ``work`` propagates. Its shutdown is bounded by ``SHUTDOWN_DEADLINE_S``."""
    stop = stop_event()
    task = asyncio.create_task(work, name=name)
    stopper = asyncio.create_task(wait_for_stop(stop, duration_s), name=f"{name}-stopper")
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopper.cancel()
        task.result()  # the work ended by itself: raise its error if it failed
        return
    await cancel_and_wait(task, deadline_s=SHUTDOWN_DEADLINE_S)
