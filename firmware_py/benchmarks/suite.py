"""``roadgate bench all``: every benchmark in turn, one table, the records and the plots.

Each benchmark runs as its own command does: in this process, except ``can`` and ``e2e``,
which run as ``roadgate benchmark can|e2e`` in a subprocess (``can`` lives in ``hil``, which
``firmware_py`` must not import, and both boot a user-mode-linux guest where this kernel has no
CAN, which ``hil`` lends them). A benchmark that fails
is recorded with its error and the run goes on. Then ``suite_report`` writes the table, the
records (``results.json``) and the plots.

``quick`` runs each benchmark small: a check that everything runs, not figures to quote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_py.errors import FirmwareError

NAMES = (
    "can",
    "decode",
    "fusion",
    "v2x",
    "uplink",
    "bridge",
    "record",
    "memory",
    "e2e",
    "e2e-vehicle",
)
"""Every benchmark, in the order run (issue #17's stages first, then each box end to end)."""
SUBPROCESS_TIMEOUT_S = 1800.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Measured:
    """What one benchmark gave: its ``--json`` ``record``, its ``report`` (the text its
    command prints) and any latency ``samples`` (ms, by name) for the plots."""

    record: dict[str, Any]
    report: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """One benchmark's run: ``measured``, or the ``error`` that stopped it; wall-clock
    ``seconds``."""

    name: str
    seconds: float
    measured: Measured | None = None
    error: str | None = None


@dataclass(frozen=True)
class SuiteSettings:
    """``quick``: small sizes; ``out``: where the benchmarks that draw (fusion) put their PNG."""

    quick: bool
    out: Path


Runner = Callable[[SuiteSettings], Measured]
"""Runs one benchmark and returns what it measured; raises what stopped it."""


def select(only: Sequence[str] | None) -> list[str]:
    """The benchmarks to run, in ``NAMES`` order: ``only`` (names, commas allowed) or all.

    Raises ``FirmwareError`` naming an unknown benchmark.
    """
    if not only:
        return list(NAMES)
    wanted = {name.strip() for item in only for name in item.split(",") if name.strip()}
    unknown = sorted(wanted - set(NAMES))
    if unknown:
        raise FirmwareError(
            f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(NAMES)}"
        )
    return [name for name in NAMES if name in wanted]


def run_suite(
    names: Sequence[str],
    settings: SuiteSettings,
    progress: Progress | None = None,
    runners: Mapping[str, Runner] | None = None,
) -> list[Outcome]:
    """Run ``names`` one after another with ``runners`` (default ``RUNNERS``); a failure is
    recorded, not raised (``KeyboardInterrupt`` still stops the run)."""
    runners = RUNNERS if runners is None else runners
    say = progress or (lambda _: None)
    outcomes = []
    for number, name in enumerate(names, 1):
        say(f"{name} ({number}/{len(names)}) ...")
        started = time.monotonic()
        try:
            measured = runners[name](settings)
        except Exception as err:  # any benchmark's failure is reported; the run goes on
            seconds = time.monotonic() - started
            message = f"{type(err).__name__}: {err}"
            say(f"{name} failed after {seconds:.0f} s: {message}")
            outcomes.append(Outcome(name, seconds, error=message))
            continue
        seconds = time.monotonic() - started
        if measured.report:
            say(measured.report)
        say(f"{name} done in {seconds:.0f} s")
        outcomes.append(Outcome(name, seconds, measured))
    return outcomes


def _can(settings: SuiteSettings) -> Measured:
    frames, buses = (5_000, 1) if settings.quick else (20_000, 4)
    record, report = _in_subprocess("can", ["--frames", str(frames), "--buses", str(buses)])
    record["where"] = can_where(report)
    return Measured(record, report)


def _e2e(settings: SuiteSettings) -> Measured:
    seconds, objects = (3, 10) if settings.quick else (20, 100)
    # Exit status 1 is a goal missed: its figures are still the record.
    record, report = _in_subprocess(
        "e2e", ["--seconds", str(seconds), "--objects", str(objects)], missed_goal_status=1
    )
    return Measured(record, report)


def _e2e_vehicle(settings: SuiteSettings) -> Measured:
    seconds = 3 if settings.quick else 20
    record, report = _in_subprocess(
        "e2e", ["--box", "vehicle", "--seconds", str(seconds)], missed_goal_status=1
    )
    return Measured(record, report)


def _in_subprocess(
    name: str, arguments: list[str], missed_goal_status: int | None = None
) -> tuple[dict[str, Any], str]:
    """Run ``roadgate benchmark NAME ARGUMENTS --json`` in a subprocess (the benchmarks that
    need ``hil``'s user-mode-linux guest); return its record and what it printed."""
    with tempfile.TemporaryDirectory(prefix=f"rg-bench-all-{name}-") as tmp:
        out = Path(tmp) / f"{name}.json"
        argv = [sys.executable, "-m", "firmware_py.cli", "benchmark", name, *arguments]
        argv += ["--json", str(out)]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as err:
            raise FirmwareError(
                f"bench {name} did not finish in {SUBPROCESS_TIMEOUT_S:g} s"
            ) from err
        ok = done.returncode == 0 or done.returncode == missed_goal_status
        if not ok or not out.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise FirmwareError(f"bench {name} exited {done.returncode}: {' / '.join(tail)}")
        record: dict[str, Any] = json.loads(out.read_text())
    return record, done.stdout.strip()


