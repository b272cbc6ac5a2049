"""`roadgate bench v2x`: every kind is measured on frames both decoders read alike, and the JSON
record has the issue's keys (speed is reported, never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_py.benchmarks.v2x import checked_json
from firmware_py.cli import main
from firmware_py.errors import FirmwareError


@pytest.mark.parametrize("command", ["bench", "benchmark"])
def test_bench_v2x_measures_every_kind_and_writes_json(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v2x.json"
    assert main([command, "v2x", "--quick", "--frames", "20", "--json", str(out)]) == 0

    result = json.loads(out.read_text())
    assert set(result) >= {"ours", "peer", "ratio", "unit", "apps_cycle_ms_200"}
    assert result["unit"] == "frames/s"
    apps = result["apps"]
    assert result["apps_cycle_ms_200"] == apps["median_ms"]
    assert 0 < apps["median_ms"] <= apps["p99_ms"]
    assert (apps["remotes"], apps["applications"], apps["cycles"]) == (200, 16, 20)
    assert apps["errors"] == 0
    assert result["ours"] > 0
    assert result["peer"] > 0
    assert result["ratio"] == pytest.approx(result["ours"] / result["peer"], rel=1e-2)
    assert result["ours"] == result["kinds"]["bsm"]["decode"]["ours"]
    assert set(result["kinds"]) == {"bsm", "spat", "map", "rsm", "rsi"}
    for kind in result["kinds"].values():
        assert kind["frames"] == 20
        for rates in (kind["decode"], kind["encode"]):
            assert min(rates["ours"], rates["ours_json"], rates["peer"]) > 0
    printed = capsys.readouterr().out
    assert "bsm: 20 frames" in printed
    assert "Day-1 application cycle (16 applications, 200 remote vehicles heard" in printed


def test_a_frame_read_as_another_kind_is_not_benchmarked() -> None:
    from firmware_py.benchmarks.v2x_samples import JSON_SAMPLES
    from protocols.v2x import specification
    from protocols.v2x.frame_json import encode_json

    data = encode_json(JSON_SAMPLES["map"])
    with pytest.raises(FirmwareError, match="read as map"):
        checked_json("rsm", data, specification().decode("MessageFrame", data))
