"""``roadgate bench e2e``: the real roadside unit on four full CAN buses, end to end.

Four ARS408 radars, one per vcan bus, report a crowd at their real 72 ms cycle with as many
objects as fill a 500 kbit/s bus (``e2e_traffic``: 100 objects with quality and extended
messages, about 4,180 frames/s per bus); ``roadgate run`` decodes them, tracks and fuses them
into the intersection's list, runs the applications and sends through its durable outbox to a
private Mosquitto, where ``roadgate bridge`` stores them in SQLite (``e2e_guest``). Where this
kernel has no CAN, that runs inside the user-mode-linux guest (``hil.uml``), one virtual CPU
for the unit, the bridge, the broker, the player and the recorder together.

Reported: frames in (sent on all buses), frames lost (sent minus the unit's received count),
object lists stored, p50/p99 latency from the kernel timestamp of the newest frame a list used
to the bridge receiving it, the fusion period (each radar list runs one tracker cycle as it
completes, so the longest a detection waits for fusion is one radar cycle), the unit's CPU
seconds per 1,000 frames and its peak RSS. Goals (issue #17): nothing lost, p99 under
``fusion_period_ms`` + 20 ms, RSS under 100 MB. ``box="vehicle"``: the vehicle gateway on its
full powertrain bus instead (``e2e_vehicle``), its states measured, the state period standing
for the fusion period.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from firmware_py.benchmarks.e2e_profile import Share, format_summary, summarize
from firmware_py.benchmarks.e2e_traffic import BITRATE, Traffic, bus_load, write_traffic
from firmware_py.benchmarks.e2e_vehicle import VehicleTraffic, write_vehicle_traffic
from firmware_py.errors import FirmwareError

GUEST_MEMORY_MB = 2048
"""RAM of the user-mode-linux guest, where the bridge's store lives in memory (``/dev/shm``)
and grows by some 7 MB a second at full load: in the runner's default 512 MB the guest ran out
of memory about 17 s into a 20 s run (lists late by up to 1.5 s, the player once killed)."""

LISTS_CSV = "lists.csv"
"""Where the guest writes each stored list's times (``e2e_guest.write_lists``)."""

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_SECONDS = 20.0
LATENCY_GOAL_MS = 20.0  # beyond the fusion period
RSS_GOAL_MB = 100.0
JSON_KEYS = (
    "frames_in",
    "frames_lost",
    "stored",
    "p50_ms",
    "p99_ms",
    "fusion_period_ms",
    "cpu_s_per_kframe",
    "rss_mb",
)


class VcanRun(Protocol):
    """What a launcher reports of the command it ran (``hil.uml.runner.GuestResult``)."""

    @property
    def exit_status(self) -> int: ...
    @property
    def output_text(self) -> str: ...
    @property
    def in_guest(self) -> bool: ...


class VcanLauncher(Protocol):
    """Runs ``argv`` where the ``vcan`` interfaces exist (``hil.uml.runner.run_with_vcan``);
    a guest it boots for that has ``memory_mb`` of RAM."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        vcan: Sequence[str],
        cwd: Path,
        timeout_s: float,
        memory_mb: int,
    ) -> VcanRun: ...


@dataclass(frozen=True)
class E2eResult:
    """The figures (``JSON_KEYS``) and how the run went (``details``: ``e2e_guest``'s)."""

    frames_in: int
    frames_lost: int
    stored: int
    p50_ms: float | None
    p99_ms: float | None
    fusion_period_ms: float
    cpu_s_per_kframe: float | None
    rss_mb: float
    details: dict[str, Any]

    @property
    def within_goal(self) -> bool:
        return (
            self.frames_lost == 0
            and self.p99_ms is not None
            and self.p99_ms < self.fusion_period_ms + LATENCY_GOAL_MS
            and self.rss_mb < RSS_GOAL_MB
        )

    def as_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in JSON_KEYS}


