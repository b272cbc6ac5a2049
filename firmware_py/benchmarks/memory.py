"""``roadgate bench memory``: the resident memory of real boxes against their budgets.

Each box runs as ``python -m firmware_py.cli run`` in a subprocess for a while, against a
broker, in its simulated world: the roadside unit with four radars on one bus, fusion and the
uplink; the vehicle gateway with its CAN bus, GNSS and uplink. Its RSS is sampled from
``/proc/<pid>/status`` (the peak is the kernel's ``VmHWM``), its CPU time from
``/proc/<pid>/stat``, and the CAN frames it read from its own health reports, so the CPU share
is per 1,000 frames/s read. The simulated world runs in the box's process: its cost is
counted too, so these figures are an upper bound for a box on real sensors.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware_py.config.loader import EXAMPLES_DIR
from firmware_py.errors import FirmwareError
from protocols.envelope import decode
from protocols.errors import ProtocolError

MIB = 1024 * 1024
BUDGETS_MB = {"roadside_unit": 100, "vehicle_gateway": 80}
"""Issue #14's budgets for a box's resident memory, MiB."""
DEFAULT_SECONDS = 30.0
_TICKS = os.sysconf("SC_CLK_TCK")

# Four radars facing the intersection from its four sides, sharing one bus (ARS408 sensor
# ids 0-3), as a four-way intersection is equipped.
_RADARS = (
    ("north", 34.22386, 108.8905, 180.0),
    ("south", 34.22314, 108.8905, 0.0),
    ("east", 34.2235, 108.89094, 270.0),
    ("west", 34.2235, 108.89006, 90.0),
)


@dataclass(frozen=True)
class BoxMemory:
    """One box's run: RSS at the end and at its peak, MiB; CPU share of one core over the
    measured window; CAN frames/s read in that window; the budget, MiB."""

    role: str
    seconds: float
    rss_mb: float
    peak_rss_mb: float
    cpu_share: float
    frames_per_s: float
    budget_mb: float

    @property
    def cpu_per_1000_fps(self) -> float | None:
        """CPU share per 1,000 CAN frames/s read (None without frames)."""
        if self.frames_per_s <= 0:
            return None
        return self.cpu_share / (self.frames_per_s / 1000)

    @property
    def within_budget(self) -> bool:
        return self.peak_rss_mb <= self.budget_mb

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "cpu_per_1000_fps": self.cpu_per_1000_fps,
            "within_budget": self.within_budget,
        }


def roadside_config(directory: Path, host: str, port: int) -> Path:
    """A roadside unit config (the shipped example's) with four radars, written to
    ``directory``."""
    text = (EXAMPLES_DIR / "roadside.toml").read_text()
    text = _without_tables(text, "[[radar]]")
    radars = "".join(
        f'[[radar]]\nsensor = "{name}"\nbus = "radar"\nkind = "ars408"\nsensor_id = {i}\n'
        f"latitude_deg = {lat}\nlongitude_deg = {lon}\naltitude_m = 415.0\n"
        f"heading_deg = {heading}\n\n"
        for i, (name, lat, lon, heading) in enumerate(_RADARS)
    )
    text = text.replace("[perception]", radars + "[perception]", 1)
    text = text.replace(
        'intersection = "intersection-101.toml"',
        f'intersection = "{EXAMPLES_DIR / "intersection-101.toml"}"',
    )
    return _write(directory, "roadside-4-radars.toml", text, host, port)


def vehicle_config(directory: Path, host: str, port: int) -> Path:
    """The shipped vehicle gateway example, written to ``directory``."""
    text = (EXAMPLES_DIR / "vehicle-toyota.toml").read_text()
    return _write(directory, "vehicle.toml", text, host, port)


def _write(directory: Path, name: str, text: str, host: str, port: int) -> Path:
    text = re.sub(r'(?m)^host = ".*"$', f'host = "{host}"', text, count=1)
    text = re.sub(r"(?m)^port = \d+$", f"port = {port}", text, count=1)
    text = _without_tables(text, "[outbox]")
    text += f'\n[outbox]\npath = "{directory / (name + ".outbox.sqlite3")}"\n'
    path = directory / name
    path.write_text(text)
    return path


