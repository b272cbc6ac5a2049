"""Waiting for a condition with a deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], within_s: float = 10.0, what: str = "") -> None:
    """Return once ``condition()`` is true; raise ``AssertionError`` after ``within_s`` s."""
    try:
        async with asyncio.timeout(within_s):
            # Polling: the conditions are other components' state, which offers no event.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not true within {within_s} s: {what or condition}") from None


def wait_until(condition: Callable[[], bool], within_s: float = 10.0, what: str = "") -> None:
    """Return once ``condition()`` is true; raise ``AssertionError`` after ``within_s`` s.

    The blocking twin of ``eventually``, for tests whose subject runs in threads or processes.
    """
    deadline = time.monotonic() + within_s
    # Polling: the conditions are other threads' or processes' state, which offers no event.
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {within_s} s: {what or condition}")
        time.sleep(0.02)
