"""``roadgate benchmark fusion``: our tracker against Stone Soup's standard multi-target
tracker on the same detections, for accuracy and for time per cycle; and the intersection's
time budget (``fusion_budget``).

The workload: ``crowd(n)`` (``firmware_py.simulation.scenes``), n road users in a 40 m square
for 10 s, seen by one ARS408 at 20 Hz through ``RadarModel``: misses (Pd 0.95), clutter, split
vehicles, targets closer than 1 m merged into one return, and the radar's noise, each
detection weighed by ``RADAR_NOISE["ars408"]``'s covariance (so both trackers assume what the
simulation does). Occlusion is off so that every target can be seen: the benchmark is about
the trackers, and the number of detections grows with the targets.

Both trackers are built from ``SharedSettings`` (``fusion_runs``; the peer's construction is
in ``fusion_peer``) and run on the same scans. Stone Soup's cost grows with tracks x
detections, each pair a Python object, so at 200 and 1,000 targets it runs only the first
cycles of the scene (``peer_cycles``: about a minute each on the 2-core development machine);
accuracy (mean GOSPA, c = 10 m, p = 2, and ID switches, from ``edge.tracking.metrics``) is
compared over the cycles both ran, and ours is also scored over the whole scene. Cycle times
leave out the first cycle (no track yet in either); the garbage collector stays on, as in
service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.roadside.radar_noise import RADAR_NOISE
from edge.tracking.metrics import ScoreSummary, TrackingScore
from firmware_py.benchmarks.fusion_budget import BOUND_MS, BudgetResult, run_budget
from firmware_py.benchmarks.fusion_runs import (
    Objects,
    Scan,
    SharedSettings,
    TrackerRun,
    cycle_stats_ms,
    run_ours,
)
from firmware_py.errors import FirmwareError
from firmware_py.simulation.radar_model import ClutterAndMisses, RadarModel, to_enu
from firmware_py.simulation.scenes import crowd

GOAL_SPEEDUP = 100.0
"""Issue #12: at least this much faster per cycle than Stone Soup at 200 targets..."""
GOAL_TARGETS = 200
"""...with a GOSPA no worse; the ``--json`` record is this case's."""
DEFAULT_TARGETS = (20, 200, 1000)
SCAN_INTERVAL_S = 0.05
DURATION_S = 10.0
QUICK_DURATION_S = 3.0
PEER_PAIR_BUDGET = 1_200_000
"""The peer runs about this many (target x target) pairs in all: its cost per cycle grows as
targets squared (each track-detection pair a hypothesis object, about 60 us each here)."""
MIN_PEER_CYCLES = 3
"""Enough for the peer to confirm tracks (3 updates) and be timed on two cycles with tracks."""
SETTINGS = SharedSettings(accel_noise_m_s2=2.0)
"""Both trackers' settings; crowd targets on arcs accelerate up to 8 m/s^2 (centripetal)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Workload:
    """One crowd's truth and detections, cycle by cycle."""

    targets: int
    truth: list[Objects]
    scans: list[Scan]

    @property
    def detections_per_scan(self) -> float:
        return float(np.mean([len(s.positions) for s in self.scans])) if self.scans else 0.0


@dataclass(frozen=True)
class CaseResult:
    """Both trackers on one crowd: cycle times (mean, median, p99 in ms), cycles run, and
    scores over the ``peer_cycles`` both ran (``ours_whole``: ours over all ``cycles``)."""

    targets: int
    detections_per_scan: float
    cycles: int
    peer_cycles: int
    ours_ms: tuple[float, float, float]
    peer_ms: tuple[float, float, float]
    ours: ScoreSummary
    peer: ScoreSummary
    ours_whole: ScoreSummary

    @property
    def ratio(self) -> float:
        """How many times faster ours is per cycle (mean over mean)."""
        return self.peer_ms[0] / self.ours_ms[0]

    @property
    def gospa_met(self) -> bool:
        return self.ours.mean_gospa <= self.peer.mean_gospa


