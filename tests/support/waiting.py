"""Waiting for a condition with a deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
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
