"""Running a bridge service for the length of a test block, and stopping it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from cloud_bridge.service import BridgeService


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it; fails the test unless cancelling is what ended it."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@asynccontextmanager
async def running_bridge(
    service: BridgeService, name: str = "bridge-under-test"
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``service`` as task ``name`` (yielded) from when it is ready (10 s at most) to the
    block's end.

    Fails the test when the bridge stopped on its own before the block ended.
    """
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready), name=name)
    try:
        await asyncio.wait_for(ready.wait(), timeout=10)
        yield task
        assert not task.done(), "the bridge stopped"
    finally:
        await stop(task)
