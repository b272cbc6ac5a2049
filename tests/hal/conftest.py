"""Fixtures for the hal tests: every test fails if it leaks an open port; virtual CAN channels."""

from __future__ import annotations

from collections.abc import Iterator

import can
import pytest

from tests.hal.port_leaks import PortLeakGuard
from tests.hal.virtual_can import unique_channel


@pytest.fixture(autouse=True)
def port_leak_guard() -> Iterator[PortLeakGuard]:
    """Fail the test if it leaves a port open or lets one be garbage-collected while open."""
    guard = PortLeakGuard.start()
    yield guard
    problems = guard.problems()
    guard.close_leftovers()
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def channel() -> str:
    """A python-can virtual channel of this test alone."""
    return unique_channel()


@pytest.fixture
def raw_bus(channel: str) -> Iterator[can.BusABC]:
    """A plain python-can bus on ``channel``: it sends what our API refuses or cannot send."""
    bus = can.Bus(interface="virtual", channel=channel, ignore_config=True)
    yield bus
    bus.shutdown()
