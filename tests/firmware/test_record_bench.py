"""`roadgate bench record`: the recorder's CPU at full buses is measured on traffic it reads
back whole (speed is reported, the goal decides the exit status)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_py.benchmarks.record import FRAMES_PER_S, synthetic_stream
from firmware_py.cli import main


def test_bench_record_measures_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "record.json"
    status = main(["bench", "record", "--seconds", "2", "--json", str(out)])
    result = json.loads(out.read_text())
    assert status == (0 if result["core_percent"] < result["goal_core_percent"] else 1)
    assert result["frames"] == 2 * 4 * FRAMES_PER_S
    assert result["cpu_s"] > 0
    assert result["core_percent"] == pytest.approx(100 * result["cpu_s"] / 2)
    assert 8 < result["bytes_per_frame"] < 30  # 8 random bytes a frame do not compress
    assert result["peer_core_percent"] > 0
    assert "% of one core" in capsys.readouterr().out


def test_the_synthetic_stream_is_four_full_buses_in_arrival_order() -> None:
    stream = synthetic_stream(1.0)
    assert [bus for bus, _ in stream[:4]] == ["can0", "can1", "can2", "can3"]
    frames = [batch for bus, batch in stream if bus == "can2"]
    assert sum(len(batch) for batch in frames) == FRAMES_PER_S
    starts = [float(batch["timestamp"][0]) for batch in frames]
    assert starts == sorted(starts)
    assert all(int(batch["dlc"].max()) == 8 for batch in frames)
