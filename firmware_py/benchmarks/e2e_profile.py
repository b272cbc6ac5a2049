"""``roadgate bench e2e --profile PATH``: where the roadside unit spends its CPU under the load.

While the traffic plays and the pipeline drains, ``py-spy`` samples the unit's process from
outside (``record --pid``, ``--nonblocking``: the unit is never paused) and writes the stacks
it saw as collapsed stacks (``frame;frame;... count`` per line, idle threads left out), which
speedscope (https://www.speedscope.app) and ``flamegraph.pl`` open as they are. ``summarize``
turns them into each function's share of the samples: inclusive (the function or what it
called was running) and self (the function itself was).

The sampler shares the CPU with the unit (in the user-mode-linux guest, the one virtual CPU),
so a profiled run's figures are not to be quoted: its CPU is reported beside them.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from firmware_py.benchmarks.memory import _cpu_s
from firmware_py.errors import FirmwareError

RATE_HZ = 100
STOP_TIMEOUT_S = 30.0


@dataclass
class Sampler:
    """The running ``py-spy``: ``cpu_s``, its CPU seconds, is set when it stops."""

    pid: int
    cpu_s: float = 0.0


def py_spy() -> str:
    """The ``py-spy`` beside this Python (the venv's) or on ``PATH``; ``FirmwareError`` if
    there is none."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise FirmwareError("bench e2e --profile needs py-spy (pip install py-spy)")
    return found


@contextmanager
def sampling(pid: int, out: Path, rate_hz: int = RATE_HZ) -> Iterator[Sampler]:
    """Sample process ``pid`` into ``out`` (collapsed stacks) until the block ends. Raises
    ``FirmwareError`` when py-spy could not attach or wrote nothing."""
    argv = [py_spy(), "record", "--pid", str(pid), "--rate", str(rate_hz), "--nonblocking"]
    argv += ["--nolineno", "--format", "raw", "--output", str(out)]
    log = out.with_suffix(".log")
    with log.open("wb") as err:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    sampler = Sampler(process.pid)
    try:
        yield sampler
    finally:
        if process.poll() is None:
            sampler.cpu_s = _cpu_s(process.pid)
            process.send_signal(signal.SIGINT)  # py-spy writes what it has, then exits
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if not out.exists():
        tail = log.read_text(errors="replace").strip()[-500:]
        raise FirmwareError(f"bench e2e --profile: py-spy wrote no profile ({tail})")


@contextmanager
def maybe_sampling(pid: int, out: Path | None) -> Iterator[Sampler | None]:
    """``sampling`` into ``out``; nothing (None) without it."""
    if out is None:
        yield None
        return
    with sampling(pid, out) as sampler:
        yield sampler


@dataclass(frozen=True)
class Share:
    """A function (``name (module path)``) and its share of the samples, 0..1."""

    function: str
    inclusive: float
    self: float


def summarize(collapsed: str, top: int = 15) -> tuple[int, list[Share]]:
    """The samples in ``collapsed`` (py-spy's raw format) and the ``top`` functions by
    inclusive share, the event loop's own frames left out (they hold every sample)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n  # a sample with no Python frame (a thread starting or ending) is one too
        if not stack.strip():
            continue
        frames = [_short(frame) for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    shares = [
        Share(name, count / total, own[name] / total)
        for name, count in inclusive.most_common()
        if not _is_plumbing(name)
    ]
    return total, shares[:top]


def format_summary(total: int, shares: list[Share]) -> str:
    """A few lines for the terminal."""
    lines = [f"  profile of the unit ({total:,} samples): inclusive, self, function"]
    lines += [f"    {s.inclusive:6.1%} {s.self:6.1%}  {s.function}" for s in shares]
    return "\n".join(lines)


_PLUMBING = (
    "<module>",
    "runpy",
    "asyncio/",
    "threading.py",
    "concurrent/futures/",
    "firmware_py/cli/",
    "edge/supervision.py",
)
"""Frames under every sample (the interpreter's start, the command line, the event loop, the
supervisor, the reader threads): their shares say nothing."""


def _is_plumbing(name: str) -> bool:
    return any(marker in name for marker in _PLUMBING)


def _short(frame: str) -> str:
    """``function (file)`` with the file from its package on (py-spy gives it shortened)."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "lib/python3."):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "lib/python3.":
                where = where.split("/", 1)[-1]
    return f"{name} ({where})"
