"""``roadgate bench e2e --board``: the end-to-end benchmark with the unit on one Raspberry Pi 4
core's worth of CPU, stepped up in bus load to the highest it sustains.

The unit's process goes into a cgroup v2 of its own inside the guest (``CpuLimit``: ``cpu.max``
at the board's share of the guest's one virtual CPU, ``cpu.weight`` at its maximum so that the
broker, the bridge, the player and the recorder, which would not run on the unit's core, do not
take that share from it). The guest has one virtual CPU, so the unit is on one core by
construction.

The share: a Raspberry Pi 4 core (Cortex-A72, 1.5 GHz) against the guest's CPU, measured
with the Benchmarks Game n-body kernel in CPython (``nbody_rate``). ``PI4_NBODY_STEPS_PER_S``
is what a Pi 4 core is taken to run on CPython 3.11; the share is that over the kernel's rate
in the guest, measured there before each step (``CpuLimit``); this machine's native rate is
measured too and reported as the board factor. How that figure was chosen, and why the result
is conservative, is in the README section "Board-class budget".

Sustained (``shortfalls``): nothing lost, every radar cycle seen and fused (no late-list
rejects, every stored list matched to its cycle), the newest frame to the unit's publication
at p99 within the tracker's own lateness bound (``LATENESS_BOUND_MS``: a list later than that
would be rejected), and the traffic played at ``REALTIME_SHARE`` of real time or better (else
the load was not offered). The steps run from the lightest up and stop at the first one not
sustained (or run on, ``every_step``); the result is the heaviest step sustained with every
lighter one sustained too (``highest_sustained``).

Guest side: ``python -m firmware_py.benchmarks.e2e_board calibrate [--cgroup DIR]`` runs the
kernel for a while (in that cgroup) and prints its steps per wall-clock second;
``limit-check [--share F]`` does so unlimited and limited and prints both (the limiter's test;
without ``--share``, at a Pi 4 core as ``CpuLimit`` finds it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Protocol

from edge.roadside.intersection_tracker import IntersectionSettings
from firmware_py.benchmarks.cpu_quota import CpuQuota, cpu_hierarchy
from firmware_py.benchmarks.e2e import E2eResult
from firmware_py.benchmarks.e2e_traffic import bus_load
from firmware_py.benchmarks.tick_accounting import HALF_TICK_US, LIMIT_PERIOD_US, ticked
from firmware_py.errors import FirmwareError

# Published: n-body (Benchmarks Game, 5,000,000 steps) in CPython on a Pi 4 at 1.5 GHz,
# performance governor: 158.263 s, 31,593 steps/s (chaitanyamehta.github.io, "Performance
# Analysis of Languages on Raspberry Pi"; CPython version not given, the Raspbian of its time
# shipped 3.7). CPython 3.11 runs this kernel 1.9x (the low end taken here) to 3x (3.8 -> 3.11
# on an M1, jott.live) faster; 1.9x gives 60,000 steps/s, 0.25 of this machine's core (AMD
# EPYC, Zen 4, 243,000 steps/s on 3.11.7). sysbench cpu (C) gives 0.386 (Pi 4 1,477.83
# events/s, leoncode.co.uk; here 3,825.66): small kernels flatter the Pi against a program
# whose working set outgrows the A72's 1 MB L2, hence the low end.
PI4_NBODY_STEPS_PER_S = 60_000.0
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNIT_CGROUP = "roadgate-unit"
MAX_WEIGHT = 10_000
DEFAULT_STEPS = (5, 10, 25, 50, 100)
LATENESS_BOUND_MS = IntersectionSettings().max_lateness_s * 1000
REALTIME_SHARE = 0.9  # the player short of real time: the load was not offered
CALIBRATE_S = 1.0
LIMITED_CALIBRATE_S = 2.0
"""The kernel's run in the limit: 20 periods, whose resumes drift through a whole tick."""
SHARE_RUNS = 3
"""Unlimited n-body runs in the guest whose fastest sets the share (``CpuLimit``)."""
LIMITER_TOLERANCE = 0.2
"""How far what the limiter gives the n-body kernel may stray from its share, before and after
a step (``limiter_shortfall``): else the step's verdict would be the guest's, not the unit's.
On a 100 ms period the guest's limiter gave 0.53-1.03 of the share by boot
(``tick_accounting``); natively 0.94-1.00."""
STEP_ATTEMPTS = 3
"""Guests a step runs in at most until one whose limiter holds its share (``run_board_bench``)."""