def _without_tables(text: str, header: str) -> str:
    """``text`` without the tables whose header line is ``header`` (to the next header)."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            skipping = line.strip() == header
        if not skipping:
            kept.append(line)
    return "".join(kept)


class _HealthWatch:
    """The boxes' health reports on the broker: the latest (uptime, CAN frames) per device."""

    def __init__(self, host: str, port: int) -> None:
        self.latest: dict[str, tuple[float, int]] = {}
        self.first: dict[str, tuple[float, int, float]] = {}  # + monotonic time received
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self._client.on_message = self._on_message
        self._client.on_connect = lambda c, *_: c.subscribe("rg/v1/+/+/health", qos=0)
        self._client.connect(host, port)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        try:
            envelope = decode(message.payload)
        except ProtocolError:
            return  # not ours to judge: only what decodes is measured
        if envelope.WhichOneof("body") != "health":
            return
        health = envelope.health
        frames = int(health.counters.get("pipeline.can_frames", 0))
        with self._lock:
            self.latest[envelope.device_id] = (health.uptime_s, frames)
            self.first.setdefault(envelope.device_id, (health.uptime_s, frames, time.monotonic()))

    def snapshot(self, device: str) -> tuple[tuple[float, int] | None, tuple[float, int] | None]:
        with self._lock:
            first = self.first.get(device)
            return (None if first is None else first[:2]), self.latest.get(device)


def measure_box(
    role: str,
    config: Path,
    device: str,
    seconds: float,
    host: str,
    port: int,
    progress: Callable[[str], None] = lambda _line: None,
) -> BoxMemory:
    """Run the box of ``config`` for ``seconds`` after its first health report; measure it."""
    watch = _HealthWatch(host, port)
    command = [sys.executable, "-m", "firmware_py.cli", "run", "--config", str(config)]
    log_path = config.with_suffix(".log")
    # Its log goes to a file: a pipe nobody drains would stall the box once full.
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        progress(f"{role}: started pid {process.pid}, waiting for its first health report")
        deadline = time.monotonic() + 60
        while watch.snapshot(device)[0] is None:
            _check_alive(process, role, log_path)
            if time.monotonic() > deadline:
                raise FirmwareError(f"bench memory: {role} published no health in 60 s")
            time.sleep(0.1)
        cpu_start, wall_start = _cpu_s(process.pid), time.monotonic()
        first, _ = watch.snapshot(device)
        progress(f"{role}: measuring for {seconds:g} s")
        while time.monotonic() - wall_start < seconds:
            _check_alive(process, role, log_path)
            time.sleep(0.25)
        cpu_end, wall_end = _cpu_s(process.pid), time.monotonic()
        rss, peak = _rss_mb(process.pid)
        _, last = watch.snapshot(device)
    finally:
        watch.stop()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    frames_per_s = 0.0
    if first is not None and last is not None and last[0] > first[0]:
        frames_per_s = (last[1] - first[1]) / (last[0] - first[0])
    return BoxMemory(
        role=role,
        seconds=wall_end - wall_start,
        rss_mb=rss,
        peak_rss_mb=peak,
        cpu_share=(cpu_end - cpu_start) / (wall_end - wall_start),
        frames_per_s=frames_per_s,
        budget_mb=BUDGETS_MB[role],
    )


def run_memory_bench(
    seconds: float, host: str, port: int, progress: Callable[[str], None] = lambda _l: None
) -> list[BoxMemory]:
    """Measure the roadside unit (four radars) and then the vehicle gateway."""
    with tempfile.TemporaryDirectory(prefix="roadgate-bench-memory-") as tmp:
        directory = Path(tmp)
        return [
            measure_box(
                "roadside_unit",
                roadside_config(directory, host, port),
                "rsu-001",
                seconds,
                host,
                port,
                progress,
            ),
            measure_box(
                "vehicle_gateway",
                vehicle_config(directory, host, port),
                _device_id(EXAMPLES_DIR / "vehicle-toyota.toml"),
                seconds,
                host,
                port,
                progress,
            ),
        ]


def format_result(results: list[BoxMemory]) -> str:
    lines = [
        f"{'box':<16} {'RSS MiB':>8} {'peak':>8} {'budget':>7}  {'CPU':>6} "
        f"{'frames/s':>9} {'CPU per 1k fr/s':>16}"
    ]
    for r in results:
        per_k = r.cpu_per_1000_fps
        lines.append(
            f"{r.role:<16} {r.rss_mb:>8.1f} {r.peak_rss_mb:>8.1f} {r.budget_mb:>7.0f}  "
            f"{r.cpu_share:>6.1%} {r.frames_per_s:>9.0f} "
            f"{'n/a' if per_k is None else f'{per_k:.1%}':>16}  "
            f"{'within budget' if r.within_budget else 'OVER BUDGET'}"
        )
    return "\n".join(lines)


def _device_id(config: Path) -> str:
    match = re.search(r'(?m)^id = "([^"]+)"', config.read_text())
    if match is None:
        raise FirmwareError(f"{config}: no device id")
    return match.group(1)


def _check_alive(process: subprocess.Popen[bytes], role: str, log_path: Path) -> None:
    if process.poll() is None:
        return
    tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
    raise FirmwareError(
        f"bench memory: the {role} exited with {process.returncode}: {' / '.join(tail)}"
    )


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (its threads included)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _rss_mb(pid: int) -> tuple[float, float]:
    """``pid``'s resident set now and at its peak, MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / MIB
    return values["VmRSS"], values["VmHWM"]
