"""Once-per-burst reject logging of the bridge service (its reconnect backoff is
``protocols.mqtt_connection``'s: tests/protocols/test_mqtt_connection.py)."""

from __future__ import annotations

import logging

import pytest

from cloud_bridge.service import RejectLog

LOGGER = "test.cloud_bridge.rejects"


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
