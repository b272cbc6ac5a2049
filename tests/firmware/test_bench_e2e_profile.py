"""``roadgate bench e2e --profile``: py-spy's stacks of the unit come back from the run (in
user-mode-linux here) and name the pipeline's work; the summary's shares are the samples'."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_py.benchmarks.e2e import format_result, run_e2e_bench
from firmware_py.benchmarks.e2e_profile import summarize
from hil.uml.runner import run_with_vcan

COLLAPSED = """\
<module> (runpy.py:1);run (edge/pipelines/roadside_unit.py:10);step (edge/tracker.py:5) 6
<module> (runpy.py:1);run (edge/pipelines/roadside_unit.py:10) 1
<module> (runpy.py:1);_run_once (asyncio/base_events.py:3);send (paho/mqtt/client.py:9) 3
"""


def test_the_summary_gives_each_function_its_share_of_the_samples() -> None:
    total, shares = summarize(COLLAPSED)
    assert total == 10
    by_name = {share.function: share for share in shares}
    # The interpreter's and the event loop's frames hold every sample: left out.
    assert not any("runpy" in name or "asyncio" in name for name in by_name)
    run = by_name["run (edge/pipelines/roadside_unit.py:10)"]
    assert (run.inclusive, run.self) == (0.7, 0.1)
    step = by_name["step (edge/tracker.py:5)"]
    assert (step.inclusive, step.self) == (0.6, 0.6)
    assert by_name["send (paho/mqtt/client.py:9)"].self == 0.3
    assert [s.inclusive for s in shares] == sorted((s.inclusive for s in shares), reverse=True)


def test_a_sample_without_python_frames_counts_in_the_total() -> None:
    # py-spy writes a sample taken while a thread held no Python frame as a bare count.
    total, shares = summarize(COLLAPSED + " 10\n")
    assert total == 20
    by_name = {share.function: share for share in shares}
    assert by_name["run (edge/pipelines/roadside_unit.py:10)"].inclusive == 0.35


def test_the_summary_keeps_the_top_ones() -> None:
    total, shares = summarize(COLLAPSED, top=1)
    assert total == 10
    assert [s.function for s in shares] == ["run (edge/pipelines/roadside_unit.py:10)"]


@pytest.mark.timeout(400)
def test_a_profiled_run_brings_back_the_units_stacks(tmp_path: Path) -> None:
    profile = tmp_path / "unit.txt"
    result = run_e2e_bench(2.0, 5, run_with_vcan, profile=profile)
    stacks = profile.read_text()
    assert "RoadsideUnitPipeline.on_can_batch" in stacks  # the unit's, while it worked
    summary = result.details["profile"]
    assert summary["path"] == str(profile)
    assert summary["samples"] == sum(int(line.rpartition(" ")[2]) for line in stacks.splitlines())
    assert result.details["cpu_profiler_s"] > 0
    assert "profile of the unit" in format_result(result)
    assert result.frames_lost == 0
