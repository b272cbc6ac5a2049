"""``roadgate bench all``: runs the benchmarks chosen, writes results.json, the markdown table
and the PNG plots; a benchmark that fails is reported and the run goes on (speed is never
asserted)."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from firmware_py.benchmarks.suite import (
    NAMES,
    Measured,
    SuiteSettings,
    can_where,
    main,
    run_suite,
    select,
)
from firmware_py.cli import main as cli_main
from firmware_py.errors import FirmwareError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    """``path`` is a PNG that decodes to a picture with something drawn on it."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    assert pixels.ndim == 3
    assert pixels.shape[0] > 100
    assert pixels.shape[1] > 100
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)) > 10


@pytest.mark.timeout(300)
def test_bench_all_quick_decode_writes_records_table_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert cli_main(["bench", "all", "--quick", "--only", "decode", "--out", str(out)]) == 0

    results = json.loads((out / "results.json").read_text())
    assert results["quick"] is True
    assert len(results["load"]) == 2
    machine = results["machine"]
    assert machine["cores"] >= 1
    assert machine["cpu"]
    assert machine["versions"]["cantools"] == version("cantools")
    (decode,) = results["benchmarks"]
    assert decode["name"] == "decode"
    assert decode["error"] is None
    assert set(decode["record"]) == {"dbc", "ars408-objects"}
    for run in decode["record"].values():
        assert run["frames"] == 20_000
        assert run["unit"] == "frames/s"
        assert run["ours"] > 0
        assert run["peer"] > 0
        assert run["ratio"] == pytest.approx(run["ours"] / run["peer"], rel=1e-3)
    rows = results["rows"]
    assert [row["benchmark"] for row in rows] == ["decode", "decode"]

    table = (out / "benchmarks.md").read_text()
    assert "**Quick run**" in table
    assert "| load average (1 min), start / end of the run |" in table
    assert f"cantools {version('cantools')}" in table
    lines = [line for line in table.splitlines() if line.startswith("| decode |")]
    assert len(lines) == 2
    for line, run in zip(lines, decode["record"].values(), strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[4] == f"cantools {version('cantools')}"
        assert cells[6] == "frames/s"
        assert cells[7] == ">= 30x"
        assert cells[8] == ("met" if run["ratio"] >= 30 else "**not met**")
        assert float(cells[5].removesuffix("x").replace(",", "")) == pytest.approx(
            run["ratio"], rel=0.01
        )
    assert "ARS408 object lists" in lines[1]

    for name in ("ratios.png", "throughput.png"):
        assert_png(out / name)
        assert f"]({name})" in table
    # No benchmark with latencies ran: no latency plot, and none linked.
    assert not (out / "latency.png").exists()
    assert "latency.png" not in table


def test_a_failed_benchmark_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    def broken(_: SuiteSettings) -> Measured:
        raise FirmwareError("no broker | here")

    def v2x(_: SuiteSettings) -> Measured:
        return Measured(
            {
                "kinds": {
                    "bsm": {
                        "frames": 10,
                        "mean_bytes": 40.0,
                        "encoder": "our values",
                        "decode": {"ours": 30.0, "ours_json": 20.0, "peer": 60.0, "ratio": 0.5},
                        "encode": {"ours": 90.0, "ours_json": 20.0, "peer": 45.0, "ratio": 2.0},
                    }
                },
                "apps_cycle_ms_200": 2.5,
                "apps": {"remotes": 200, "applications": 16, "p99_ms": 3.0},
            }
        )

    lines: list[str] = []
    status = main(
        out=tmp_path,
        quick=True,
        only=["v2x,uplink"],
        progress=lines.append,
        runners={"uplink": broken, "v2x": v2x},
    )

    assert status == 1
    assert "v2x (1/2) ..." in lines
    assert "failed: uplink" in lines
    results = json.loads((tmp_path / "results.json").read_text())
    assert [(b["name"], b["error"]) for b in results["benchmarks"]] == [
        ("v2x", None),
        ("uplink", "FirmwareError: no broker | here"),
    ]
    table = (tmp_path / "benchmarks.md").read_text()
    assert (
        "| uplink | uplink: no figures | | | | | | | "
        "**failed**: FirmwareError: no broker \\| here |" in table
    )
    assert "| v2x | V2X BSM decode (10 frames of 40 B) | 30 | 60 |" in table
    assert "Failed: uplink" in table


def test_only_picks_benchmarks_in_the_order_run() -> None:
    assert select(None) == list(NAMES)
    assert select(["uplink,decode", "can"]) == ["can", "decode", "uplink"]
    with pytest.raises(FirmwareError, match="unknown benchmark e3e"):
        select(["decode", "e3e"])


def test_an_unknown_benchmark_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["bench", "all", "--only", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown benchmark nope" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_run_suite_records_each_outcome_with_its_time() -> None:
    calls: list[str] = []

    def measured(settings: SuiteSettings) -> Measured:
        calls.append("decode")
        assert settings.quick
        return Measured({"a": 1}, "report")

    def interrupted(_: SuiteSettings) -> Measured:
        raise KeyboardInterrupt

    settings = SuiteSettings(quick=True, out=Path("."))
    (outcome,) = run_suite(["decode"], settings, runners={"decode": measured})
    assert outcome.measured == Measured({"a": 1}, "report")
    assert outcome.error is None
    assert outcome.seconds >= 0
    assert calls == ["decode"]
    with pytest.raises(KeyboardInterrupt):
        run_suite(["can"], settings, runners={"can": interrupted})


def test_where_bench_can_measured_comes_from_its_first_line() -> None:
    guest = (
        "CAN receive, 5000 frames per bus from cangen -g 0 on 1 vcan bus(es), user-mode-linux "
        "guest (no SocketCAN in this kernel, kernel 6.1):\n  offered: 1 frames/s\n"
    )
    assert can_where(guest) == "user-mode-linux guest"
    native = "CAN receive, 10 frames per bus from cangen -g 0 on 4 vcan bus(es), native SocketCAN:"
    assert can_where(native) == "native SocketCAN"
    assert can_where("") == ""
