"""The asyncio task-leak guard (tests/conftest.py) fails a test that leaks a task, and only then."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import PROJECT_ROOT
from tests.support.task_leaks import TaskLeakGuard

LEAKY_TESTS = """
import asyncio

import pytest


@pytest.mark.asyncio
async def test_leaks_a_task() -> None:
    asyncio.get_running_loop().create_task(asyncio.sleep(60), name="forgotten")


@pytest.mark.asyncio
async def test_cancels_and_awaits_its_task() -> None:
    task = asyncio.get_running_loop().create_task(asyncio.sleep(60), name="tidy")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_sync_tests_are_left_alone() -> None:
    assert True
"""


@pytest.mark.asyncio
async def test_the_guard_sees_a_pending_task_and_forgets_it_once_done() -> None:
    guard = TaskLeakGuard.start(asyncio.get_running_loop())
    task = asyncio.get_running_loop().create_task(asyncio.sleep(60), name="left-behind")
    await asyncio.sleep(0)
    assert guard.leaked() == [task]
    assert "left-behind" in guard.problems()[0]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert guard.problems() == []


def test_the_fixture_fails_only_the_leaking_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))
    pytester.makeconftest("from tests.conftest import asyncio_task_leak_guard  # noqa: F401\n")
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks_a_task*", "*forgotten*"])
