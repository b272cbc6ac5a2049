"""Shared fixtures: hypothesis profiles, a private Mosquitto broker, the asyncio task-leak guard."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

from tests.support.mosquitto import Broker, private_mosquitto
from tests.support.task_leaks import TaskLeakGuard

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

pytest_plugins = ["pytester"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPORA = PROJECT_ROOT.parent / "shared" / "corpora"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto on a free port of 127.0.0.1, stopped after the test."""
    with private_mosquitto(tmp_path) as broker:
        yield broker


@pytest.fixture(autouse=True)
def asyncio_task_leak_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail an async test that leaves a task it created still pending after its fixtures' teardown.

    Requesting the test's runner here, before any other fixture, sets this guard up right after
    the runner and tears it down right before it: after the async fixtures have stopped what they
    started, and before the runner's close would cancel leftovers silently.
    """
    node = request.node
    if not pytest_asyncio.is_async_test(node):
        yield
        return
    marker = node.get_closest_marker("asyncio")
    loop_scope = (marker.kwargs.get("loop_scope") if marker else None) or "function"
    runner = request.getfixturevalue(f"_{loop_scope}_scoped_runner")
    guard = TaskLeakGuard.start(runner.get_loop())
    yield
    problems = guard.problems()
    if problems:
        pytest.fail("; ".join(problems))
