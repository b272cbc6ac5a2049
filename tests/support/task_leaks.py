"""Leak checks for asyncio tasks: an async test may leave no task of its own still pending.

The event loop's runner cancels whatever is left when it closes, so a task a test forgot (never
awaited, never cancelled) would otherwise vanish without a word; this makes it a failure, as
``tests/hal/port_leaks.py`` does for ports.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


def _pending(loop: asyncio.AbstractEventLoop) -> set[asyncio.Task[object]]:
    return {task for task in asyncio.all_tasks(loop) if not task.done()}


def _describe(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    where = getattr(coro, "__qualname__", repr(coro))
    return f"{task.get_name()} ({where})"


@dataclass
class TaskLeakGuard:
    """Snapshot of the tasks pending on a test's loop before the test and its fixtures ran."""

    loop: asyncio.AbstractEventLoop
    pending_at_start: frozenset[asyncio.Task[object]]

    @classmethod
    def start(cls, loop: asyncio.AbstractEventLoop) -> TaskLeakGuard:
        """Take the snapshot for ``loop``; tasks pending now belong to wider-scoped fixtures."""
        return cls(loop=loop, pending_at_start=frozenset(_pending(loop)))

    def leaked(self) -> list[asyncio.Task[object]]:
        """Tasks created since ``start()`` that are still pending; empty when none are."""
        return sorted(_pending(self.loop) - self.pending_at_start, key=asyncio.Task.get_name)

    def problems(self) -> list[str]:
        """What leaked since ``start()``, one line per task; empty when nothing did."""
        leaked = self.leaked()
        if not leaked:
            return []
        return [
            f"asyncio task(s) still pending after the test: {', '.join(map(_describe, leaked))}"
        ]
