"""The HIL bench end to end: every scenario in hil/scenarios against the real daemon on vcan.

``roadgate hil run --all`` runs natively where this kernel has CAN, otherwise it boots one
user-mode-linux guest for all scenarios (never skipped). Each scenario is then its own test
here, failing with the expectations that did not hold and what was measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from hil.bench import NO_CAN
from hil.commands import SCENARIO_DIR
from hil.scenario_engine import scenario_files
from hil.uml import kernel_has_can, run_with_vcan
from tests.conftest import PROJECT_ROOT

SCENARIOS = [path.stem for path in scenario_files(SCENARIO_DIR)]
HIL_TIMEOUT_S = 1200
# The first test pays for the module's one guest boot and every scenario in it.
pytestmark = pytest.mark.timeout(HIL_TIMEOUT_S + 60)


def roadgate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware_py", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        check=False,
    )


@pytest.fixture(scope="module")
def hil_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``roadgate hil run --all`` for the module: one guest boot for every scenario."""
    workdir = tmp_path_factory.mktemp("hil")
    report_path = workdir / "report.json"
    result = roadgate(
        "hil",
        "run",
        "--all",
        "--json",
        str(report_path),
        "--workdir",
        str(workdir),
        timeout=HIL_TIMEOUT_S,
    )
    (workdir / "output.txt").write_text(result.stdout + result.stderr)
    assert report_path.exists(), (
        f"`roadgate hil run --all` wrote no report (exit {result.returncode}):\n"
        f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
    report: dict[str, Any] = json.loads(report_path.read_text())
    report["output"] = result.stdout
    report["exit_status"] = result.returncode
    return report


def test_run_all_runs_every_scenario_and_reports_failure_in_its_status(
    hil_report: dict[str, Any],
) -> None:
    names = [s["name"] for s in hil_report["scenarios"]]
    assert names == SCENARIOS
    assert hil_report["exit_status"] == (0 if hil_report["passed"] else 1)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_passes(hil_report: dict[str, Any], name: str) -> None:
    (scenario,) = [s for s in hil_report["scenarios"] if s["name"] == name]
    failed = [
        f"{v['expectation']}: {v['measured']}" for v in scenario["verdicts"] if not v["passed"]
    ]
    assert scenario["error"] is None, scenario["error"]
    assert scenario["verdicts"], "a scenario without expectations checks nothing"
    assert failed == [], "\n".join(failed)
    assert scenario["passed"]


def test_up_and_down_create_and_delete_the_scenarios_interfaces() -> None:
    # In the guest (or natively), with no interface made by the runner: `hil up` makes them.
    roadgate_cmd = f"{sys.executable} -m firmware_py hil"
    script = (
        f"{roadgate_cmd} up --all && echo '# links after up' && ip -br link show type vcan && "
        f"{roadgate_cmd} down --all && echo '# links after down' && ip -br link show type vcan"
    )
    result = run_with_vcan(
        ["/bin/sh", "-c", script], vcan=(), cwd=PROJECT_ROOT, env=dict(os.environ), timeout_s=300
    )
    assert result.exit_status == 0, result.output_text
    up, links_up, links_down = result.output_text.split("# links after")
    assert "created: vcan0 vcan1" in up
    links, deleted = links_up.split("deleted:")
    assert [line.split()[0] for line in links.splitlines()[1:] if line.strip()] == [
        "vcan0",
        "vcan1",
    ]
    assert deleted.split() == ["vcan0", "vcan1"]
    assert "vcan" not in links_down.removeprefix(" down")


def test_up_without_can_in_the_kernel_says_what_to_do_instead() -> None:
    result = roadgate("hil", "up", "--all")
    if kernel_has_can():  # then it creates the interfaces, or says it needs root
        assert NO_CAN not in result.stderr
    else:
        assert result.returncode == 2
        assert NO_CAN in result.stderr


def test_unknown_scenario_names_the_known_ones() -> None:
    result = roadgate("hil", "run", "no-such-scenario")
    assert result.returncode == 2
    assert "no scenario 'no-such-scenario'" in result.stderr
    assert "vehicle-gateway-replay" in result.stderr
