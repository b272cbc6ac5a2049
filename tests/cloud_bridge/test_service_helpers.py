"""Reconnect backoff and once-per-burst reject logging of the bridge service."""

from __future__ import annotations

import itertools
import logging

import pytest

from cloud_bridge.service import RejectLog, backoff_delays

LOGGER = "test.cloud_bridge.rejects"


def test_backoff_doubles_from_one_second_to_thirty() -> None:
    longest = list(itertools.islice(backoff_delays(rand=lambda: 1.0), 8))
    shortest = list(itertools.islice(backoff_delays(rand=lambda: 0.0), 8))

    assert longest == [1, 2, 4, 8, 16, 30, 30, 30]
    assert shortest == [0.5, 1, 2, 4, 8, 15, 15, 15]


def test_backoff_is_jittered_within_half_to_full_delay() -> None:
    delays = list(itertools.islice(backoff_delays(0.1, 1.0), 50))

    assert all(0.05 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_logs_a_reason_once_per_burst_then_summaries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    clock = FakeClock()
    log = RejectLog(logging.getLogger(LOGGER), interval_s=60.0, clock=clock)

    for _ in range(100):
        log.note("malformed", "rg/v1/x/a/state", "not an Envelope")
        clock.now += 0.1
    log.note("oversized", "rg/v1/x/b/state", "70000 bytes")
    log.flush()
    assert len(_messages(caplog)) == 2  # the first of each reason only, no summary yet

    clock.now = 61.0
    log.note("malformed", "rg/v1/x/a/state", "again")
    log.flush()
    lines = _messages(caplog)
    assert len(lines) == 3
    assert "100 more messages (malformed)" in lines[2]

    clock.now = 200.0  # both reasons were quiet for a whole interval: their bursts end
    log.flush()
    log.note("malformed", "rg/v1/x/a/state", "a new burst")
    lines = _messages(caplog)
    assert "a new burst" in lines[-1]


def test_final_flush_summarises_everything_pending(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    log = RejectLog(logging.getLogger(LOGGER), interval_s=60.0, clock=FakeClock())
    for _ in range(3):
        log.note("device_mismatch", "rg/v1/x/b/state", "spoofed")

    log.flush(final=True)

    assert "2 more messages (device_mismatch)" in _messages(caplog)[-1]