_PI = 3.14159265358979323
_SOLAR_MASS = 4 * _PI * _PI
_DAYS = 365.24
# Sun, Jupiter, Saturn, Uranus, Neptune: position (AU), velocity (AU/day * days/year), mass.
_BODIES = (
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 1.0),
    (
        (4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01),
        (1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05),
        9.54791938424326609e-04,
    ),
    (
        (8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01),
        (-2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05),
        2.85885980666130812e-04,
    ),
    (
        (1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01),
        (2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05),
        4.36624404335156298e-05,
    ),
    (
        (1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01),
        (2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05),
        5.15138902046611451e-05,
    ),
)

_Body = tuple[list[float], list[float], float]


def _system() -> list[_Body]:
    return [(list(r), [v * _DAYS for v in velocity], m * _SOLAR_MASS) for r, velocity, m in _BODIES]


def nbody_advance(bodies: list[_Body], steps: int, dt: float = 0.01) -> None:
    """The Benchmarks Game's n-body step (its CPython program #1), ``steps`` times."""
    pairs = list(combinations(bodies, 2))
    for _ in range(steps):
        for ([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2) in pairs:
            dx, dy, dz = x1 - x2, y1 - y2, z1 - z2
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** (-1.5))
            b1, b2 = m1 * mag, m2 * mag
            v1[0] -= dx * b2
            v1[1] -= dy * b2
            v1[2] -= dz * b2
            v2[0] += dx * b1
            v2[1] += dy * b1
            v2[2] += dz * b1
        for r, (vx, vy, vz), _m in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz


def nbody_energy(bodies: list[_Body]) -> float:
    """The system's energy (the Benchmarks Game's check: -0.169075164 at the start)."""
    energy = 0.0
    for ([x1, y1, z1], _v, m1), ([x2, y2, z2], _w, m2) in combinations(bodies, 2):
        energy -= m1 * m2 / ((x1 - x2) ** 2 + (y1 - y2) ** 2 + (z1 - z2) ** 2) ** 0.5
    for _r, (vx, vy, vz), m in bodies:
        energy += m * (vx * vx + vy * vy + vz * vz) / 2.0
    return energy


def nbody_rate(
    seconds: float = 0.3,
    repeats: int = 3,
    clock: Callable[[], float] = time.process_time,
    chunk: int = 2_000,
) -> float:
    """n-body steps per second of ``clock`` (default: this process's CPU time, which other
    workers on the machine disturb less than the wall clock), the best of ``repeats`` runs of
    about ``seconds`` each."""
    bodies, best = _system(), 0.0
    for _ in range(repeats):
        steps, start = 0, clock()
        while (elapsed := clock() - start) < seconds:
            nbody_advance(bodies, chunk)
            steps += chunk
        best = max(best, steps / max(elapsed, 1e-9))
    return best


def board_share(host_rate: float) -> float:
    """The share of one of this machine's cores that a Pi 4 core is (at most 1)."""
    return min(1.0, PI4_NBODY_STEPS_PER_S / host_rate)


