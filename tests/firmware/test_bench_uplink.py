"""`roadgate benchmark uplink` runs end to end and reports what it measured (no speed asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_py.benchmarks.uplink import main

pytestmark = pytest.mark.mosquitto


def test_bench_uplink_measures_both_sides_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "uplink.json"
    assert main(messages=500, latency_rate=200, latency_s=1.0, json_path=out) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"ours", "peer", "ratio", "unit", "p999_ms"}
    assert result["unit"] == "msg/s"
    assert result["ours"] > 0
    assert result["peer"] > 0
    assert result["ratio"] == pytest.approx(result["ours"] / result["peer"], rel=1e-2)
    assert set(result["by_durability"]) == {"full", "normal", "off"}
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["p999_ms"]
    assert "ratio (normal / peer)" in capsys.readouterr().out