def run_e2e_bench(
    seconds: float,
    objects: int,
    launch: VcanLauncher,
    progress: Callable[[str], None] = lambda _line: None,
    *,
    board: bool = False,
    cpu_share: float | None = None,
    profile: Path | None = None,
    lists: Path | None = None,
    box: str = "roadside",
    uplink_period_s: float = 0.0,
) -> E2eResult:
    """Write ``seconds`` of four radars' traffic (``objects`` per list) and run ``e2e_guest``
    on it through ``launch``; ``board``: the unit limited to ``cpu_share`` of one CPU (None:
    a Pi 4 core, measured in the guest: ``e2e_board.CpuLimit``); ``profile``: py-spy samples
    the unit into this file (collapsed stacks, ``e2e_profile``) and the details get its summary;
    ``lists``: each stored list's times go to this CSV file (``e2e_guest.write_lists``);
    ``box="vehicle"``: the vehicle gateway on its powertrain bus instead (``e2e_vehicle``;
    ``objects`` unused), its states measured; ``uplink_period_s``: the roadside unit's
    ``[perception] uplink_period_s``. Raises
    ``ValueError`` for bad sizes, ``FirmwareError`` when the run failed (with the end of its
    output)."""
    # In the project: the guest sees the host's files, and the caller's temporary directory
    # may be private to it.
    with tempfile.TemporaryDirectory(prefix=".bench-e2e-", dir=PROJECT) as shared:
        directory = Path(shared)
        traffic: Traffic | VehicleTraffic
        if box == "vehicle":
            traffic = write_vehicle_traffic(directory / "traffic.log", seconds)
            load = traffic.bus_load
            progress(
                f"{traffic.frames:,} frames written ({traffic.signal_frames:,} of the mapped "
                f"signals, {load:.1%} of the {BITRATE // 1000} kbit/s bus before stuff bits)"
            )
        else:
            traffic = write_traffic(directory / "traffic.log", seconds, objects)
            load = bus_load(objects)
            progress(
                f"{traffic.frames:,} frames written ({objects} objects per list, "
                f"{load:.1%} of each {BITRATE // 1000} kbit/s bus before stuff bits)"
            )
        (directory / "traffic.json").write_text(json.dumps(traffic.as_json()))
        out = directory / "result.json"
        argv = [
            sys.executable,
            "-m",
            "firmware_py.benchmarks.e2e_guest",
            str(directory / "traffic.json"),
            str(directory),
            str(out),
            "--box",
            box,
            "--uplink-period",
            str(uplink_period_s),
        ]
        if board:
            argv += ["--board"] + ([] if cpu_share is None else ["--cpu-share", str(cpu_share)])
        if profile is not None:
            argv += ["--profile", str(directory / "unit-profile.txt")]
        # In the guest the player falls behind real time when the CPU is short (4x measured).
        run = launch(
            argv,
            vcan=traffic.channels,
            cwd=PROJECT,
            timeout_s=seconds * 6 + 300,
            memory_mb=GUEST_MEMORY_MB,
        )
        if run.exit_status != 0 or not out.exists():
            logs = "".join(
                f"\n--- {name} ---\n{(directory / name).read_text(errors='replace')[-1500:]}"
                for name in ("unit.log", "bridge.log")
                if (directory / name).exists()
            )
            raise FirmwareError(
                f"bench e2e failed (exit {run.exit_status}):\n{run.output_text[-3000:]}{logs}"
            )
        figures = json.loads(out.read_text())
        if profile is not None:
            figures["profile"] = _keep_profile(directory / "unit-profile.txt", profile)
        if lists is not None:
            _copy_out(directory / LISTS_CSV, lists)
    figures["in_guest"] = run.in_guest
    figures["box"] = box
    figures["uplink_period_s"] = uplink_period_s
    figures["objects"] = objects
    figures["bus_load"] = load
    figures["realtime_share"] = _played_s(traffic) / figures["played_s"]
    return E2eResult(**{key: figures[key] for key in JSON_KEYS}, details=figures)


def _played_s(traffic: Traffic | VehicleTraffic) -> float:
    """How long the traffic lasts in real time."""
    if isinstance(traffic, VehicleTraffic):
        return traffic.seconds
    return traffic.cycles * traffic.cycle_s


def format_result(result: E2eResult) -> str:
    """A few lines for the terminal."""
    d = result.details
    if d.get("box") == "vehicle":
        return _format_vehicle(result)
    where = "user-mode-linux guest (one virtual CPU)" if d["in_guest"] else "native vcan"
    lines = [
        f"end to end, 4 ARS408 buses x {d['objects']} objects every "
        f"{result.fusion_period_ms:g} ms ({d['bus_load']:.1%} of 500 kbit/s before stuff "
        f"bits), {where}:",
        f"  frames in {result.frames_in:,} ({d['offered_per_s']:,.0f}/s: the player took "
        f"{d['played_s']:.1f} s), received by the unit {d['frames_received']:,}, "
        f"lost {result.frames_lost:,}; radar cycles sent {d['cycles_sent']:,}, "
        f"seen on the buses {d['cycles_seen']:,}",
        f"  object lists stored {result.stored:,}, rejected by the tracker "
        f"{_rejected(d['unit_counters']):,.0f} ({d['unmatched']} not matched to a cycle), "
        f"{d['stored_all']:,} messages in all; drained in {d['drain_s']:.1f} s",
        f"  latency newest frame -> bridge: p50 {_ms(result.p50_ms)}, p99 {_ms(result.p99_ms)} "
        f"(goal p99 < {result.fusion_period_ms + LATENCY_GOAL_MS:g} ms); "
        f"from the list's capture time: p50 {_ms(d['p50_from_capture_ms'])}, "
        f"p99 {_ms(d['p99_from_capture_ms'])}",
        f"  of which newest frame -> published by the unit: p50 {_ms(d['p50_in_unit_ms'])}, "
        f"p99 {_ms(d['p99_in_unit_ms'])}",
        f"  unit CPU {d['cpu_s']:.1f} s, {_num(result.cpu_s_per_kframe, '.3f')} s per 1,000 "
        f"frames; peak RSS {result.rss_mb:.1f} MB (goal < {RSS_GOAL_MB:g})",
        f"  others meanwhile: bridge {d['cpu_bridge_s']:.1f} s, recorder "
        f"{d['cpu_recorder_s']:.1f} s, player {d['cpu_player_s']:.1f} s "
        f"({d.get('cpu_player_playing_s', 0.0):.1f} s while playing) of CPU; "
        f"{d['cpus']} CPU(s) {d['machine_busy_share']:.0%} busy",
        f"  {'within the goals' if result.within_goal else 'NOT within the goals'}",
    ]
    if "profile" in d:
        lines.insert(-1, _profile_lines(d))
    return "\n".join(lines)


