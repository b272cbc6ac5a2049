"""What the ``roadgate hil`` commands do; errors are ``HilError`` with a message for the user."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hil import bench
from hil.errors import HilError
from hil.runner import ScenarioResult, run_scenario
from hil.scenario_engine import Scenario, load_scenario, scenario_files
from hil.uml import VcanRunError, run_with_vcan

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
GUEST_MARGIN_S = 90.0
"""Per scenario, beyond its duration: daemon start-up in the guest, settling, shutdown."""


def resolve(names: Sequence[str], every: bool) -> list[Path]:
    """Scenario files from paths or names in ``hil/scenarios``; all of them with ``every``."""
    if every or not names:
        if not every:
            raise HilError("name scenarios to run, or pass --all")
        return scenario_files(SCENARIO_DIR)
    paths = []
    for name in names:
        path = Path(name)
        if not path.exists() and not path.suffix:
            path = SCENARIO_DIR / f"{name}.toml"
        if not path.exists():
            known = ", ".join(p.stem for p in scenario_files(SCENARIO_DIR))
            raise HilError(f"no scenario {name!r}; known: {known}")
        paths.append(path.resolve())
    return paths


def load_all(names: Sequence[str], every: bool) -> list[Scenario]:
    return [load_scenario(path) for path in resolve(names, every)]


def up(names: Sequence[str], every: bool) -> int:
    created = bench.up(bench.interfaces_of(load_all(names, every or not names)))
    print(f"created: {' '.join(created) or 'nothing (all exist)'}")
    return 0


def down(names: Sequence[str], every: bool) -> int:
    deleted = bench.down(bench.interfaces_of(load_all(names, every or not names)))
    print(f"deleted: {' '.join(deleted) or 'nothing'}")
    return 0


def list_scenarios(names: Sequence[str], every: bool) -> int:
    for scenario in load_all(names, every or not names):
        print(f"{scenario.name}: {scenario.description}")
        for expectation in scenario.expectations:
            print(f"    - {expectation.describe()}")
    return 0


def run(
    names: Sequence[str], every: bool, *, json_path: Path | None, workdir: Path | None, here: bool
) -> int:
    """Run the scenarios; exit status 0 when every expectation of every scenario held."""
    scenarios = load_all(names, every)
    if here:
        return _run_here(scenarios, json_path=json_path, workdir=workdir)
    # Re-run this command where the interfaces exist: natively (creating missing ones), or in a
    # user-mode-linux guest that sees this machine's files, venv included.
    argv = [sys.executable, "-m", "firmware_py", "hil", "run", "--here"]
    argv += [str(s.path) for s in scenarios]
    with tempfile.TemporaryDirectory(prefix="roadgate-hil-") as tmp:
        argv += ["--workdir", str(workdir or Path(tmp))]
        if json_path is not None:
            argv += ["--json", str(json_path.resolve())]
        timeout = sum(_guest_time_s(s) for s in scenarios) + 60
        try:
            result = run_with_vcan(
                argv,
                vcan=bench.interfaces_of(scenarios),
                cwd=Path.cwd(),
                env=dict(os.environ),
                timeout_s=timeout,
                output=sys.stdout.buffer,
            )
        except VcanRunError as err:
            raise HilError(str(err)) from err
    return result.exit_status


def _guest_time_s(scenario: Scenario) -> float:
    """How long ``scenario`` may take in the guest: its run and, with ``[replay]``, the
    replay's second daemon and the log played at its speed."""
    run = scenario.duration_s + scenario.settle_s + GUEST_MARGIN_S
    replay = scenario.replay
    if replay is None:
        return run
    return run + scenario.duration_s / replay.speed + replay.settle_s + GUEST_MARGIN_S


def _run_here(
    scenarios: Sequence[Scenario], *, json_path: Path | None, workdir: Path | None
) -> int:
    # python-can logs every socket it opens at INFO: noise in a bench report.
    logging.getLogger("can").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="roadgate-hil-") as tmp:
        base = workdir or Path(tmp)
        results = []
        for scenario in scenarios:
            print(f"== {scenario.name}: {scenario.description}", flush=True)
            result = run_scenario(scenario, base, sys.stdout)
            _print_result(result)
            results.append(result)
        if json_path is not None:
            json_path.write_text(json.dumps(report(results), indent=2) + "\n")
    passed = sum(r.passed for r in results)
    print(f"== {passed} of {len(results)} scenarios passed", flush=True)
    return 0 if passed == len(results) else 1


def _print_result(result: ScenarioResult) -> None:
    if result.error is not None:
        print(f"   ERROR  {result.error}")
    for verdict in result.verdicts:
        mark = "ok  " if verdict.passed else "FAIL"
        print(f"   {mark}  {verdict.expectation}: {verdict.measured}")
    print(f"   {'PASSED' if result.passed else 'FAILED'} in {result.wall_s:.1f} s", flush=True)


def report(results: Sequence[ScenarioResult]) -> dict[str, object]:
    """The JSON report: per scenario, its verdicts and the emulators' counters."""
    return {
        "passed": all(r.passed for r in results),
        "scenarios": [
            {
                "name": r.name,
                "passed": r.passed,
                "error": r.error,
                "wall_s": round(r.wall_s, 2),
                "verdicts": [
                    {"expectation": v.expectation, "passed": v.passed, "measured": v.measured}
                    for v in r.verdicts
                ],
                "emulators": r.emulator_stats,
            }
            for r in results
        ],
    }
