"""A cgroup that holds its processes to a share of one CPU, on cgroup v2 or v1.

Used by benchmarks that stand in for a smaller machine or one machine each: the roadside unit
on a Raspberry Pi 4 core's share (``e2e_board``), each bridge worker on a container's CPU limit
(``bridge``). A CPU limit in a container (Docker ``--cpus``, a Kubernetes CPU limit) is this
same CFS bandwidth quota.

cgroup v2: ``cpu.max`` (and ``cpu.weight``) in a child of ``root`` where ``root`` offers the
cpu controller. cgroup v1: ``cpu.cfs_quota_us`` (and ``cpu.shares``) in a child of the
hierarchy that has the cpu controller mounted (``/sys/fs/cgroup/cpu``). Needs root.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from firmware_py.errors import FirmwareError

PERIOD_US = 100_000  # the CFS default
V2_ROOT = Path("/sys/fs/cgroup")
V1_ROOT = Path("/sys/fs/cgroup/cpu")
_V1_SHARES_PER_WEIGHT = 1024 / 100  # v1's default 1024 shares is v2's default weight 100


def cpu_hierarchy(root: Path | None = None) -> tuple[Path, int]:
    """(directory, version) of the hierarchy with the cpu controller: ``root`` when given (v2
    there or nowhere), else v2 at ``/sys/fs/cgroup`` or v1 at ``/sys/fs/cgroup/cpu``. Raises
    ``FirmwareError`` saying what is missing."""
    v2 = root or V2_ROOT
    controllers = v2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return v2, 2
    if root is None and (V1_ROOT / "cpu.cfs_quota_us").exists():
        return V1_ROOT, 1
    raise FirmwareError(
        f"a CPU quota needs cgroup v2 with the cpu controller at {v2}"
        + ("" if root else f" or cgroup v1's cpu controller at {V1_ROOT}")
        + ", writable (run as root)"
    )


class CpuQuota:
    """The cgroup ``name``: its processes get at most ``share`` of one CPU per ``period_us``
    (plus ``slack_us`` a period) and, with ``weight`` (v2 scale, 1-10,000), that priority up
    to it. Removed on exit, its processes moved back to the hierarchy's root."""

    def __init__(
        self,
        name: str,
        share: float,
        weight: int | None = None,
        root: Path | None = None,
        *,
        period_us: int = PERIOD_US,
        slack_us: int = 0,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"a CPU share is in (0, 1], not {share}")
        if weight is not None and not 1 <= weight <= 10_000:
            raise ValueError(f"a cgroup weight is in [1, 10000], not {weight}")
        if not 1_000 <= period_us <= 1_000_000 or not 0 <= slack_us < period_us:
            raise ValueError(f"a CFS period is 1 ms-1 s, its slack less: {period_us}, {slack_us}")
        self.share = share
        self.period_us = period_us
        self.slack_us = slack_us
        self._name = name
        self._weight = weight
        self._given_root = root
        self.version = 0
        self.path = Path()
        self._root = Path()

    def __enter__(self) -> CpuQuota:
        self._root, self.version = cpu_hierarchy(self._given_root)
        self.path = self._root / self._name
        try:
            if self.version == 2:
                (self._root / "cgroup.subtree_control").write_text("+cpu")
            self.path.mkdir(exist_ok=True)
            if self._weight is not None:
                if self.version == 2:
                    (self.path / "cpu.weight").write_text(str(self._weight))
                else:
                    shares = max(2, round(self._weight * _V1_SHARES_PER_WEIGHT))
                    (self.path / "cpu.shares").write_text(str(shares))
            self.apply()
        except OSError as err:
            raise FirmwareError(f"cannot set up the cgroup {self.path}: {err}") from err
        return self

    def apply(self) -> None:
        """Write ``share``, ``period_us`` and ``slack_us`` (changed since entry) to the cgroup."""
        quota = min(self.period_us, max(1_000, round(self.share * self.period_us) + self.slack_us))
        if self.version == 2:
            (self.path / "cpu.max").write_text(f"{quota} {self.period_us}")
        else:
            # v1 checks the quota against the period it has: widen first, then narrow.
            (self.path / "cpu.cfs_quota_us").write_text("-1")
            (self.path / "cpu.cfs_period_us").write_text(str(self.period_us))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def __exit__(self, *_exc: object) -> None:
        # Unlimited first: a task moved out while its group is throttled may not run for up
        # to a second after (seen on Linux 6.18, cgroup v1).
        if self.version == 2:
            (self.path / "cpu.max").write_text(f"max {self.period_us}")
        else:
            (self.path / "cpu.cfs_quota_us").write_text("-1")
        for pid in (self.path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                (self._root / "cgroup.procs").write_text(pid)
        self.path.rmdir()

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads, and the children it starts) in."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        """The processes in it."""
        return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]

    def stat(self) -> dict[str, int]:
        """``cpu.stat``: v2 usage_usec, nr_periods, nr_throttled, throttled_usec, ...; v1
        nr_periods, nr_throttled, throttled_time (ns)."""
        lines = (self.path / "cpu.stat").read_text().splitlines()
        return {key: int(value) for key, value in (line.split()[:2] for line in lines)}