def _format_vehicle(result: E2eResult) -> str:
    d = result.details
    where = "user-mode-linux guest (one virtual CPU)" if d["in_guest"] else "native vcan"
    lines = [
        f"end to end, the vehicle gateway on its Toyota powertrain bus ({d['bus_load']:.1%} of "
        f"500 kbit/s before stuff bits), states every {result.fusion_period_ms:g} ms, {where}:",
        f"  frames in {result.frames_in:,} ({d['offered_per_s']:,.0f}/s: the player took "
        f"{d['played_s']:.1f} s), of the mapped signals {d['signal_frames']:,}, received by "
        f"the gateway (its kernel filter) {d['frames_received']:,}, lost {result.frames_lost:,}",
        f"  vehicle states stored {result.stored:,} ({d['unmatched']} not matched to a "
        f"frame; {d['republished']:,} more republished without newer input after the "
        f"traffic), {d['stored_all']:,} messages in all; drained in {d['drain_s']:.1f} s",
        f"  latency newest frame -> bridge: p50 {_ms(result.p50_ms)}, p99 {_ms(result.p99_ms)} "
        f"(goal p99 < {result.fusion_period_ms + LATENCY_GOAL_MS:g} ms); of which -> published "
        f"by the gateway: p50 {_ms(d['p50_in_unit_ms'])}, p99 {_ms(d['p99_in_unit_ms'])}",
        f"  gateway CPU {d['cpu_s']:.1f} s, {_num(result.cpu_s_per_kframe, '.3f')} s per 1,000 "
        f"frames received; peak RSS {result.rss_mb:.1f} MB (goal < {RSS_GOAL_MB:g})",
        f"  others meanwhile: bridge {d['cpu_bridge_s']:.1f} s, player {d['cpu_player_s']:.1f} s "
        f"of CPU; {d['cpus']} CPU(s) {d['machine_busy_share']:.0%} busy",
        f"  {'within the goals' if result.within_goal else 'NOT within the goals'}",
    ]
    if "profile" in d:
        lines.insert(-1, _profile_lines(d))
    return "\n".join(lines)


def _copy_out(written: Path, path: Path) -> None:
    """Copy a file the guest wrote to where the user asked."""
    try:
        path.write_bytes(written.read_bytes())
    except OSError as err:
        raise FirmwareError(f"cannot write {path}: {err.strerror or err}") from err


def _keep_profile(written: Path, profile: Path) -> dict[str, Any]:
    """Copy the guest's profile to ``profile``; its summary (``e2e_profile.summarize``)."""
    _copy_out(written, profile)
    samples, shares = summarize(written.read_text())
    return {"path": str(profile), "samples": samples, "top": [vars(s) for s in shares]}


def _profile_lines(d: dict[str, Any]) -> str:
    shares = [Share(**share) for share in d["profile"]["top"]]
    return (
        f"{format_summary(d['profile']['samples'], shares)}\n"
        f"  profiled: py-spy took {d.get('cpu_profiler_s', 0.0):.1f} s of CPU beside the unit "
        f"(figures of a profiled run are not to be quoted); stacks in {d['profile']['path']}"
    )


def _rejected(counters: dict[str, float]) -> float:
    """Radar lists the tracker did not take (late, or unusable), from the unit's counters."""
    return sum(v for k, v in counters.items() if k.startswith("perception.rejects."))


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def native_launcher(
    argv: Sequence[str], *, vcan: Sequence[str], cwd: Path, timeout_s: float, memory_mb: int
) -> VcanRun:
    """Run ``argv`` on this machine when its ``vcan`` interfaces already exist (``roadgate hil
    up`` makes them), in the machine's own memory (``memory_mb`` is a guest's); otherwise raise
    ``FirmwareError`` saying so."""
    import subprocess

    missing = [name for name in vcan if not Path("/sys/class/net", name).exists()]
    if missing:
        raise FirmwareError(
            f"bench e2e needs the CAN interfaces {', '.join(vcan)} ({', '.join(missing)} "
            "missing): create them (ip link add dev vcan0 type vcan; ip link set vcan0 up; ...) "
            "or run it through hil (user-mode-linux where this kernel has no CAN)"
        )
    try:
        done = subprocess.run(
            list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise FirmwareError(f"bench e2e: no result after {timeout_s:g} s") from err
    return _NativeRun(done.returncode, done.stdout + done.stderr, False)


@dataclass(frozen=True)
class _NativeRun:
    exit_status: int
    output_text: str
    in_guest: bool
