"""``CpuQuota``: a real cgroup on this machine (v2 or v1, as root) holds a busy process to its
share of one CPU and is gone afterwards."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from firmware_py.benchmarks.cpu_quota import CpuQuota, cpu_hierarchy
from firmware_py.errors import FirmwareError

_BUSY = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n"


def _cpu_s(pid: int) -> float:
    # utime + stime, fields 14 and 15 of stat(5), after the command in parentheses
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


def _share_of_a_cpu(pid: int, seconds: float) -> float:
    cpu, start = _cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_s(pid) - cpu) / (time.monotonic() - start)


@pytest.mark.timeout(60)
def test_a_busy_process_gets_its_share_and_the_cgroup_is_gone_after() -> None:
    try:
        cpu_hierarchy()
    except FirmwareError as err:
        pytest.fail(f"this test needs a writable cgroup with the cpu controller: {err}")
    busy = subprocess.Popen([sys.executable, "-c", _BUSY])
    try:
        with CpuQuota(f"rg-test-{uuid.uuid4().hex[:8]}", 0.2, weight=100) as quota:
            quota.add(busy.pid)
            assert quota.pids() == [busy.pid]
            time.sleep(0.3)  # the first period may have been spent before the move
            held = _share_of_a_cpu(busy.pid, 1.5)
            throttled = quota.stat()["nr_throttled"]
            path = quota.path
        free = _share_of_a_cpu(busy.pid, 1.0)
    finally:
        busy.kill()
        busy.wait()
    assert held < 0.3, held
    assert throttled > 0
    assert free > 0.5, f"out of the cgroup it should run free (the machine busy?): {free}"
    assert not path.exists()


def _written(quota: CpuQuota) -> tuple[int, int]:
    """(quota, period) in microseconds as the cgroup has them."""
    if quota.version == 2:
        limit, period = (quota.path / "cpu.max").read_text().split()
        return int(limit), int(period)
    return (
        int((quota.path / "cpu.cfs_quota_us").read_text()),
        int((quota.path / "cpu.cfs_period_us").read_text()),
    )


def test_the_period_and_the_slack_are_written_and_changed_in_place() -> None:
    try:
        cpu_hierarchy()
    except FirmwareError as err:
        pytest.fail(f"this test needs a writable cgroup with the cpu controller: {err}")
    name = f"rg-test-{uuid.uuid4().hex[:8]}"
    with CpuQuota(name, 0.2, period_us=100_700) as quota:
        assert _written(quota) == (20_140, 100_700)
        quota.slack_us = 5_000
        quota.apply()
        assert _written(quota) == (25_140, 100_700)
        quota.share, quota.period_us, quota.slack_us = 1.0, 50_000, 5_000
        quota.apply()  # never more than the period: one CPU
        assert _written(quota) == (50_000, 50_000)


def test_a_share_and_a_weight_out_of_range_are_refused() -> None:
    for share in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="share"):
            CpuQuota("x", share)
    with pytest.raises(ValueError, match="weight"):
        CpuQuota("x", 0.5, weight=0)
    for period, slack in ((500, 0), (2_000_000, 0), (100_000, 100_000), (100_000, -1)):
        with pytest.raises(ValueError, match="period"):
            CpuQuota("x", 0.5, period_us=period, slack_us=slack)


def test_a_root_without_the_cpu_controller_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    with pytest.raises(FirmwareError, match="cgroup v2 with the cpu controller at"):
        cpu_hierarchy(tmp_path)
    with pytest.raises(FirmwareError, match="run as root"), CpuQuota("x", 0.5, root=tmp_path):
        pass
