"""A slow, lossy link (netem inside a user-mode-linux guest): nothing lost, memory bounded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hil.uml.runner import run_in_guest

pytestmark = [pytest.mark.mosquitto, pytest.mark.e2e]

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_a_lossy_link_slows_the_uplink_but_loses_nothing() -> None:
    script = Path(__file__).with_name("lossy_link_guest.py")
    result = run_in_guest([sys.executable, str(script)], vcan=(), cwd=PROJECT, timeout_s=540)
    lines = [line for line in result.output_text.splitlines() if line.startswith("{")]
    assert result.exit_status == 0, result.output_text[-4000:]
    measured = json.loads(lines[-1])
    assert measured["connect_ms"] >= 35, "netem's 20 ms each way was not in effect"
    assert measured["stored"] == measured["unique"] == measured["expected"]
    # The backlog waits on disk in the outbox, not in memory.
    assert measured["rss_growth_kib"] < 20 * 1024, measured
    print(f"lossy link (20 ms, 10 % loss each way): {measured}")