@dataclass(frozen=True)
class FusionBenchResult:
    """Every case run, and the budget run (None when skipped)."""

    cases: tuple[CaseResult, ...]
    budget: BudgetResult | None

    @property
    def headline(self) -> CaseResult:
        """The goal's case (200 targets), or the case nearest to it when it was not run."""
        return min(self.cases, key=lambda c: (abs(c.targets - GOAL_TARGETS), c.targets))

    def as_json(self) -> dict[str, object]:
        """The ``--json`` record of the headline case, with ``budget_median_ms`` and every
        case in ``cases``."""
        head = self.headline
        record: dict[str, object] = {
            "ours": round(head.ours_ms[0], 4),
            "peer": round(head.peer_ms[0], 4),
            "ratio": head.ratio,
            "unit": "ms/cycle",
            "gospa_ours": head.ours.mean_gospa,
            "gospa_peer": head.peer.mean_gospa,
            "id_switches_ours": head.ours.id_switches,
            "id_switches_peer": head.peer.id_switches,
            "targets": head.targets,
            "budget_median_ms": None if self.budget is None else self.budget.median_ms,
            "cases": [_case_json(case) for case in self.cases],
        }
        return record


def run_fusion_bench(
    targets: Sequence[int] = DEFAULT_TARGETS,
    *,
    quick: bool = False,
    budget: bool = True,
    seed: int = 0,
    plot: Path | None = None,
    progress: Progress | None = None,
) -> FusionBenchResult:
    """Run both trackers on a crowd of each of ``targets``, then the budget case.

    ``quick``: 3 s scenes (2 s for the budget) rather than 10 s. ``plot``: draw the smallest
    crowd's run there (see ``fusion_plot``).

    Raises:
        FirmwareError: Stone Soup (or, with ``plot``, matplotlib) is not installed; the plot
            cannot be written.
        ValueError: no targets, or a count below 1.
    """
    if not targets or min(targets) < 1:
        raise ValueError(f"need target counts of at least 1, not {list(targets)}")
    say = progress or (lambda _: None)
    run_peer = _peer_runner()
    if plot is not None:
        _require_matplotlib()  # before the long run, not after it
    duration = QUICK_DURATION_S if quick else DURATION_S
    cases: list[CaseResult] = []
    plotted: tuple[Workload, TrackerRun, TrackerRun] | None = None
    for count in sorted(set(targets)):
        work = crowd_workload(count, duration, seed)
        peer_cycles = peer_cycles_for(count, len(work.scans))
        say(f"{count} targets: ours on {len(work.scans)} cycles, Stone Soup on {peer_cycles}")
        ours = run_ours(work.scans, SETTINGS)
        peer = run_peer(work.scans, SETTINGS, peer_cycles)
        cases.append(_case(work, ours, peer))
        if plotted is None:
            plotted = (work, ours, peer)
    if plot is not None and plotted is not None:
        _plot(plot, cases[0], *plotted)
    budget_result = None
    if budget:
        say(f"budget: {BUDGET_TEXT}")
        budget_result = run_budget(duration_s=2.0 if quick else DURATION_S)
    return FusionBenchResult(tuple(cases), budget_result)


def crowd_workload(targets: int, duration_s: float, seed: int = 0) -> Workload:
    """``crowd(targets)`` seen by its radar every ``SCAN_INTERVAL_S`` for ``duration_s``."""
    scene = crowd(targets, seed=seed, duration_s=duration_s, radars=1)
    (mount,) = scene.radars
    noise = RADAR_NOISE[mount.kind]
    model = RadarModel(
        mount, noise, ClutterAndMisses(occlusion=False), np.random.default_rng(seed + 1)
    )
    truth: list[Objects] = []
    scans: list[Scan] = []
    for k in range(round(duration_s / SCAN_INTERVAL_S)):
        t = k * SCAN_INTERVAL_S
        ids, positions, _ = scene.truth_at(t)
        truth.append(Objects(ids, positions))
        returns = model.scan(scene, t)
        enu, _ = to_enu(mount, returns)
        covariances = noise.position_covariances(returns.x_m, returns.y_m, mount.yaw_rad)
        scans.append(Scan(t, enu, covariances))
    return Workload(targets, truth, scans)


