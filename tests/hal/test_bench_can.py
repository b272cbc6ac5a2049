"""`roadgate bench can` on real vcan (inside user-mode-linux here): ours loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_py.cli import main


@pytest.mark.timeout(600)
def test_bench_can_compares_both_readers_on_the_same_traffic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "can.json"
    assert main(["bench", "can", "--frames", "1500", "--buses", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"ours", "peer", "ratio", "unit", "lost", "offered"}
    assert result["unit"] == "frames/s"
    ours = result["details"]["ours"]
    assert result["buses"] == 2
    assert ours["received"] == 3000, "the fast reader must not lose a frame at this rate"
    assert ours["lost"] == 0
    assert ours["out_of_order"] == 0
    assert result["details"]["peer"]["received"] > 0
    assert "ratio:" in capsys.readouterr().out
