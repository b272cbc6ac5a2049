"""Shutdown is bounded: work whose orderly stop hangs is cancelled again at the deadline."""

from __future__ import annotations

import asyncio

import pytest

from firmware_py.lifecycle import cancel_and_wait


@pytest.mark.asyncio
async def test_a_stop_that_hangs_is_cancelled_again_at_the_deadline() -> None:
    cancellations = 0
    started = asyncio.Event()

    async def slow_to_stop() -> None:
        nonlocal cancellations
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancellations += 1
            await asyncio.Event().wait()  # an orderly stop that never ends

    task = asyncio.create_task(slow_to_stop(), name="slow")
    await started.wait()
    await asyncio.wait_for(cancel_and_wait(task, deadline_s=0.01), timeout=10)
    assert task.cancelled()
    assert cancellations == 1


@pytest.mark.asyncio
async def test_a_failure_during_the_stop_still_propagates() -> None:
    async def fails_when_stopped() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise OSError("could not flush") from None

    task = asyncio.create_task(fails_when_stopped(), name="failing")
    await asyncio.sleep(0)
    with pytest.raises(OSError, match="flush"):
        await cancel_and_wait(task, deadline_s=5.0)