def peer_cycles_for(targets: int, cycles: int) -> int:
    """How many cycles Stone Soup runs on a crowd of ``targets`` (see ``PEER_PAIR_BUDGET``)."""
    return min(cycles, max(MIN_PEER_CYCLES, PEER_PAIR_BUDGET // targets**2))


def score(truth: Sequence[Objects], run: TrackerRun, times_s: Sequence[float]) -> ScoreSummary:
    """Mean GOSPA and identity counts of ``run`` against ``truth`` over the cycles it ran."""
    scoring = TrackingScore()
    for t, real, estimated in zip(times_s, truth, run.estimates, strict=False):
        scoring.add(t, real.ids, real.positions, estimated.ids, estimated.positions)
    return scoring.summary


BUDGET_TEXT = (
    "256 targets, 4 radars at 20 Hz, one cycle = IntersectionTracker.step on one radar's list "
    "+ fused_object_list + SerializeToString"
)


def format_result(result: FusionBenchResult) -> str:
    """The human-readable report of a run."""
    lines = [
        "bench fusion: our tracker vs Stone Soup MultiTargetTracker (GNNWith2DAssignment), "
        f"same detections; crowd in a 40 m square, one ARS408 at {1 / SCAN_INTERVAL_S:g} Hz",
        f"  {'targets':>7} {'dets/scan':>9} {'cycles':>12} {'ours ms mean/p99':>18} "
        f"{'peer ms mean/p99':>20} {'speed-up':>9} {'GOSPA ours/peer':>16} {'ID sw ours/peer':>16}",
    ]
    for c in result.cases:
        lines.append(
            f"  {c.targets:>7,} {c.detections_per_scan:>9.1f} {c.cycles:>5}/{c.peer_cycles:<6} "
            f"{c.ours_ms[0]:>8.3f}/{c.ours_ms[2]:<9.3f} {c.peer_ms[0]:>9.1f}/{c.peer_ms[2]:<10.1f} "
            f"{c.ratio:>8.0f}x {c.ours.mean_gospa:>7.2f}/{c.peer.mean_gospa:<8.2f} "
            f"{c.ours.id_switches:>7}/{c.peer.id_switches:<8}"
        )
    lines.append(
        "  cycles: ours/peer (scores over the peer's cycles; times leave out the first cycle)"
    )
    for c in result.cases:
        o, p = c.ours, c.peer
        lines.append(
            f"  GOSPA parts at {c.targets:,} targets, ours/peer per cycle: missed truths "
            f"{o.mean_missed:.2f}/{p.mean_missed:.2f}, false tracks {o.mean_false:.2f}/"
            f"{p.mean_false:.2f}, localisation {o.mean_localisation:.1f}/"
            f"{p.mean_localisation:.1f} m^2 (each missed or false: c^2/2 = 50 m^2)"
        )
    for c in result.cases:
        if c.peer_cycles <= MIN_PEER_CYCLES < c.cycles:
            lines.append(
                f"  at {c.targets:,} targets Stone Soup ran {c.peer_cycles} cycles: "
                "the scores compared cover track start-up only"
            )
        if c.peer_cycles < c.cycles:
            w = c.ours_whole
            lines.append(
                f"  ours over all {c.cycles} cycles at {c.targets:,} targets: GOSPA "
                f"{w.mean_gospa:.2f} m, {w.id_switches} ID switches"
            )
    head = result.headline
    lines.append(
        f"  goal at {GOAL_TARGETS} targets: >= {GOAL_SPEEDUP:g}x faster "
        f"{'met' if head.ratio >= GOAL_SPEEDUP else 'NOT met'} ({head.ratio:,.0f}x at "
        f"{head.targets}), GOSPA no worse {'met' if head.gospa_met else 'NOT met'}"
    )
    budget = result.budget
    if budget is not None:
        lines += [
            f"  budget: {BUDGET_TEXT}",
            f"    median {budget.median_ms:.2f} ms (step {budget.step_median_ms:.2f} + protobuf "
            f"{budget.emit_median_ms:.2f}), p99 {budget.p99_ms:.2f} ms over {budget.cycles} "
            f"cycles, {budget.mean_tracks:.0f} tracks, {budget.mean_detections:.0f} "
            "detections per list",
            f"    all 4 radars of a 50 ms period: median {budget.period_median_ms:.2f} ms; "
            f"bound {BOUND_MS:g} ms median per cycle "
            f"{'met' if budget.median_ms < BOUND_MS else 'NOT met'} on this machine",
        ]
    return "\n".join(lines)


def _case(work: Workload, ours: TrackerRun, peer: TrackerRun) -> CaseResult:
    times = [s.time_s for s in work.scans]
    compared = len(peer.estimates)
    ours_compared = TrackerRun(ours.estimates[:compared], ours.cycle_s[:compared])
    return CaseResult(
        targets=work.targets,
        detections_per_scan=work.detections_per_scan,
        cycles=len(ours.estimates),
        peer_cycles=compared,
        ours_ms=cycle_stats_ms(ours.cycle_s),
        peer_ms=cycle_stats_ms(peer.cycle_s),
        ours=score(work.truth, ours_compared, times),
        peer=score(work.truth, peer, times),
        ours_whole=score(work.truth, ours, times),
    )


def _case_json(case: CaseResult) -> dict[str, object]:
    return {
        "targets": case.targets,
        "detections_per_scan": case.detections_per_scan,
        "cycles_ours": case.cycles,
        "cycles_peer": case.peer_cycles,
        "ours_mean_ms": case.ours_ms[0],
        "ours_p99_ms": case.ours_ms[2],
        "peer_mean_ms": case.peer_ms[0],
        "peer_p99_ms": case.peer_ms[2],
        "ratio": case.ratio,
        "gospa_ours": case.ours.mean_gospa,
        "gospa_peer": case.peer.mean_gospa,
        "id_switches_ours": case.ours.id_switches,
        "id_switches_peer": case.peer.id_switches,
        "gospa_ours_whole_scene": case.ours_whole.mean_gospa,
        "gospa_parts": {
            side: {
                "missed": summary.mean_missed,
                "false": summary.mean_false,
                "localisation_m2": summary.mean_localisation,
            }
            for side, summary in (("ours", case.ours), ("peer", case.peer))
        },
    }


PeerRunner = Callable[[Sequence[Scan], SharedSettings, int | None], TrackerRun]


def _peer_runner() -> PeerRunner:
    try:
        from firmware_py.benchmarks.fusion_peer import run_stone_soup
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] != "stonesoup":
            raise
        raise FirmwareError(
            "Stone Soup, the peer of this benchmark, is not installed: pip install stonesoup"
        ) from err
    return run_stone_soup


def _require_matplotlib() -> None:
    try:
        import firmware_py.benchmarks.fusion_plot  # noqa: F401
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] != "matplotlib":
            raise
        raise FirmwareError("--plot needs matplotlib: pip install matplotlib") from err


def _plot(
    path: Path,
    case: CaseResult,
    work: Workload,
    ours: TrackerRun,
    peer: TrackerRun,
) -> None:
    from firmware_py.benchmarks.fusion_plot import Panel, plot_runs

    compared = len(peer.estimates)
    seconds = compared * SCAN_INTERVAL_S
    plot_runs(
        path,
        title=f"crowd of {work.targets} targets, {seconds:g} s at {1 / SCAN_INTERVAL_S:g} Hz: "
        "truth grey, detections black dots, tracks coloured by id",
        truth=work.truth[:compared],
        scans=work.scans[:compared],
        panels=[
            Panel("ours", TrackerRun(ours.estimates[:compared], ours.cycle_s[:compared]),
                  _caption(case.ours, case.ours_ms[0])),
            Panel("Stone Soup", peer, _caption(case.peer, case.peer_ms[0])),
        ],
    )  # fmt: skip


def _caption(s: ScoreSummary, mean_ms: float) -> str:
    return f"GOSPA {s.mean_gospa:.2f} m, {s.id_switches} ID switches, {mean_ms:.3g} ms/cycle"
