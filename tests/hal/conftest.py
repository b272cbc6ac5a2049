"""Fixtures for the hal tests: every test fails if it leaks an open port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hal.port_leaks import PortLeakGuard


@pytest.fixture(autouse=True)
def port_leak_guard() -> Iterator[PortLeakGuard]:
    """Fail the test if it leaves a port open or lets one be garbage-collected while open."""
    guard = PortLeakGuard.start()
    yield guard
    problems = guard.problems()
    guard.close_leftovers()
    if problems:
        pytest.fail("; ".join(problems))