class CpuLimit:
    """The unit's cgroup (``UNIT_CGROUP``, a ``CpuQuota`` on cgroup v2 at ``root``): at most
    ``share`` of one CPU and, up to that, before anything outside it (``cpu.weight``); with
    ``calibration``, what that share came to in n-body steps.

    ``share`` None (the default): a Pi 4 core as measured where the unit runs. The n-body
    kernel is run in here unlimited (``SHARE_RUNS`` times, the fastest taken) and the share
    set to ``PI4_NBODY_STEPS_PER_S`` over that rate, so that the unit's CPU runs this CPython
    at a Pi 4 core's pace here, whatever the guest's overhead on it. The period is
    ``LIMIT_PERIOD_US``; where the cgroup is charged in whole ticks (the guest), the quota gets
    what the kernel lost to that a period, at most half a tick (``tick_accounting``). The
    kernel is then run in the cgroup again, and what it got over the share of its unlimited
    rate is ``limiter_held`` (again after a step: ``held``; ``LIMITER_TOLERANCE``).

    In the user-mode-linux guest nothing mounts cgroup2; it is mounted on ``root`` when that is
    an empty directory (never over a mounted hierarchy). Raises ``FirmwareError`` where no
    cgroup v2 with the cpu controller can be had, ``ValueError`` for a share outside (0, 1]."""

    def __init__(self, share: float | None = None, root: Path = CGROUP_ROOT) -> None:
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"a CPU share is in (0, 1], not {share}")
        self._quota = CpuQuota(
            UNIT_CGROUP, share or 1.0, weight=MAX_WEIGHT, root=root, period_us=LIMIT_PERIOD_US
        )
        self._fixed = share is not None
        self.share = share or 1.0
        self._root = root
        self.calibration: dict[str, float] = {}

    @property
    def path(self) -> Path:
        return self._quota.path

    def __enter__(self) -> CpuLimit:
        controllers = self._root / "cgroup.controllers"
        if not controllers.exists() and self._root.is_dir() and not any(self._root.iterdir()):
            subprocess.run(["mount", "-t", "cgroup2", "none", str(self._root)], check=False)
        try:
            cpu_hierarchy(self._root)
        except FirmwareError as err:
            raise FirmwareError(f"bench e2e --board: {err}") from err
        # What the share comes to, measured before anything else runs: the guest's CPU is the
        # host's minus what other work on the host takes (user-mode-linux charges that to
        # whatever the guest runs), so a share fixed beforehand may be less than a Pi 4 core.
        full = calibrate_in(None)
        if not self._fixed:
            # The fastest of a few: a slowdown of the host while one runs would otherwise give
            # the unit more than a Pi 4 core (1.72 in one step), never less.
            full = max([full, *(calibrate_in(None) for _ in range(SHARE_RUNS - 1))])
            self.share = board_share(full)
            self._quota.share = self.share
        self._quota.__enter__()
        limited = calibrate_in(self.path, LIMITED_CALIBRATE_S)
        if ticked(self.stat()["usage_usec"]):
            # Charged by the tick (the user-mode-linux guest): a throttled process resumes
            # part-way through a tick and is charged all of it, half a tick a period on
            # average (``tick_accounting``). What the kernel lost is given back, at most that.
            lost = (1 - limited / (self.share * full)) * self.share * LIMIT_PERIOD_US
            self._quota.slack_us = min(HALF_TICK_US, max(0, round(lost)))
            self._quota.apply()
            limited = calibrate_in(self.path, LIMITED_CALIBRATE_S)
        # Unlimited before and after: the host's load on the guest changes meanwhile.
        full = (full + calibrate_in(None)) / 2
        self.calibration = {
            "cpu_share": round(self.share, 4),
            "nbody_guest_steps_per_s": round(full),
            "nbody_limited_steps_per_s": round(limited),
            "measured_share": round(limited / full, 3),
            "pi4_cores": round(limited / PI4_NBODY_STEPS_PER_S, 3),
            "limiter_held": round(limited / (self.share * full), 3),
            "limit_period_us": self._quota.period_us,
            "limit_slack_us": self._quota.slack_us,
        }
        return self

    def held(self) -> float:
        """What the limiter gives now, as a fraction of its share: the kernel's rate in the
        cgroup over the share of its unlimited rate at entry (1: exactly the share)."""
        limited = calibrate_in(self.path, LIMITED_CALIBRATE_S)
        return round(limited / (self.share * self.calibration["nbody_guest_steps_per_s"]), 3)

    def __exit__(self, *exc: object) -> None:
        self._quota.__exit__(*exc)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads, and the children it starts) in."""
        self._quota.add(pid)

    def stat(self) -> dict[str, int]:
        """``cpu.stat``: usage_usec, nr_periods, nr_throttled, throttled_usec, ..."""
        return self._quota.stat()


def calibrate_in(cgroup: Path | None, seconds: float = CALIBRATE_S) -> float:
    """The n-body kernel's steps per wall-clock second in a new process in ``cgroup`` (None:
    where this process is)."""
    argv = [sys.executable, "-m", "firmware_py.benchmarks.e2e_board", "calibrate"]
    argv += ["--seconds", str(seconds)] + (["--cgroup", str(cgroup)] if cgroup else [])
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FirmwareError(f"n-body calibration failed: {done.stderr.strip()[-500:]}")
    return float(json.loads(done.stdout)["steps_per_s"])


def shortfalls(details: dict[str, Any]) -> list[str]:
    """Why a step (``E2eResult.details``) was not sustained; empty when it was."""
    why = []
    if details["frames_lost"]:
        why.append(f"{details['frames_lost']:,} frames lost")
    if details["cycles_seen"] != details["cycles_sent"]:
        why.append(f"{details['cycles_seen']:,} of {details['cycles_sent']:,} cycles on the buses")
    rejected = sum(
        v for k, v in details["unit_counters"].items() if k.startswith("perception.rejects.")
    )
    if rejected:
        why.append(f"{rejected:,.0f} lists rejected (late)")
    # With an uplink period, the fused lists the unit kept back by it are not to be stored.
    kept_back = details["unit_counters"].get("pipeline.fused_lists_not_uplinked", 0)
    expected = details["cycles_sent"] - int(kept_back)
    if details["stored"] != expected or details["unmatched"]:
        why.append(
            f"{details['stored']:,} of {expected:,} lists stored, {details['unmatched']} unmatched"
        )
    p99 = details["p99_in_unit_ms"]
    if p99 is None or p99 > LATENESS_BOUND_MS:
        shown = "n/a" if p99 is None else f"{p99:.0f} ms"
        why.append(f"p99 newest frame -> published {shown} > {LATENESS_BOUND_MS:g} ms")
    if details["realtime_share"] < REALTIME_SHARE:
        why.append(f"traffic played at {details['realtime_share']:.0%} of real time")
    why.extend(limiter_shortfall(details))
    return why


def limiter_shortfall(details: dict[str, Any]) -> list[str]:
    """Why the guest's limiter did not give the unit its share during a step (the kernel's
    check before it, ``limiter_held``, and after it, ``limiter_held_after``, each within
    ``LIMITER_TOLERANCE`` of 1); empty when it did or when no limiter ran."""
    held = [details.get(key) for key in ("limiter_held", "limiter_held_after")]
    if all(h is None for h in held):
        return []
    if all(h is not None and abs(h - 1) <= LIMITER_TOLERANCE for h in held):
        return []
    shown = " and ".join("n/a" if h is None else f"{h:.2f}" for h in held)
    return [
        f"the limiter gave {shown} of its share before and after (outside "
        f"{1 - LIMITER_TOLERANCE:.1f}-{1 + LIMITER_TOLERANCE:.1f}): the guest's figure, not "
        "the unit's"
    ]


@dataclass(frozen=True)
class BoardStep:
    """One load step: objects per list, its bus load, and the run's figures; ``set_aside``:
    the figures of earlier runs of the step in guests whose limiter did not hold its share."""

    objects: int
    bus_load: float
    details: dict[str, Any]
    set_aside: tuple[dict[str, Any], ...] = ()

    @property
    def shortfalls(self) -> list[str]:
        return shortfalls(self.details)

    @property
    def sustained(self) -> bool:
        return not self.shortfalls

    @property
    def unit_pi4_cores(self) -> float | None:
        """The Pi 4 cores' worth of CPU the unit used from the first frame to the drain: its
        share of the guest's CPU times the n-body rate the guest had, over a Pi 4 core's
        (meaningful where it was not held back: at a share of 1). Where the limit had slack
        for the tick (``CpuLimit``), that slack, charged at each throttled period's resume but
        not run, is not counted."""
        d = self.details
        if "nbody_guest_steps_per_s" not in d:
            return None
        charged_not_run = (
            float(d.get("unit_throttled_periods", 0)) * float(d.get("limit_slack_us", 0)) / 1e6
        )
        busy = (float(d["cpu_s"]) - charged_not_run) / max(
            1e-9, float(d["played_s"]) + float(d["drain_s"])
        )
        return round(busy * float(d["nbody_guest_steps_per_s"]) / PI4_NBODY_STEPS_PER_S, 3)


def highest_sustained(steps: Sequence[BoardStep]) -> BoardStep | None:
    """The heaviest step sustained with every lighter one sustained too (steps in any order);
    None when the lightest was not."""
    best = None
    for step in sorted(steps, key=lambda s: s.objects):
        if not step.sustained:
            break
        best = step
    return best


@dataclass
class BoardResult:
    """The stepped runs and the share they ran at."""

    host_nbody_steps_per_s: float
    steps: list[BoardStep] = field(default_factory=list)
    e2e_json: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> BoardStep | None:
        return highest_sustained(self.steps)

    @property
    def cpu_share(self) -> float | None:
        """The share the unit had (in the guest: a Pi 4 core there), the first step's."""
        return self.steps[0].details.get("cpu_share") if self.steps else None

    @property
    def board_factor(self) -> float:
        return round(board_share(self.host_nbody_steps_per_s), 3)

    def as_json(self) -> dict[str, Any]:
        best = self.best
        return {
            **self.e2e_json,
            "board_factor": self.board_factor,
            "cpu_share": self.cpu_share,
            "host_nbody_steps_per_s": round(self.host_nbody_steps_per_s),
            "max_sustained_objects": best.objects if best else None,
            "max_sustained_bus_load": round(best.bus_load, 4) if best else None,
            "steps": [
                {
                    "objects": s.objects,
                    "bus_load": round(s.bus_load, 4),
                    "sustained": s.sustained,
                    "shortfalls": s.shortfalls,
                    "unit_pi4_cores": s.unit_pi4_cores,
                    **{k: s.details.get(k) for k in _STEP_KEYS},
                    "set_aside": [
                        {k: d.get(k) for k in ("shortfalls", *_STEP_KEYS)} for d in s.set_aside
                    ],
                }
                for s in sorted(self.steps, key=lambda s: s.objects)
            ],
        }