def can_where(report: str) -> str:
    """Where ``bench can`` measured, from its first line (``..., <where> (<details>):``):
    ``native SocketCAN`` or ``user-mode-linux guest``; "" when the report does not say."""
    first = report.strip().splitlines()[0] if report.strip() else ""
    if "bus(es), " not in first:
        return ""
    where = first.split("bus(es), ", 1)[1].removesuffix(":")
    return where.split(" (", 1)[0].strip()


def _decode(settings: SuiteSettings) -> Measured:
    from firmware_py.benchmarks.decode import MIXES, format_result, run_decode_bench

    frames = 20_000 if settings.quick else 100_000
    results = {mix: run_decode_bench(None, frames, mix=mix) for mix in MIXES}
    return Measured(
        {mix: result.as_json() for mix, result in results.items()},
        "\n".join(format_result(result) for result in results.values()),
    )


def _fusion(settings: SuiteSettings) -> Measured:
    from firmware_py.benchmarks.fusion import DEFAULT_TARGETS, format_result, run_fusion_bench

    targets = (20,) if settings.quick else DEFAULT_TARGETS
    result = run_fusion_bench(
        targets, quick=settings.quick, plot=settings.out / "fusion-tracks.png"
    )
    return Measured(result.as_json(), format_result(result))


def _v2x(settings: SuiteSettings) -> Measured:
    from firmware_py.benchmarks.v2x import (
        DEFAULT_FRAMES,
        QUICK_FRAMES,
        format_result,
        run_v2x_bench,
    )

    frames = QUICK_FRAMES if settings.quick else DEFAULT_FRAMES
    result = run_v2x_bench(frames, quick=settings.quick)
    return Measured(result.as_json(), format_result(result))


def _uplink(settings: SuiteSettings) -> Measured:
    from firmware_py.benchmarks.uplink import run

    if settings.quick:
        result = run(messages=2_000, latency_rate=500, latency_s=2.0, host=None, port=None)
    else:
        result = run(messages=20_000, latency_rate=1000, latency_s=10.0, host=None, port=None)
    return Measured(result.as_json(), samples={"uplink": list(result.latency_samples_ms)})


def _bridge(settings: SuiteSettings) -> Measured:
    from firmware_py.benchmarks.bridge import BenchSizes, format_result, run_bridge_bench

    sizes = BenchSizes(100, 10.0, 3.0, 5_000) if settings.quick else BenchSizes()
    result = run_bridge_bench(sizes)
    return Measured(result.as_json(), format_result(result))


def _record(settings: SuiteSettings) -> Measured:
    from firmware_py.benchmarks.record import DEFAULT_SECONDS, format_result, run_record_bench

    result = run_record_bench(5.0 if settings.quick else DEFAULT_SECONDS)
    return Measured(result.as_json(), format_result(result))


def _memory(settings: SuiteSettings) -> Measured:
    from firmware_py.benchmarks.memory import DEFAULT_SECONDS, format_result, run_memory_bench
    from firmware_py.benchmarks.uplink import local_broker

    with local_broker(None, None) as (host, port):
        results = run_memory_bench(10.0 if settings.quick else DEFAULT_SECONDS, host, port)
    return Measured({"boxes": [r.as_json() for r in results]}, format_result(results))


RUNNERS: dict[str, Runner] = {
    "can": _can,
    "decode": _decode,
    "fusion": _fusion,
    "v2x": _v2x,
    "uplink": _uplink,
    "bridge": _bridge,
    "record": _record,
    "memory": _memory,
    "e2e": _e2e,
    "e2e-vehicle": _e2e_vehicle,
}


def main(
    *,
    out: Path | None,
    quick: bool,
    only: Sequence[str] | None,
    progress: Progress,
    runners: Mapping[str, Runner] | None = None,
) -> int:
    """The CLI entry: run the benchmarks chosen (with ``runners``, default ``RUNNERS``), write
    the report (``suite_report``); returns 1 when a benchmark failed, else 0. Raises
    ``FirmwareError`` for an unknown benchmark, a missing matplotlib or a file that cannot be
    written."""
    import datetime

    from firmware_py.benchmarks import suite_report as report
    from firmware_py.benchmarks.machine import machine_info

    names = select(only)
    _require_matplotlib()  # before the long run, not after it
    outputs = report.Outputs.at(out)
    report.make_directory(outputs.directory)  # the fusion benchmark draws into it
    started = time.monotonic()
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_start = os.getloadavg()[0]
    outcomes = run_suite(names, SuiteSettings(quick, outputs.directory), progress, runners)
    results = report.results_json(
        outcomes,
        machine_info(),
        date=date,
        quick=quick,
        seconds=time.monotonic() - started,
        load=(load_start, os.getloadavg()[0]),
    )
    rows = report.rows_of(results)
    samples = {
        name: values
        for outcome in outcomes
        if outcome.measured is not None
        for name, values in outcome.measured.samples.items()
    }
    for path in report.write_report(results, rows, samples, outputs):
        progress(f"wrote {path}")
    failures = report.failed(rows)
    if failures:
        progress(f"failed: {', '.join(failures)}")
    return 1 if failures else 0


def _require_matplotlib() -> None:
    try:
        import firmware_py.benchmarks.suite_plots  # noqa: F401
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] != "matplotlib":
            raise
        raise FirmwareError(
            "bench all draws plots with matplotlib: pip install matplotlib"
        ) from err