_STEP_KEYS = (
    "frames_in",
    "frames_lost",
    "stored",
    "p50_ms",
    "p99_ms",
    "p50_in_unit_ms",
    "p99_in_unit_ms",
    "cpu_s",
    "realtime_share",
    "drain_s",
    "cpu_share",
    "measured_share",
    "pi4_cores",
    "limiter_held",
    "limiter_held_after",
    "unit_user_s",
    "unit_system_s",
    "unit_throttled_s",
    "machine_busy_share",
)


class BoardRun(Protocol):
    """Runs ``bench e2e`` at ``objects`` per list, the unit limited to ``cpu_share`` of one
    CPU: ``run_e2e_bench`` with ``board=True``."""

    def __call__(self, objects: int, cpu_share: float | None) -> E2eResult: ...


def run_board_bench(
    objects_steps: Sequence[int],
    run_step: BoardRun,
    cpu_share: float | None = None,
    progress: Callable[[str], None] = lambda _line: None,
    every_step: bool = False,
) -> BoardResult:
    """Run ``run_step`` for each step from the lightest up, until one is not sustained (all of
    them with ``every_step``), at ``cpu_share`` (None: a Pi 4 core, measured in the guest
    before each step: ``CpuLimit``). A run whose guest's limiter did not hold its share
    (``limiter_shortfall``) is set aside and the step run again, in ``STEP_ATTEMPTS`` guests at
    most; the last run counts, its shortfall named if it too missed."""
    rate = nbody_rate()
    given = (
        "a Pi 4 core's n-body rate, measured in the guest before each step"
        if cpu_share is None
        else f"{cpu_share:.3f} of the guest's CPU"
    )
    progress(
        f"this core runs n-body at {rate:,.0f} steps/s natively (CPU time), a Pi 4 core at "
        f"{PI4_NBODY_STEPS_PER_S:,.0f}: board factor {board_share(rate):.3f} here; the unit "
        f"gets {given}"
    )
    result = BoardResult(rate)
    for objects in sorted(objects_steps):
        set_aside: list[dict[str, Any]] = []
        run = run_step(objects, cpu_share)
        while limiter_shortfall(run.details) and len(set_aside) + 1 < STEP_ATTEMPTS:
            set_aside.append({**run.details, "shortfalls": shortfalls(run.details)})
            progress(f"{objects:3d} objects: {limiter_shortfall(run.details)[0]}; in a new guest")
            run = run_step(objects, cpu_share)
        step = BoardStep(objects, run.details["bus_load"], run.details, tuple(set_aside))
        result.steps.append(step)
        progress(format_step(step))
        if step.sustained or not result.e2e_json:
            result.e2e_json = run.as_json()
        if not step.sustained and not every_step:
            break
    return result


def format_step(step: BoardStep) -> str:
    d = step.details
    state = "sustained" if step.sustained else "NOT sustained: " + "; ".join(step.shortfalls)
    return (
        f"{step.objects:3d} objects ({step.bus_load:5.1%} of 4 buses): p99 in unit "
        f"{_ms(d['p99_in_unit_ms'])}, to bridge {_ms(d['p99_ms'])}; unit CPU {d['cpu_s']:.1f} s "
        f"at a share of {d.get('cpu_share', 0):.3f} (throttled {d.get('unit_throttled_s', 0):.1f} "
        f"s; the share {d.get('pi4_cores', 0):.2f} Pi 4 cores by n-body, the limiter held "
        f"{d.get('limiter_held', 0):.2f} and {d.get('limiter_held_after', 0):.2f} of it; the "
        "unit used "
        f"{step.unit_pi4_cores or 0:.2f}); played at "
        f"{d['realtime_share']:.0%} of real time: {state}"
    )


def format_board(result: BoardResult) -> str:
    """A few lines for the terminal."""
    best = result.best
    lines = [
        f"board budget: the unit limited to {result.cpu_share or 0:.3f} of the guest's CPU "
        f"at the first step (a Pi 4 core: {PI4_NBODY_STEPS_PER_S:,.0f} n-body steps/s; this "
        f"machine's core runs {result.host_nbody_steps_per_s:,.0f} natively, a board factor "
        f"of {result.board_factor:.3f})",
        *(f"  {format_step(step)}" for step in result.steps),
        "  highest sustained: "
        + (
            f"{best.objects} objects per list, {best.bus_load:.1%} of four 500 kbit/s buses"
            if best
            else "none of the steps"
        )
        + f" (goal: 4 full buses, 100 objects, {bus_load(100):.1%})",
    ]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    """Guest side: ``calibrate`` and ``limit-check`` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m firmware_py.benchmarks.e2e_board")
    actions = parser.add_subparsers(dest="action", required=True)
    calibrate = actions.add_parser("calibrate")
    calibrate.add_argument("--seconds", type=float, default=CALIBRATE_S)
    calibrate.add_argument("--cgroup", type=Path, default=None)
    check = actions.add_parser("limit-check")
    check.add_argument("--share", type=float, default=None, help="default: a Pi 4 core")
    args = parser.parse_args(argv)
    if args.action == "calibrate":
        if args.cgroup is not None:
            (args.cgroup / "cgroup.procs").write_text(str(os.getpid()))
        rate = nbody_rate(args.seconds, 1, time.monotonic, chunk=100)
        print(json.dumps({"steps_per_s": rate}))
        return 0
    with CpuLimit(args.share) as limit:
        figures: dict[str, Any] = {**limit.calibration, "cpu_stat": limit.stat()}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
